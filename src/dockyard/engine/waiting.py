"""Docker's wait conditions on a container (not-running, next-exit, removed), cancellable by the caller.

Blocks on the monitor: its exit line (engine/attach.py's "wait" op) and its lock file, held until it finished.
Called through `Containers.wait`; never changes a container except to finish an auto-remove its monitor missed.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

from dockyard import tracing
from dockyard.engine.lifecycle import CONDITIONS, LIVE, _exit_waiter, _wait_line, await_not_running
from dockyard.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.engine.cancel import Cancel
    from dockyard.engine.containers import Containers, ExitStatus
    from dockyard.engine.records import ContainerRecord


def _pause(cancel: Cancel | None, seconds: float) -> None:
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        cancel.check()


def wait(c: Containers, ref: str, condition: str = "not-running", cancel: Cancel | None = None) -> ExitStatus:
    """Docker's wait conditions: not-running (now if not running), next-exit, removed. With `cancel`, the wait
    ends with `Cancelled` as soon as it is set (the daemon's client hung up: its worker thread is freed)."""
    from dockyard.engine.containers import ExitStatus

    if condition not in CONDITIONS:
        raise InvalidArgument(f"invalid condition: {condition}")
    record = c.get(ref)
    if condition == "removed":
        return _wait_removed(c, record, cancel)
    if condition == "not-running" and record.state.status not in LIVE:
        return ExitStatus(status_code=record.state.exit_code, error=record.state.error)
    while True:
        waiter = _exit_waiter(c, record.id)
        if waiter is not None:
            with waiter:
                line = _wait_line(waiter, None, cancel)
            if line and "StatusCode" in line:
                await_not_running(c, record.id)
                return ExitStatus(status_code=int(str(line["StatusCode"])), error=str(line.get("Error") or ""))
        try:
            record = c.get(record.id)
        except NotFound:
            return c._final_status(record.id, b"")
        if record.state.status not in LIVE and (condition == "not-running" or waiter is not None):
            return ExitStatus(status_code=record.state.exit_code, error=record.state.error)
        _pause(cancel, 0.02)  # next-exit of a container that is not running yet: wait for its start


def _monitor_done(c: Containers, record: ContainerRecord, cancel: Cancel | None) -> bytes:
    """Block until the container's monitor finished (it holds its lock file until then); the lock's content."""
    import fcntl

    try:
        fd = os.open(c.paths.monitor_lock(record.id), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return b""
    try:
        if cancel is None:
            fcntl.flock(fd, fcntl.LOCK_SH)  # blocks while the monitor runs
            return os.pread(fd, 4096, 0)
        # why: a blocking flock cannot be interrupted, so a cancellable wait selects on the monitor's exit line
        # (or its socket closing) and polls the lock in between
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return os.pread(fd, 4096, 0)
            except BlockingIOError:
                pass
            waiter = _exit_waiter(c, record.id)
            if waiter is None:
                _pause(cancel, 0.005)
                continue
            with waiter:
                _wait_line(waiter, None, cancel)
            if record.host_config.auto_remove:  # no restart policy: only the monitor's cleanup is left
                fcntl.flock(fd, fcntl.LOCK_SH)
                return os.pread(fd, 4096, 0)
            _pause(cancel, 0.002)
    finally:
        os.close(fd)


def _wait_removed(c: Containers, record: ContainerRecord, cancel: Cancel | None) -> ExitStatus:
    """Until the record is gone: an auto-removed container when its monitor finished, others when `rm` ran."""
    cid = record.id
    while True:
        data = _monitor_done(c, record, cancel)
        if not os.path.exists(c.paths.record(cid)):
            tracing.mark("engine: removed")
            return c._final_status(cid, data)
        with contextlib.suppress(NotFound):
            current = c.get(cid)  # repairs a container whose monitor died
            # why: "created" is not live either, but `docker run --rm` waits for removal before it starts
            finished = current.state.status in ("exited", "dead")
            if current.host_config.auto_remove and finished and not c._monitor_alive(cid):
                c.remove(cid, force=True)  # its monitor could not remove it: finish the job
        _pause(cancel, 0.02)
