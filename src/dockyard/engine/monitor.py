"""The per-container monitor: a detached process that runs the runtime's create/start, holds the container's stdio,
writes the json-file log, reaps the container's init, records the exit and cleans up.

Compare containerd-shim and conmon. The parent side (`launch`) forks it (double fork + setsid) when the caller is
single-threaded — no interpreter start-up — and otherwise executes `python -m dockyard.engine.monitor`. It reports
"started" (the init pid) or the runtime's error over a pipe. While it runs it holds an exclusive flock on
<container>/monitor.lock; waiters take a shared lock and read the exit status the monitor wrote into that file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import traceback
from dataclasses import asdict, dataclass, replace

from dockyard.engine.logs import LogWriter
from dockyard.engine.records import RecordStore, State, now
from dockyard.engine.rootfs import unmount
from dockyard.engine.runtime_client import CliRuntime, RuntimeFailure
from dockyard.errors import InternalError
from dockyard.paths import Paths

PR_SET_CHILD_SUBREAPER = 36
EXIT_UNKNOWN = 128  # moby's exit code for a container whose start failed for another reason


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorConfig:
    container_id: str
    data_root: str
    exec_root: str
    runtime: str
    auto_remove: bool = False


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


def launch(config: MonitorConfig) -> int:
    """Start the monitor and wait until the container runs; returns its init pid or raises the runtime's error."""
    read_fd, write_fd = os.pipe()
    try:
        if threading.active_count() == 1 and os.environ.get("DOCKYARD_MONITOR_EXEC") != "1":
            _fork_monitor(config, read_fd, write_fd)
        else:
            _exec_monitor(config, write_fd)
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        report = f.read()
    try:
        data = json.loads(report)
    except ValueError as err:
        raise InternalError(f"monitor of container `{config.container_id}`: exited without reporting") from err
    if "error" in data:
        raise RuntimeFailure("create", str(data["error"]))
    return int(data["pid"])


def _fork_monitor(config: MonitorConfig, read_fd: int, write_fd: int) -> None:
    # why: only safe because the caller is single-threaded (fork(2) copies just the calling thread); buffered
    # output is flushed first so the child cannot write it a second time.
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    code = 1
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        os.close(read_fd)
        _detach_stdio(write_fd)
        code = run(config, write_fd)
    except BaseException:
        _debug_log(config)
    finally:
        os._exit(code)


def _exec_monitor(config: MonitorConfig, write_fd: int) -> None:
    subprocess.Popen(
        [sys.executable, "-m", "dockyard.engine.monitor", json.dumps(asdict(config)), str(write_fd)],
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
    path = os.path.join(
        Paths(data_root=config.data_root, exec_root=config.exec_root).container_dir(config.container_id)
    )
    with contextlib.suppress(OSError), open(os.path.join(path, "monitor.log"), "a", encoding="utf-8") as f:
        f.write(traceback.format_exc())


# ---- the monitor itself --------------------------------------------------------------------------------------


def run(config: MonitorConfig, ready_fd: int) -> int:
    """The monitor's life: create + start, report, pump the logs, reap, record the exit, clean up."""
    libc = ctypes.CDLL(None, use_errno=True)
    # why: the runtime's create exits and leaves the container's init behind; as a subreaper we inherit it and can
    # wait(2) for it (prctl(2) PR_SET_CHILD_SUBREAPER, as containerd-shim and conmon do).
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    paths = Paths(data_root=config.data_root, exec_root=config.exec_root)
    cid = config.container_id
    records = RecordStore(paths)
    lock_fd = os.open(paths.monitor_lock(cid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    os.ftruncate(lock_fd, 0)
    runtime = CliRuntime(config.runtime, paths.runtime_root)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    bundle = paths.bundle(cid)
    try:
        try:
            runtime.create(
                cid,
                bundle,
                pid_file=os.path.join(bundle, "init.pid"),
                log_file=os.path.join(bundle, "runtime.log"),
                stdio=(null, out_w, err_w),
            )
        finally:
            for fd in (out_w, err_w, null):
                os.close(fd)
        runtime.start(cid)
        with open(os.path.join(bundle, "init.pid"), encoding="ascii") as f:
            pid = int(f.read().strip())
    except (RuntimeFailure, OSError, ValueError) as err:
        message = err.detail if isinstance(err, RuntimeFailure) else str(err)
        _fail(config, records, runtime, StartError(message=message, exit_code=start_exit_code(message)), ready_fd)
        return 1
    started = now()
    records.update_state(cid, lambda s: State(status="running", pid=pid, started_at=started))
    os.write(ready_fd, json.dumps({"pid": pid}).encode())
    os.close(ready_fd)
    status = _pump(pid, out_r, err_r, paths.log(cid))
    exit_code = os.waitstatus_to_exitcode(status)
    exit_code = 128 - exit_code if exit_code < 0 else exit_code
    finished = now()
    records.update_state(cid, lambda s: replace(s, status="exited", pid=0, exit_code=exit_code, finished_at=finished))
    os.write(lock_fd, json.dumps({"StatusCode": exit_code, "FinishedAt": finished}).encode())
    _cleanup(config, runtime)
    return 0


def _fail(config: MonitorConfig, records: RecordStore, runtime: CliRuntime, err: StartError, ready_fd: int) -> None:
    finished = now()
    records.update_state(
        config.container_id,
        lambda s: replace(s, status="created", error=err.message, exit_code=err.exit_code, finished_at=finished),
    )
    with contextlib.suppress(RuntimeFailure):
        runtime.delete(config.container_id, force=True)
    _cleanup(config, runtime, deleted=True)
    os.write(ready_fd, json.dumps({"error": err.message, "exit_code": err.exit_code}).encode())
    os.close(ready_fd)


def _cleanup(config: MonitorConfig, runtime: CliRuntime, deleted: bool = False) -> None:
    paths = Paths(data_root=config.data_root, exec_root=config.exec_root)
    if not deleted:
        with contextlib.suppress(RuntimeFailure):
            runtime.delete(config.container_id)
    unmount(paths.rootfs(config.container_id))
    shutil.rmtree(paths.bundle(config.container_id), ignore_errors=True)
    if config.auto_remove:
        shutil.rmtree(paths.container_dir(config.container_id), ignore_errors=True)


def _pump(pid: int, out_r: int, err_r: int, log_path: str) -> int:
    """Copy the container's output into the log until it exits and its pipes close; returns the wait status."""
    writer = LogWriter(log_path)
    streams = {out_r: "stdout", err_r: "stderr"}
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except OSError:
        pidfd = None
    poller = select.poll()
    for fd in (*streams, *([pidfd] if pidfd is not None else [])):
        poller.register(fd, select.POLLIN)
    status: int | None = None
    while streams:
        # After the init exited, anything still holding the pipes (a process outside the pid namespace) gets 1 s.
        events = poller.poll(None if status is None else 1000)
        if not events:
            break
        for fd, _ in events:
            if fd == pidfd:
                status = _reap(pid)
                poller.unregister(pidfd)
                os.close(pidfd)
                pidfd = None
                continue
            data = _read(fd)
            if data:
                writer.feed(streams[fd], data)
                continue
            writer.flush(streams.pop(fd))
            poller.unregister(fd)
            os.close(fd)
    writer.close()
    for fd in streams:
        os.close(fd)
    if pidfd is not None:
        os.close(pidfd)
    return status if status is not None else _reap(pid)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError as err:
        if err.errno == errno.EINTR:
            return _read(fd)
        return b""


def _reap(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255 << 8  # not our child after all (no subreaper support): unknown status


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
