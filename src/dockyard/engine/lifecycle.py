"""The lifecycle verbs on a container that exists: stop, kill, restart, pause, unpause, attach, resize.

Waits live in engine/waiting.py. Called through `Containers` (engine/containers.py); talks to the container's
monitor over its socket (engine/attach.py) and to the runtime for signals and the freezer. Docker's messages and
semantics: a stop sends the stop signal, then SIGKILL after the timeout, and disables the restart policy until the
next start.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import time
from typing import TYPE_CHECKING

from dockyard.engine import attach
from dockyard.engine.runtime_client import CliRuntime, RuntimeFailure
from dockyard.engine.runtime_fork import runtime_for
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.oci.model import Model, replace

if TYPE_CHECKING:
    from dockyard.engine.cancel import Cancel
    from dockyard.engine.containers import Containers, CreateRequest
    from dockyard.engine.records import ContainerRecord

DEFAULT_STOP_TIMEOUT = 10
KILL_WAIT = 10.0  # after SIGKILL, how long to wait for the monitor to see the exit
LIVE = ("running", "restarting")
CONDITIONS = ("not-running", "next-exit", "removed")


class Stopped(Model):
    """The result of stop/kill: whether anything was running (Docker answers 304 when not)."""

    was_running: bool


def signal_number(sig: str) -> int:
    """`SIGTERM`, `term`, `15` → 15; Docker's message otherwise."""
    name = sig.strip().upper()
    if name.isdigit():
        number = int(name)
        if not 0 < number < signal.NSIG:
            raise InvalidArgument(f"Invalid signal: {sig}")
        return number
    try:
        return int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    except KeyError as err:
        raise InvalidArgument(f"Invalid signal: {sig}") from err


def _runtime(c: Containers) -> CliRuntime:
    return runtime_for(c.runtime_binary, c.paths.runtime_root)


def _socket_dir(c: Containers, cid: str) -> str:
    return c.paths.bundle(cid)


def _control(c: Containers, cid: str, header: dict[str, object]) -> None:
    with contextlib.suppress(Conflict), attach.connect(_socket_dir(c, cid), header) as sock:
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)


def _monitor_signal(c: Containers, cid: str, number: int) -> bool:
    """Ask the monitor to send the stop signal to the init (no runtime process); False when it did not."""
    try:
        with attach.connect(_socket_dir(c, cid), {"op": "stop", "signal": number}) as sock:
            sock.shutdown(socket.SHUT_WR)
            return sock.recv(1) == b"k"
    except (Conflict, OSError):
        return False


def _send_signal(c: Containers, record: ContainerRecord, number: int) -> None:
    try:
        _runtime(c).kill(record.id, str(number))
    except RuntimeFailure:
        fresh = c.get(record.id)
        if fresh.state.status == "running":
            raise


def kill(c: Containers, ref: str, sig: str = "SIGKILL") -> None:
    """Send a signal to the container's init; any kill counts as a manual stop for the restart policy (moby)."""
    number = signal_number(sig)
    record = c.get(ref)
    if record.state.status != "running":
        raise Conflict(f"Cannot kill container: {ref}: Container {record.id} is not running")
    stop_signal = signal_number(record.config.stop_signal) if record.config.stop_signal else 0
    if number in (signal.SIGKILL, stop_signal) or not stop_signal:
        _mark_stopped(c, record.id)
    _emit(c, record, "kill", signal=str(number))  # before the signal, so always before the die it causes
    _send_signal(c, record, number)
    if record.state.paused and number == signal.SIGKILL:
        with contextlib.suppress(RuntimeFailure):
            _runtime(c).resume(record.id)  # a frozen task does not die before it is thawed (freezer v1)


def _mark_stopped(c: Containers, cid: str) -> None:
    c.records.update(cid, lambda r: replace(r, manually_stopped=True))
    _control(c, cid, {"op": "stop"})


