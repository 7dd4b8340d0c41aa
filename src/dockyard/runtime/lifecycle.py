"""start, kill, delete, ps and the foreground `run` of an existing container (the parent side after create).

Owns tearing a container down: SIGKILL everything in its cgroup, wait for it through pidfds (no polling), remove
the cgroup, run poststop hooks, remove the state directory — idempotent, so it also cleans a half-created
container whose runtime was killed. Never forks the container's init itself (spawn.py does).
"""

from __future__ import annotations

import os
import select

from dockyard.errors import Conflict, DockyardError, InternalError, NotFound
from dockyard.runtime import container as ct
from dockyard.runtime import jsonio, spawn
from dockyard.runtime import state as st

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from types import FrameType
    from typing import Any

    from dockyard.runtime.cgroups import CgroupManager
else:
    import _signal as signal  # why: signal.py wraps these in IntEnums; enum costs ~3 ms of each runtime start

WAIT_GONE_SECONDS = 10.0

# The signals a foreground `run` passes on to the container's init (runc's signal handler forwards all).
FORWARDED_SIGNALS = (
    signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH,
)  # fmt: skip


def kill(container: ct.Container, sig: int, *, all_processes: bool = False) -> None:
    status = container.status()
    ct.can_kill(status, all_processes=all_processes)
    if all_processes:
        container.cgroup().kill_all(sig)
        return
    if status == st.STOPPED:
        raise Conflict("container not running")
    try:
        os.kill(container.state.pid, sig)
    except ProcessLookupError as err:
        raise Conflict("container not running") from err


def delete(container: ct.Container, *, force: bool) -> None:
    status = container.status()
    ct.can_delete(container.id, status, force=force)
    teardown(container)


def teardown(container: ct.Container) -> None:
    """Kill and reap-wait every process of the container, destroy its cgroup, poststop hooks, remove its state."""
    state = container.state
    if state.phase == st.CREATING and st.process_alive(state.creator_pid, state.creator_start):
        _kill(state.creator_pid)  # a create still running (or stopped by the test hook) must not go on
    alive = container.alive()
    if alive:
        _kill(state.pid)
    try:
        destroy_cgroup(container.cgroup())
    except NotFound:
        pass
    if alive and not wait_gone([state.pid]):
        raise InternalError(f"delete container `{state.id}`: init process {state.pid} did not exit")
    try:
        hooks = load_saved_hooks(container, "poststop")
        if hooks:
            from dockyard.runtime.hooks import run_hooks

            run_hooks(hooks, container.oci_state(st.STOPPED), "poststop", warn_only=True)
    finally:
        st.remove(container.root, state.id)


def start(container: ct.Container) -> None:
    """Release the init waiting on exec.fifo (runc's start): read its byte, remove the fifo, poststart hooks."""
    ct.can_start(container.status())
    pid = container.state.pid
    try:
        fifo = os.open(container.fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as err:
        raise Conflict("cannot start an already running container") from err
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        os.close(fifo)
        raise Conflict("cannot start a container that has stopped") from None
    try:
        # why: the pidfd catches an init that dies before opening the fifo, which would leave us waiting forever
        ready, _, _ = select.select([fifo, pidfd], [], [])
        data = os.read(fifo, 1) if fifo in ready else b""
    finally:
        os.close(fifo)
        os.close(pidfd)
    if not data:
        raise Conflict("cannot start a container that has stopped")
    os.unlink(container.fifo_path)
    _run_poststart(container)


def _run_poststart(container: ct.Container) -> None:
    hooks = load_saved_hooks(container, "poststart")
    if hooks:
        from dockyard.runtime.hooks import run_hooks

        run_hooks(hooks, container.oci_state(st.RUNNING), "poststart", warn_only=True)


def load_saved_hooks(container: ct.Container, phase: str) -> tuple[Any, ...]:
    """The hooks of `phase` from the config saved at create time; parses the full spec only when there are any."""
    try:
        with open(container.config_path(), "rb") as f:
            raw = f.read()
        if b'"hooks"' not in raw and b"\\u" not in raw:
            return ()  # why: no key can read "hooks" (not even escaped): skip decoding ≈ 15 KB on every start
        data = jsonio.loads(raw)
    except (OSError, ValueError):
        return ()
    hooks = data.get("hooks") if isinstance(data, dict) else None
    if not isinstance(hooks, dict) or not hooks.get(phase):
        return ()
    from dockyard.oci.jsonmodel import decode
    from dockyard.oci.runtime_spec import Hook

    return tuple(decode(Hook, h, f"hooks.{phase}[{i}]") for i, h in enumerate(hooks[phase]))


def wait_gone(pids: list[int], timeout: float = WAIT_GONE_SECONDS) -> bool:
    """Wait until every pid has exited (a pidfd turns readable on exit, even for a zombie or a non-child)."""
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
        finally:
            os.close(fd)
        if not ready:
            return False
    return True


def destroy_cgroup(manager: CgroupManager) -> None:
    """SIGKILL everything in the cgroup (thawing it so the signal lands), wait for it, remove the cgroup."""
    if not manager.exists():
        return
    pids = manager.pids()
    if pids:
        manager.kill_all(signal.SIGKILL)
        manager.thaw()
        wait_gone(list(pids))
    manager.destroy()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def ps(container: ct.Container, fmt: str, ps_args: list[str]) -> None:
    """Print the container's pids (json) or the matching lines of `ps` (runc runs `ps -ef` by default)."""
    pids = sorted(container.cgroup().pids())
    if fmt == "json":
        import json

        print(json.dumps(pids))
        return
    import subprocess  # lazy: ~3 ms of imports that only `ps` needs

    try:
        out = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise InternalError(f"ps: {err}") from err
    lines = out.splitlines()
    if not lines:
        return
    header = lines[0].split()
    if "PID" not in header:
        raise InternalError("ps: no PID column in the output of ps")
    column = header.index("PID")
    print(lines[0])
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split(None, column + 1)
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            print(line)


def run(opts: spawn.CreateOptions, *, keep: bool = False) -> int:
    """create + start; in the foreground also wait, forward signals, delete, and return the exit status."""
    if opts.detach:
        state = spawn.create(opts)
        _start_or_teardown(ct.Container(opts.root, state))
        return 0
    state = spawn.create(opts)  # makes this process a child subreaper: the init may be its grandchild
    container = ct.Container(opts.root, state)
    previous = {sig: signal.signal(sig, _forwarder(state.pid)) for sig in FORWARDED_SIGNALS}
    try:
        _start_or_teardown(container)
        code = wait_exit(state.pid)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not keep:
        teardown(container)
    return code


def _start_or_teardown(container: ct.Container) -> None:
    try:
        start(container)
    except BaseException:
        try:
            teardown(container)
        except DockyardError:
            pass
        raise


def _forwarder(pid: int) -> Callable[[int, FrameType | None], None]:
    def forward(sig: int, _frame: FrameType | None) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    return forward


def wait_exit(pid: int) -> int:
    """Reap children until `pid` exits; its status as a shell reports it (128+signal when killed)."""
    while True:
        try:
            child, status = os.waitpid(-1, 0)
        except ChildProcessError as err:
            raise InternalError(f"wait for container process {pid}: not a child of the runtime") from err
        if child == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
