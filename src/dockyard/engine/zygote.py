"""The monitor zygote: a small single-threaded fork server that dockyardd starts once, so that a threaded daemon
neither forks (unsafe) nor starts an interpreter (tens of ms) per container.

The zygote preloads the monitor and the runtime (engine/runtime_fork.preload) and keeps one detached monitor
forked ahead (`_Spare`: setsid; the zygote ignores SIGCHLD so the kernel reaps it; when the zygote goes, it
re-parents to init, so it outlives the daemon and the zygote); each request goes to that spare, and the next one
is forked SPARE_DELAY after the reply (without a spare, a request forks at once). Protocol, over a
SOCK_SEQPACKET socketpair: the request is one message, the JSON of a `MonitorConfig`, carrying exactly one fd
(the write end of the monitor's ready pipe) as SCM_RIGHTS; the reply is one message, `{"pid": N}` or
`{"error": …}`. The zygote exits when the daemon's end closes. It must import only what monitors need: every
monitor starts as a copy of its memory.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict

from dockyard import tracing
from dockyard.engine.monitor import MonitorConfig
from dockyard.spares import fork_spare

MAX_REQUEST = 1 << 16
SPARE_DELAY = 0.05  # seconds after a request before the next spare is forked
REPLY_TIMEOUT = 10.0  # a zygote that takes longer to fork is taken for hung, killed and replaced


# ---- the zygote process ----------------------------------------------------------------------------------------


def serve(sock: socket.socket) -> int:
    """Answer fork requests until the daemon closes its end; returns the exit status. A spare monitor is forked
    ahead of each request (see `_Spare`); a request without one (its fork failed, it died) forks at once."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    spare = _Spare.fork(sock, poller)
    due: float | None = None  # when to fork the next spare
    while True:
        timeout = None if due is None else max(0, round((due - time.monotonic()) * 1000))
        try:
            ready = [fd for fd, _ in poller.poll(timeout)]
        except InterruptedError:
            continue
        if spare is not None and spare.pidfd in ready:  # an idle spare died: fork another
            spare.drop(poller)
            spare, due = None, time.monotonic()
        if spare is None and due is not None and time.monotonic() >= due:
            spare, due = _Spare.fork(sock, poller), None
        if sock.fileno() not in ready:
            continue
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, MAX_REQUEST, 4)
        except InterruptedError:
            continue
        except OSError:
            return 0
        if not msg and not fds:
            return 0  # the daemon is gone
        try:
            reply = handle(msg, fds, spare)
        finally:
            for fd in fds:
                os.close(fd)
        try:
            sock.send(json.dumps(reply).encode())
        except OSError:
            return 0
        if spare is not None and spare.used:
            spare.drop(poller)
            spare = None
        if spare is None:
            # why later: forked at once, the spare's fork and page faults compete with the start it just took
            # over (its runtime create and start) for this machine's cores
            due = time.monotonic() + SPARE_DELAY


def parse_request(msg: bytes, fds: list[int]) -> MonitorConfig:
    """The request's config; ValueError names what is wrong with it."""
    if len(fds) != 1:
        raise ValueError(f"expected 1 file descriptor, got {len(fds)}")
    try:
        data = json.loads(msg)
    except ValueError as err:
        raise ValueError(f"not JSON: {err}") from err
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        config = MonitorConfig(**data)
    except TypeError as err:
        raise ValueError(str(err)) from err
    for name in ("container_id", "data_root", "exec_root", "runtime"):
        if not isinstance(getattr(config, name), str) or not getattr(config, name):
            raise ValueError(f"`{name}`: expected a non-empty string")
    if not isinstance(config.auto_remove, bool) or not isinstance(config.expect_attach, int):
        raise ValueError("`auto_remove`/`expect_attach`: expected a bool and an int")
    return config


def handle(msg: bytes, fds: list[int], spare: _Spare | None = None) -> dict[str, object]:
    try:
        config = parse_request(msg, fds)
    except ValueError as err:
        return {"error": f"zygote request: {err}"}
    if spare is not None and spare.hand_over(msg, fds[0]):
        return {"pid": spare.pid}
    try:
        return {"pid": fork_monitor(config, fds[0])}
    except OSError as err:
        return {"error": f"zygote fork: {err.strerror or err}"}


def fork_monitor(config: MonitorConfig, ready_fd: int) -> int:
    """One fork; the child leads a new session and becomes the monitor. It stays our child (we ignore SIGCHLD, so
    the kernel reaps it), which a double fork would avoid at the price of a second fork and a wait (≈ 1 ms)."""
    from dockyard.engine import monitor

    tracing.mark("zygote: fork monitor")
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # why: the monitor waits for its init and probes
            os.setsid()
            monitor.run_detached(config, ready_fd)
        finally:
            os._exit(1)
    return pid


