"""The per-container monitor (compare containerd-shim, conmon): a detached process that runs the runtime's
create/start, holds the container's stdio (pipes, or the pty master for a terminal), serves the attach socket,
writes the json-file log, reaps the init, records the exit, applies the restart policy, runs health checks, and
cleans up.

The parent side (`launch`) forks it (double fork + setsid) when the caller is single-threaded — no interpreter
start-up — and otherwise executes `python -m dockyard.engine.monitor`. It reports {"pid": …} (the container runs,
or waits for attachers requested before the start) or {"error": …} over a pipe. While it runs it holds an
exclusive flock on <container>/monitor.lock; waiters take a shared lock and read the exit status it wrote there.
Single-threaded by design (a poll loop), so it may fork the runtime without exec (engine/runtime_fork.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

from dockyard.errors import InternalError
from dockyard.paths import Paths

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object

PR_SET_CHILD_SUBREAPER = 36
EXIT_UNKNOWN = 128  # moby's exit code for a container whose start failed for another reason
ATTACH_WAIT_SECONDS = 10.0  # how long pre-start attachers may take to arrive before the container starts anyway


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorConfig:
    container_id: str
    data_root: str
    exec_root: str
    runtime: str
    auto_remove: bool = False
    expect_attach: int = 0  # attach requests made before the start: wait for them before starting


@dataclass(frozen=True, slots=True, kw_only=True)
class StartError:
    message: str
    exit_code: int


def start_exit_code(message: str) -> int:
    """Docker's translation of a runtime start error into the container's exit code (127, 126 or 128)."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return EXIT_UNKNOWN


# ---- parent side ---------------------------------------------------------------------------------------------


class Forker(Protocol):
    """Forks detached monitors for a threaded caller (engine/zygote.py); None: it could not be asked."""

    def fork_monitor(self, config: MonitorConfig, ready_fd: int) -> int | None: ...


_forker: Forker | None = None


def register_forker(forker: Forker | None) -> None:
    """Make `launch` ask `forker` first (dockyardd's zygote); None unregisters."""
    global _forker
    _forker = forker


def launch(config: MonitorConfig) -> int:
    """Start the monitor and wait until the container runs; returns its init pid or raises the runtime's error.

    Through the registered forker (the daemon's zygote) when there is one, by a fork of the caller when it is
    single-threaded (the CLI), else by executing a fresh interpreter. A forker that fails falls back to the rest."""
    from dockyard.engine.runtime_client import RuntimeFailure

    report, forked = b"", False
    forker = _forker
    if forker is not None and os.environ.get("DOCKYARD_MONITOR_EXEC") != "1":
        pids: list[int | None] = []
        report = _spawn(lambda w: pids.append(forker.fork_monitor(config, w)))
        forked = pids[0] is not None  # then its report is final; else only a report that arrived anyway counts
    if not report and not forked:
        import threading  # lazy: the launcher's side only

        if threading.active_count() == 1 and os.environ.get("DOCKYARD_MONITOR_EXEC") != "1":
            report = _spawn(lambda w: _fork_monitor(config, w))
        else:
            report = _spawn(lambda w: _exec_monitor(config, w))
    try:
        data = json.loads(report)
    except ValueError as err:
        raise InternalError(f"monitor of container `{config.container_id}`: exited without reporting") from err
    if "error" in data:
        raise RuntimeFailure("create", str(data["error"]))
    return int(data["pid"])


def _spawn(start: Callable[[int], object]) -> bytes:
    """Run `start(write_fd)`, then read the monitor's report; empty when nobody ever held the write end."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        start(write_fd)
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        return f.read()


def _fork_monitor(config: MonitorConfig, write_fd: int) -> None:
    # why: only safe because the caller is single-threaded (fork(2) copies just the calling thread); buffered
    # output is flushed first so the child cannot write it a second time.
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        run_detached(config, write_fd)
    finally:
        os._exit(1)


def run_detached(config: MonitorConfig, write_fd: int) -> None:
    """In a freshly forked, session-leading child: drop every other fd, run the monitor, never return."""
    code = 1
    try:
        _detach_stdio(write_fd)
        code = run(config, write_fd, forked=True)
    except BaseException:
        _debug_log(config)
    finally:
        os._exit(code)


def _exec_monitor(config: MonitorConfig, write_fd: int) -> None:
    import subprocess

    # why: -S skips site (its .pth files and the editable-install finder): the monitor lives as long as its
    # container, so a small interpreter matters; our sys.path (site-packages included) is handed over instead.
    code = f"import sys; sys.path[:] = {sys.path!r}; from dockyard.engine.monitor import main; sys.exit(main())"
    subprocess.Popen(
        [sys.executable, "-S", "-c", code, json.dumps(asdict(config)), str(write_fd)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_fd,),
        start_new_session=True,
    )


def _detach_stdio(keep: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)


def _debug_log(config: MonitorConfig) -> None:
    path = Paths(data_root=config.data_root, exec_root=config.exec_root).container_dir(config.container_id)
    with contextlib.suppress(OSError), open(os.path.join(path, "monitor.log"), "a", encoding="utf-8") as f:
        import traceback  # lazy: only when the monitor crashed

        f.write(traceback.format_exc())


# ---- the monitor itself --------------------------------------------------------------------------------------


def run(config: MonitorConfig, ready_fd: int, *, forked: bool = False) -> int:
    """The monitor's life (engine/monitor_core.py): create + start, report, serve, reap, restart, clean up."""
    from dockyard.engine.monitor_core import Monitor

    monitor = Monitor(config)
    monitor.forked = forked
    return monitor.main(ready_fd)


def main(argv: list[str] | None = None) -> int:
    """`python -m dockyard.engine.monitor CONFIG_JSON READY_FD` (the exec path of `launch`)."""
    args = sys.argv[1:] if argv is None else argv
    config = MonitorConfig(**json.loads(args[0]))
    try:
        return run(config, int(args[1]))
    except BaseException:
        _debug_log(config)
        return 1


if __name__ == "__main__":
    sys.exit(main())