def stop(c: Containers, ref: str, *, timeout: int | None = None, sig: str | None = None) -> Stopped:
    """The stop signal, then SIGKILL after `timeout` seconds (-1: wait forever); waits until it exited."""
    record = c.get(ref)
    if sig:
        signal_number(sig)
    if record.state.status not in LIVE:
        return Stopped(was_running=False)
    if record.state.status == "restarting":
        _mark_stopped(c, record.id)
        await_not_running(c, record.id, KILL_WAIT)
        return Stopped(was_running=True)
    number = signal_number(sig or record.config.stop_signal or "SIGTERM")
    if timeout is None:
        timeout = record.config.stop_timeout if record.config.stop_timeout is not None else DEFAULT_STOP_TIMEOUT
    c.records.update(record.id, lambda r: replace(r, manually_stopped=True))
    waiter = _exit_waiter(c, record.id)
    try:
        _emit(c, record, "kill", signal=str(number))  # moby's stop: kill (stop signal), [kill (9)], die, stop
        if not _monitor_signal(c, record.id, number):  # the monitor's `stop` op also marks the manual stop
            _control(c, record.id, {"op": "stop"})
            with contextlib.suppress(RuntimeFailure):
                _send_signal(c, record, number)
        if record.state.paused:
            with contextlib.suppress(RuntimeFailure):
                _runtime(c).resume(record.id)
            c.records.update_state(record.id, lambda s: replace(s, paused=False))
        in_time = waiter is not None and _wait_line(waiter, None if timeout < 0 else float(timeout)) is not None
        if not in_time:
            with contextlib.suppress(RuntimeFailure, Conflict):
                current = c.get(record.id)
                _emit(c, record, "kill", signal=str(int(signal.SIGKILL)))  # before the signal: before its die
                _send_signal(c, current, int(signal.SIGKILL))
            if waiter is not None:
                _wait_line(waiter, KILL_WAIT)
    finally:
        if waiter is not None:
            waiter.close()
    if not in_time:
        await_not_running(c, record.id, KILL_WAIT)
    _emit(c, record, "stop")
    return Stopped(was_running=True)


def _exit_waiter(c: Containers, cid: str) -> socket.socket | None:
    try:
        sock = attach.connect(_socket_dir(c, cid), {"op": "wait"}, what="wait")
    except Conflict:
        return None
    sock.shutdown(socket.SHUT_WR)
    return sock


def _wait_line(sock: socket.socket, timeout: float | None, cancel: Cancel | None = None) -> dict[str, object] | None:
    """The monitor's exit line; None on timeout. A closed socket without a line also means the exit (or its
    monitor died, which the next lookup repairs). Raises `Cancelled` once `cancel` is set."""
    deadline = None if timeout is None else time.monotonic() + timeout
    buf = b""
    watched: list[socket.socket | Cancel] = [sock] if cancel is None else [sock, cancel]
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select(watched, [], [], wait)
        if cancel is not None:
            cancel.check()
        if not ready:
            return None
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""  # the monitor closed while finishing: the caller reads the record
        if not data:
            with contextlib.suppress(ValueError):
                return dict(json.loads(buf)) if buf else {}
            return {}
        buf += data
        if b"\n" in buf:
            with contextlib.suppress(ValueError):
                return dict(json.loads(buf.split(b"\n", 1)[0]))
            return {}


def restart(c: Containers, ref: str, *, timeout: int | None = None, sig: str | None = None) -> None:
    record = c.get(ref)
    stop(c, record.id, timeout=timeout, sig=sig)
    await_monitor_gone(c, record.id)
    c.start(record.id)
    _emit(c, record, "restart")


def await_monitor_gone(c: Containers, cid: str, timeout: float = 30.0) -> None:
    """Until the container's previous monitor finished its cleanup (unmount, runtime delete), which follows the
    exit that `stop` and `wait` report."""
    deadline = time.monotonic() + timeout
    while c._monitor_alive(cid) and time.monotonic() < deadline:
        time.sleep(0.005)


def pause(c: Containers, ref: str) -> None:
    record = c.get(ref)
    if record.state.status != "running":
        raise Conflict(f"Container {record.id} is not running")
    if record.state.paused:
        raise Conflict(f"Container {record.id} is already paused")
    _runtime(c).pause(record.id)
    c.records.update_state(record.id, lambda s: replace(s, paused=True))
    _emit(c, record, "pause")


def unpause(c: Containers, ref: str) -> None:
    record = c.get(ref)
    if record.state.status != "running" or not record.state.paused:
        raise Conflict(f"Container {record.id} is not paused")
    _runtime(c).resume(record.id)
    c.records.update_state(record.id, lambda s: replace(s, paused=False))
    _emit(c, record, "unpause")


