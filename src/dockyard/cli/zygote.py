"""The CLI zygote process: single-threaded, with click, every CLI verb and the client preloaded, serving the thin
`dockyard` launcher (cli/fastpath.py, which owns the protocol) on the socket dockyardd bound and hands over
(daemon/cli_zygote.py starts, restarts and stops it). It never runs the engine: workers talk to the daemon's API.

A spare worker is always forked ahead, its inherited heap already touched and a typical `run` parsed once
(copy-on-write faults paid while nobody waits: `rehearse`); the zygote hands each connection to it and forks the
next spare once that call has ended (or SPARE_DELAY later). The worker reads the request (so a slow client never
blocks the zygote), reports its pid, becomes the client's CLI process (its fds 0/1/2 as stdio, its cwd, umask,
environment and argv, then the ordinary CLI) and reports its own exit status; the zygote, which waits for it,
reports a death by signal (128+N). A worker outlives a zygote that dies (only a death by signal then goes
unreported); the zygote exits when the daemon's lifeline pipe closes, and its spare with it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import socket
import sys
import time
from typing import NoReturn

from dockyard import tracing
from dockyard.cli import fastpath
from dockyard.spares import fork_spare

REQUEST_TIMEOUT = 10.0  # a client that has not sent its request by then is dropped
SPARE_DELAY = 0.05  # seconds after a hand-over before the next spare is forked, unless the worker exits sooner
_RESET = ("SIGCHLD", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def preload() -> None:
    """Import what a call would import: click, cli.main, every verb of every group (cached in the groups), the
    client and its unix transport."""
    import click

    from dockyard.cli import main, verbs
    from dockyard.client import client, hosts, mounts, transport, unix  # noqa: F401

    for group in (main.cli, verbs.container_group, verbs.image_group, verbs.system_group):
        assert isinstance(group, verbs.LazyGroup)
        context = click.Context(group)
        for name in group.table:
            group.get_command(context, name)


REHEARSAL = ("run", "--rm", "busybox", "true")


def rehearse() -> None:
    """In a spare: parse a typical call's arguments (nothing runs), so that the objects a parse touches (click's
    parser, every option of `run`) have their pages copied before a request waits on it."""
    from dockyard.cli.main import cli

    with contextlib.suppress(Exception):
        group = cli.make_context("dockyard", list(REHEARSAL), resilient_parsing=True)
        _name, command, rest = cli.resolve_command(group, [*group.protected_args, *group.args])
        if command is not None:
            command.make_context(REHEARSAL[0], rest, parent=group, resilient_parsing=True)


def serve(listener: socket.socket, lifeline: int, host: str) -> int:
    """Accept launchers until the daemon's lifeline closes. Each connection goes to the waiting spare (forked and
    pre-faulted ahead of time, see `_spare_main`), which becomes its worker. The next spare is forked once that
    worker has exited or SPARE_DELAY later, whichever comes first (why: forked at once, its fork and page faults
    competed with the call it was forked after for this machine's cores); a call that finds no spare forks one."""
    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    poller.register(lifeline, select.POLLIN)
    spare = _Spare.fork(listener, lifeline, host, poller)
    due: float | None = None  # when to fork the next spare
    workers: dict[int, tuple[int, socket.socket]] = {}  # pidfd → (pid, the zygote's copy of its connection)
    while True:
        timeout = None if due is None else max(0, round((due - time.monotonic()) * 1000))
        try:
            ready = [fd for fd, _ in poller.poll(timeout)]
        except InterruptedError:
            continue
        if lifeline in ready:
            return 0
        for fd in ready:
            if fd in workers:
                _reap_worker(poller, workers.pop(fd), fd)
                due = time.monotonic()  # the call is over: nothing to compete with
            elif spare is not None and fd == spare.pidfd:  # an idle spare died: fork another
                spare.reap(poller)
                spare, due = None, time.monotonic()
        if spare is not None:
            due = None
        elif due is not None and time.monotonic() >= due:
            spare, due = _Spare.fork(listener, lifeline, host, poller), None
        if listener.fileno() not in ready:
            continue
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue
        refused = check_peer(conn)
        worker = None if refused else spare or _Spare.fork(listener, lifeline, host, poller, warm=False)
        if worker is None:
            refuse(conn, refused or "cli zygote: fork: no worker available")
            conn.close()
            continue
        workers[worker.pidfd] = (worker.pid, conn)
        worker.hand_over(conn)
        spare, later = None, time.monotonic() + SPARE_DELAY
        due = later if due is None else min(due, later)


def _reap_worker(poller: select.poll, worker: tuple[int, socket.socket], pidfd: int) -> None:
    """A worker ended: a death by signal is reported here (a worker that exits reports its own status)."""
    pid, conn = worker
    poller.unregister(pidfd)
    os.close(pidfd)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 0
    if os.WIFSIGNALED(status):
        with contextlib.suppress(OSError):
            conn.sendall(fastpath.record(b"X", fastpath.exit_code(status)))
    conn.close()


class _Spare:
    """A worker forked before its request: the fork and its page faults are paid while nobody waits."""

    def __init__(self, pid: int, pidfd: int, control: socket.socket) -> None:
        self.pid, self.pidfd, self.control = pid, pidfd, control

    @classmethod
    def fork(
        cls, listener: socket.socket, lifeline: int, host: str, poller: select.poll, *, warm: bool = True
    ) -> _Spare | None:
        forked = fork_spare(lambda control: _spare_main(control, host, warm=warm), (listener, lifeline), poller)
        return None if forked is None else cls(*forked)

    def hand_over(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # a spare that died meanwhile: its pidfd reports it, the launcher 125s
            socket.send_fds(self.control, [b"c"], [conn.fileno()])
        self.control.close()

    def reap(self, poller: select.poll) -> None:
        poller.unregister(self.pidfd)
        os.close(self.pidfd)
        self.control.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _spare_main(control: socket.socket, host: str, *, warm: bool = True) -> int:
    """In the spare: touch the inherited heap now (a collection writes every tracked object's header, so its
    pages are copied before a request waits on it; `warm`: not for a spare forked when a call already waits),
    then serve the one connection the zygote hands over."""
    if warm:
        gc.collect()
        rehearse()
    try:
        _, fds, _, _ = socket.recv_fds(control, 1, 1)
    except OSError:
        return 0
    if not fds:
        return 0  # the zygote is gone
    control.close()
    conn = socket.socket(fileno=fds[0])
    conn.settimeout(REQUEST_TIMEOUT)
    try:
        args, env, cwd, umask, stdio = read_request(conn)
    except (ValueError, OSError) as err:
        refuse(conn, f"cli zygote: bad request: {err}")
        return 1
    conn.settimeout(None)
    try:
        conn.sendall(fastpath.record(b"P", os.getpid()))
    except OSError:
        pass  # the launcher is gone: the command still runs to its end, as a detached CLI would
    run_worker(args, env, cwd, umask, stdio, host, conn)


def check_peer(conn: socket.socket) -> str | None:
    """Why the peer is refused (its SO_PEERCRED uid is not root), or None."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    uid = int.from_bytes(creds[4:8], sys.byteorder)
    return None if uid == 0 else f"cli zygote: peer uid {uid}: permission denied"


def refuse(conn: socket.socket, message: str) -> None:
    data = message.encode()
    try:
        conn.sendall(b"E" + len(data).to_bytes(4, "big") + data)
    except OSError:
        pass


def read_request(conn: socket.socket) -> tuple[list[str], dict[str, str], str, int, list[int]]:
    """(argv, env, cwd, umask, fds); ValueError names what is wrong (the fds are closed then)."""
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    try:
        if len(fds) != 3:
            raise ValueError(f"expected 3 file descriptors, got {len(fds)}")
        while len(msg) < 8:
            chunk = conn.recv(8 - len(msg))
            if not chunk:
                raise ValueError("truncated header")
            msg += chunk
        if msg[:4] != fastpath.MAGIC:
            raise ValueError("bad magic")
        size = int.from_bytes(msg[4:8], "big")
        if size > fastpath.MAX_REQUEST:
            raise ValueError(f"request of {size} bytes exceeds {fastpath.MAX_REQUEST}")
        payload = bytearray(msg[8:])
        while len(payload) < size:
            chunk = conn.recv(min(1 << 16, size - len(payload)))
            if not chunk:
                raise ValueError("truncated request")
            payload += chunk
        if len(payload) != size:
            raise ValueError("trailing bytes after the request")
        return (*fastpath.decode_request(bytes(payload)), fds)
    except (ValueError, OSError):
        for fd in fds:
            os.close(fd)
        raise


def _reopen_stdio() -> None:
    """New sys.std* over the new fds 0/1/2, buffered as the interpreter would (line-buffered on a terminal)."""
    sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stdout = open(  # noqa: SIM115
        1, "w", encoding="utf-8", errors="surrogateescape", closefd=False, buffering=1 if os.isatty(1) else -1
    )
    sys.stderr = open(  # noqa: SIM115
        2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1
    )


def run_worker(
    args: list[str], env: dict[str, str], cwd: str, umask: int, fds: list[int], host: str, conn: socket.socket
) -> NoReturn:
    """Become the client's CLI process: its stdio, umask, environment, argv and cwd, then the CLI against the
    daemon (DOCKYARD_HOST: never the in-process engine); its exit status goes back on `conn` (a death by signal is
    reported by the zygote, which waits for this process)."""
    conn.set_inheritable(False)
    if env.get("DOCKYARD_TRACE"):
        os.environ["DOCKYARD_TRACE"] = env["DOCKYARD_TRACE"]
        tracing.mark("cli: worker forked")
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    for name in _RESET:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.umask(umask)
    os.environ.clear()
    os.environ.update(env)
    os.environ["DOCKYARD_HOST"] = host
    sys.argv = ["dockyard", *args]
    _reopen_stdio()
    try:
        os.chdir(cwd)
    except OSError as err:
        sys.stderr.write(f"dockyard: chdir `{cwd}`: {(err.strerror or str(err)).lower()}\n")
        sys.stderr.flush()
        _exit_with(conn, 125)
    from dockyard.cli.main import run_to_status

    _exit_with(conn, run_to_status(args))


def _exit_with(conn: socket.socket, code: int) -> NoReturn:
    with contextlib.suppress(OSError):
        conn.sendall(fastpath.record(b"X", code))
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """`python -S -c … cli_zygote.main() LISTEN_FD LIFELINE_FD HOST`: preload, then serve."""
    args = sys.argv[1:] if argv is None else argv
    preload()
    listener = socket.socket(fileno=int(args[0]))
    listener.set_inheritable(False)
    lifeline = int(args[1])
    os.set_inheritable(lifeline, False)
    return serve(listener, lifeline, args[2])
