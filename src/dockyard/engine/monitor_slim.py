"""The monitor's change of skin: a monitor forked from the CLI (fast to start, but carrying the CLI's ~35 MB of
modules) re-executes itself as a small `python -S` once its container runs quietly, handing over its state.

execve(2) keeps the pid — so the container's init stays our child and the flock on monitor.lock stays held —
and every fd without FD_CLOEXEC; the state (fd numbers, the pid, backoff, partial log lines) travels as JSON in
argv. Only done when no attacher is connected and no health probe runs, so no stream has to be handed over;
idle `wait` clients (the docker CLI's `run -d` leaves one open) are handed over as fds.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Any

    from dockyard.engine.monitor_core import Monitor

SLIM_AFTER = 2.0  # seconds of running before a forked monitor sheds the CLI's memory
RESUME = "--resume"


def ready(m: Monitor, running_for: float) -> bool:
    return (
        m.forked
        and running_for >= SLIM_AFTER
        and m.hub.idle_waiters() is not None  # `docker run -d` leaves a wait open: handed over
        and (m.prober is None or not m.prober.busy())
        and not m.io.stdin_buf
        and not m.io.child_fds
        and os.environ.get("DOCKYARD_MONITOR_SLIM") != "0"
    )


def capture(m: Monitor, lock_fd: int) -> dict[str, Any]:
    from dataclasses import asdict

    io, writer = m.io, m.writer
    return {
        "config": asdict(m.config),
        "lock_fd": lock_fd,
        "listener": m.hub.listener.fileno(),
        "waiters": m.hub.idle_waiters() or [],
        "pending_arrived": m.hub.pending_arrived,
        "readers": {str(fd): stream for fd, stream in io.readers.items()},
        "stdin_fd": io.stdin_fd,
        "master": io.master,
        "stdin_done": io.stdin_done,
        "size": list(io.size) if io.size else None,
        "pid": m.pid,
        "started": m.started,
        "backoff": [m.backoff.delay, m.backoff.count],
        "stop_requested": m.stop_requested,
        "pending": {stream: data.hex() for stream, data in writer.pending.items()},
    }


def reexec(m: Monitor, lock_fd: int) -> None:
    """Replace this process by a small interpreter running the same monitor (never returns on success)."""
    state = capture(m, lock_fd)
    fds = [lock_fd, state["listener"], *state["waiters"], *map(int, state["readers"]), state["stdin_fd"],
           state["master"]]  # fmt: skip
    for fd in fds:
        if fd >= 0:
            os.set_inheritable(fd, True)
    if m.writer.fd >= 0:
        os.close(m.writer.fd)  # reopened (O_APPEND) on the other side
        m.writer.fd = -1
    # why: -S skips site's .pth processing; our sys.path (site-packages included) is handed over instead
    code = f"import sys; sys.path[:] = {sys.path!r}; from dockyard.engine.monitor_slim import resume; resume()"
    os.execv(sys.executable, [sys.executable, "-S", "-c", code, RESUME, json.dumps(state)])


def resume() -> None:
    """The entry point after the re-exec: rebuild the monitor around the inherited fds and carry on."""
    defer_inspect()
    from dockyard.engine.monitor import MonitorConfig, _debug_log
    from dockyard.engine.monitor_core import Monitor
    from dockyard.engine.restart import BackoffState

    state = json.loads(sys.argv[sys.argv.index(RESUME) + 1])
    config = MonitorConfig(**state["config"])
    code = 1
    try:
        m = Monitor(config)
        m.pid, m.started, m.stop_requested = state["pid"], state["started"], state["stop_requested"]
        m.backoff = BackoffState(delay=state["backoff"][0], count=state["backoff"][1])
        _settle()
        code = m.main(-1, resumed=state)
    except BaseException:
        _debug_log(config)
    finally:
        os._exit(code)


def defer_inspect() -> None:
    """Import `dataclasses` with a stand-in for `inspect` that imports the real one only when really used.

    why: `dataclasses` imports inspect (with ast, dis, tokenize, linecache: ≈ 0.8 MB resident in every monitor)
    for one call, `inspect.signature(cls)`, which only decorates the docstring of a dataclass that has none.
    """
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        return
    sys.modules["inspect"] = _DeferredInspect("inspect")
    try:
        import dataclasses  # noqa: F401
    finally:
        del sys.modules["inspect"]  # a later `import inspect` gets the real module


class _DeferredInspect(type(sys)):  # type: ignore[misc]  # a module
    def signature(self, obj: object) -> Any:
        raise ValueError("no signature in the slim monitor")  # dataclasses then uses the bare class name as doc

    def __getattr__(self, name: str) -> Any:
        return getattr(__import__("inspect"), name)


def _settle() -> None:
    """Start-up garbage collected, and the survivors (code, module dicts) moved out of the collector's reach:
    later collections then never touch — and so never copy-on-write dirty — those pages."""
    import gc

    gc.collect()
    gc.freeze()