def resize(c: Containers, ref: str, height: int, width: int) -> None:
    record = c.get(ref)
    if record.state.status != "running":
        raise Conflict(f"Container {record.id} is not running")
    if not record.config.tty:
        return
    _control(c, record.id, {"op": "resize", "height": height, "width": width})
    _emit(c, record, "resize", height=str(height), width=str(width))


def attach_socket(c: Containers, ref: str, *, stdin: bool, stdout: bool, stderr: bool, pending: bool) -> socket.socket:
    """A connection to the monitor streaming the container's output (Docker's attach wire format)."""
    record = c.get(ref)
    stdin = stdin and record.config.open_stdin
    header = {"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr, "pending": pending}
    sock = attach.connect(_socket_dir(c, record.id), header)
    _emit(c, record, "attach")
    return sock


def _emit(c: Containers, record: ContainerRecord, action: str, **extra: str) -> None:
    with contextlib.suppress(Exception):
        from dockyard.engine import events

        events.emit_container(c.paths, record, action, **extra)


def force_stop(c: Containers, cid: str) -> None:
    """`rm -f`: SIGKILL (or cancel a pending restart), then wait until the monitor has cleaned up."""
    record = c.get(cid)
    if record.state.status == "running":
        with contextlib.suppress(Conflict):
            kill(c, cid, "SIGKILL")
    else:
        _mark_stopped(c, cid)
    await_not_running(c, cid, KILL_WAIT)
    await_monitor_gone(c, cid)


# ---- start and create -----------------------------------------------------------------------------------------

PENDING_ATTACH = "attach.pending"
PENDING_TTL = 60.0


def register_pending_attach(c: Containers, cid: str) -> None:
    """An attach asked for before the start: the next start makes the monitor wait for it before running."""
    path = os.path.join(c.paths.container_dir(cid), PENDING_ATTACH)
    with c.records.locked(cid):
        count = _pending(path)
        with open(path, "w", encoding="ascii") as f:
            f.write(str(count + 1))


def _pending(path: str) -> int:
    try:
        if time.time() - os.stat(path).st_mtime > PENDING_TTL:
            return 0  # left by a client that never started the container
        with open(path, encoding="ascii") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def prepare_start(c: Containers, cid: str) -> tuple[ContainerRecord, int]:
    """A manual start resets the restart count and the manual-stop flag (moby ResetRestartManager); returns the
    record and the number of attachers to wait for."""

    def reset(r: ContainerRecord) -> ContainerRecord:
        if r.state.status in LIVE:
            return r
        return replace(r, manually_stopped=False, restart_count=0)

    record = c.records.load(cid)
    if record.state.status not in LIVE and (record.manually_stopped or record.restart_count):
        record = c.records.update(cid, reset)  # why only then: a first start has nothing to reset (no write)
    path = os.path.join(c.paths.container_dir(cid), PENDING_ATTACH)
    pending = _pending(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return record, pending


def check_create(request: CreateRequest) -> None:
    """The daemon's checks on lifecycle settings (moby verifyContainerSettings / verifyPlatformContainerSettings)."""
    from dockyard.engine.logs import validate_log_config
    from dockyard.engine.restart import validate_policy

    hc = request.host_config
    policy = validate_policy(hc.restart_policy)
    if hc.auto_remove and policy.name != "no":
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    validate_log_config(hc.log_driver or "json-file", hc.log_opts)
    if request.stop_signal:
        signal_number(request.stop_signal)
    check = request.healthcheck
    if check is not None:
        for name, value in (("Interval", check.interval), ("Timeout", check.timeout),
                            ("StartPeriod", check.start_period)):  # fmt: skip
            if value != 0 and value < 1_000_000:
                raise InvalidArgument(f"{name} in Healthcheck cannot be less than 1ms")
        if check.retries < 0:
            raise InvalidArgument("Retries in Healthcheck cannot be negative")


def await_not_running(c: Containers, cid: str, limit: float = 5.0) -> None:
    """Wait (at most `limit` s) until the record no longer says running: exited, restarting, or gone.

    why: the monitor announces an exit before it records it, and a client's next call (docker-py removes right
    after wait; stop and kill read the state back) must not find the container still running."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if c.get(cid).state.status != "running":  # exited, or restarting under its policy
                return
        except NotFound:
            return
        time.sleep(0.01)
