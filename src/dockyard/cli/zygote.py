"""The CLI zygote process: single-threaded, with click, every CLI verb and the client preloaded, serving the thin
`dockyard` launcher (cli/fastpath.py, which owns the protocol) on the socket dockyardd bound and hands over
(daemon/cli_zygote.py starts, restarts and stops it). It never runs the engine: workers talk to the daemon's API.

Per connection the zygote forks a session process (so a slow client never blocks it); the session reads the
request, forks the worker (the client's fds 0/1/2 as its stdio, its cwd, umask, environment and argv, then the
ordinary `cli.main.entry`), reports the worker's pid, waits for it and reports its status (128+N for a signal).
A session outlives a zygote that dies; the zygote exits when the daemon's lifeline pipe closes.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
from typing import NoReturn

from dockyard import tracing
from dockyard.cli import fastpath

REQUEST_TIMEOUT = 10.0  # a client that has not sent its request by then is dropped
_RESET = ("SIGCHLD", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def preload() -> None:
    """Import what a call would import: click, cli.main, every verb of every group (cached in the groups), the
    client and its unix transport."""
    import click

    from dockyard.cli import main, verbs
    from dockyard.client import client, hosts, transport, unix  # noqa: F401

    for group in (main.cli, verbs.container_group, verbs.image_group, verbs.system_group):
        assert isinstance(group, verbs.LazyGroup)
        context = click.Context(group)
        for name in group.table:
            group.get_command(context, name)


def serve(listener: socket.socket, lifeline: int, host: str) -> int:
    """Accept launchers until the daemon's lifeline closes; one session process per connection."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # why: sessions are reaped by the kernel, none is waited for
    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    poller.register(lifeline, select.POLLIN)
    while True:
        try:
            ready = [fd for fd, _ in poller.poll()]
        except InterruptedError:
            continue
        if lifeline in ready:
            return 0
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue
        with conn:
            refused = check_peer(conn)
            if refused:
                refuse(conn, refused)
                continue
            try:
                pid = os.fork()
            except OSError as err:
                refuse(conn, f"cli zygote: fork: {(err.strerror or str(err)).lower()}")
                continue
            if pid == 0:
                code = 1
                try:
                    listener.close()
                    os.close(lifeline)
                    code = session(conn, host)
                finally:
                    os._exit(code)


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


def session(conn: socket.socket, host: str) -> int:
    """Read one request, fork its worker, relay its pid and status; the session's own exit status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # why: inherited SIG_IGN would make waitpid lose the status
    conn.settimeout(REQUEST_TIMEOUT)
    try:
        args, env, cwd, umask, fds = read_request(conn)
    except (ValueError, OSError) as err:
        refuse(conn, f"cli zygote: bad request: {err}")
        return 1
    pid = os.fork()
    if pid == 0:
        conn.close()
        run_worker(args, env, cwd, umask, fds, host)
    for fd in fds:
        os.close(fd)
    conn.settimeout(None)
    try:
        conn.sendall(fastpath.record(b"P", pid))
    except OSError:
        pass  # the launcher is gone: the worker still runs to its end, as a detached CLI would
    _, status = os.waitpid(pid, 0)
    try:
        conn.sendall(fastpath.record(b"X", fastpath.exit_code(status)))
    except OSError:
        pass
    return 0


def _reopen_stdio() -> None:
    """New sys.std* over the new fds 0/1/2, buffered as the interpreter would (line-buffered on a terminal)."""
    sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stdout = open(  # noqa: SIM115
        1, "w", encoding="utf-8", errors="surrogateescape", closefd=False, buffering=1 if os.isatty(1) else -1
    )
    sys.stderr = open(  # noqa: SIM115
        2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1
    )


def run_worker(args: list[str], env: dict[str, str], cwd: str, umask: int, fds: list[int], host: str) -> NoReturn:
    """Become the client's CLI process: its stdio, umask, environment, argv and cwd, then `entry` against the
    daemon (DOCKYARD_HOST: never the in-process engine)."""
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
        os._exit(125)
    from dockyard.cli.main import entry

    entry(args)


def main(argv: list[str] | None = None) -> int:
    """`python -S -c … cli_zygote.main() LISTEN_FD LIFELINE_FD HOST`: preload, then serve."""
    args = sys.argv[1:] if argv is None else argv
    preload()
    listener = socket.socket(fileno=int(args[0]))
    listener.set_inheritable(False)
    lifeline = int(args[1])
    os.set_inheritable(lifeline, False)
    return serve(listener, lifeline, args[2])