class _Spare:
    """A monitor forked before its request (as the CLI zygote's spare worker): the fork, the new session and the
    copy-on-write faults of the inherited heap are paid while no start waits (≈ 2 ms of each start here). It
    waits on its end of a socketpair for the request (the same message and ready fd the zygote got) and then runs
    as `fork_monitor`'s child would; it exits when that socket closes (the zygote is gone)."""

    def __init__(self, pid: int, pidfd: int, control: socket.socket) -> None:
        self.pid, self.pidfd, self.control = pid, pidfd, control
        self.used = False

    @classmethod
    def fork(cls, daemon: socket.socket, poller: select.poll) -> _Spare | None:
        # why close the daemon's socket: the daemon notices a dead zygote by its end of that pair closing
        forked = fork_spare(_spare_main, (daemon,), poller)
        return None if forked is None else cls(*forked)

    def hand_over(self, msg: bytes, ready_fd: int) -> bool:
        """Give the spare its request; False when it is gone (the caller forks instead)."""
        tracing.mark("zygote: hand over to the spare monitor")
        try:
            socket.send_fds(self.control, [msg], [ready_fd])
        except OSError:
            return False
        self.used = True
        return True

    def drop(self, poller: select.poll) -> None:
        """Forget it (used, or dead: the kernel reaps it, we ignore SIGCHLD); an idle one exits on the EOF."""
        poller.unregister(self.pidfd)
        os.close(self.pidfd)
        self.control.close()


def _spare_main(control: socket.socket) -> int:
    """In the spare: a session of its own now, the inherited heap touched (a collection writes every tracked
    object's header, so its pages are copied while nobody waits), then the request and the monitor's life."""
    from dockyard.engine import monitor

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # why: the monitor waits for its init and probes
    os.setsid()
    gc.collect()
    try:
        msg, fds, _flags, _addr = socket.recv_fds(control, MAX_REQUEST, 1)
    except OSError:
        return 1
    control.close()
    if len(fds) != 1:
        return 1  # the zygote is gone (EOF)
    try:
        config = parse_request(msg, fds)
    except ValueError:
        return 1  # checked by the zygote already
    monitor.run_detached(config, fds[0])  # never returns
    return 1


def preload() -> None:
    """What every monitor runs: its loop, the runtime's create/start/delete, and its cleanup at exit (which
    would otherwise import rootfs, volumes, the image store and events after the container exited)."""
    import encodings.ascii  # noqa: F401 — the cleanup reads ascii files

    from dockyard.engine import events, monitor_core, networks, rootfs, runtime_fork, volumes  # noqa: F401
    from dockyard.image import content, open_store, store  # noqa: F401 — what open_store imports
    from dockyard.image.snapshots import overlay  # noqa: F401

    runtime_fork.preload()
    # why: a bridge endpoint's release at exit goes through the network manager and netlink (network/rtnl.py,
    # a few struct calls; pyroute2 is no longer imported)
    from dockyard.network import manager, netlink  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """`python -S -c … zygote.main() FD`: preload, then serve on the inherited socket FD."""
    args = sys.argv[1:] if argv is None else argv
    preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # why: monitors are our children; the kernel reaps them
    sock = socket.socket(fileno=int(args[0]))
    sock.set_inheritable(False)
    return serve(sock)


# ---- the daemon's side ---------------------------------------------------------------------------------------


def spawn_python(
    module: str, fds: tuple[int, ...], args: tuple[str, ...] = (), python: str = sys.executable
) -> subprocess.Popen[bytes]:
    """`python -S` running `module.main()` with `fds` inherited and given as its first arguments (then `args`);
    also the CLI zygote's start (daemon/cli_zygote.py)."""
    # why: -S skips site (its .pth files and the editable-install finder); our sys.path is handed over instead
    code = f"import sys; sys.path[:] = {sys.path!r}; from {module} import main; sys.exit(main())"
    return subprocess.Popen(
        [python, "-S", "-c", code, *(str(fd) for fd in fds), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=fds,
        start_new_session=True,  # a ^C to the daemon's process group is not the zygote's
    )


class Zygote:
    """The daemon's handle: serialises requests and replaces a zygote that died (at once, or at the next request
    when it cannot be started)."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = spawn_python("dockyard.engine.zygote", (theirs.fileno(),), python=self.python)
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(REPLY_TIMEOUT)
        self.sock = ours

    def stop(self) -> None:
        with self.lock:
            self._discard()

    def _discard(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def _replace(self) -> None:
        """Drop a dead (or hung) zygote and start the next one now, so that it is warm for the next request."""
        self._discard()
        try:
            self._start()
        except OSError:
            self.sock = self.proc = None  # tried again on the next request

    def fork_monitor(self, config: MonitorConfig, ready_fd: int) -> int | None:
        """The monitor's pid, or None when the zygote could not be asked (it is replaced on the next request)."""
        request = json.dumps(asdict(config)).encode()
        with self.lock:
            try:
                if self.sock is None:
                    self._start()
                assert self.sock is not None
                socket.send_fds(self.sock, [request], [ready_fd])
                reply = self.sock.recv(4096)
            except OSError:
                self._replace()
                return None
            if not reply:
                self._replace()  # died: a monitor it forked, if any, still reports on the ready pipe
                return None
        try:
            data = json.loads(reply)
            return int(data["pid"]) if "pid" in data else None
        except (ValueError, TypeError, KeyError):
            return None


def install() -> Zygote:
    """Start a zygote and make `monitor.launch` use it (dockyardd calls this once at start-up)."""
    from dockyard.engine import monitor

    zygote = Zygote()
    zygote.start()
    monitor.register_forker(zygote)
    return zygote
