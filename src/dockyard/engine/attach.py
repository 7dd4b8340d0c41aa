"""The monitor's attach socket: <bundle>/monitor.sock, one per container, and both ends of its small protocol.

A client sends one JSON header line, then:
  {"op": "attach", "stdin", "stdout", "stderr", "pending"}: the monitor streams the container's output exactly as
      Docker's hijacked attach stream (stdcopy frames, raw bytes for a tty) and copies what the client sends to
      the container's stdin; the client's EOF detaches stdin (and closes the container's stdin with StdinOnce);
      the monitor closes the connection once the container exited and its output is drained.
      `pending` attachers were requested before the start: the monitor starts the container once they are in.
  {"op": "resize", "height", "width"}: TIOCSWINSZ on the pty master, then close.
  {"op": "stop"}: a manual stop: no restart after this exit (and a pending restart is cancelled), then close.
  With "signal": n, the monitor also sends signal n to the init and answers b"k" before closing.
  {"op": "wait"}: one JSON line `{"StatusCode": n, "Error": ""}` when the container exits, then close.
The monitor side (`AttachHub`) never blocks: a client that stops reading for MAX_BUFFER bytes is dropped. It uses
the C module `_socket` directly: the `socket` wrapper (with selectors, array, enum tables) costs the slim monitor
~0.6 MB; only `connect` (the clients' side: CLI, daemon) imports it.
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import json
import os
import struct
import time
from collections.abc import Callable

from dockyard.engine.pollloop import ERR, IN, OUT, Loop
from dockyard.errors import Conflict, InvalidArgument

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    import socket
    from typing import Any

SOCKET_NAME = "monitor.sock"
MAX_BUFFER = 4 << 20
MAX_HEADER = 4096
STREAM_IDS = {"stdout": 1, "stderr": 2}


def socket_dir_fd(directory: str) -> int:
    return os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def proc_path(dir_fd: int) -> str:
    """A socket path under 108 bytes however deep the directory is (sun_path limit; unix(7)): through the fd."""
    return f"/proc/self/fd/{dir_fd}/{SOCKET_NAME}"


def connect(directory: str, header: dict[str, Any], *, what: str = "attach") -> socket.socket:
    """Connect to the monitor socket in `directory` and send `header`; Conflict when no monitor listens."""
    try:
        dir_fd = socket_dir_fd(directory)
    except FileNotFoundError as err:
        raise Conflict(f"{what}: the container is not running") from err
    import socket  # lazy: the monitor (AttachHub) never needs the wrapper, its callers do

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(proc_path(dir_fd))
        sock.sendall(json.dumps(header).encode() + b"\n")
    except OSError as err:
        sock.close()
        raise Conflict(f"{what}: the container is not running") from err
    finally:
        os.close(dir_fd)
    return sock


class _Client:
    __slots__ = ("closing", "eof", "fd", "header", "inbuf", "op", "out", "pending", "sock", "stdin", "streams")

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.header: dict[str, Any] | None = None
        self.inbuf = b""
        self.out = bytearray()
        self.stdin = False
        self.streams: set[str] = set()
        self.closing = False
        self.pending = False
        self.op = ""
        self.eof = False

    def events(self, input_paused: bool = False) -> int:
        reading = not self.eof and not (input_paused and self.stdin)
        return (IN if reading else 0) | (OUT if self.out else 0)


class AttachHub:
    """The listening socket and its clients, driven by the monitor's poll loop."""

    def __init__(
        self,
        loop: Loop,
        directory: str,
        *,
        tty: bool,
        on_stdin: Callable[[bytes], None],
        on_stdin_eof: Callable[[], None],
        on_control: Callable[[dict[str, Any]], bytes | None],
        listener_fd: int = -1,
    ) -> None:
        self.loop = loop
        self.tty = tty
        self.on_stdin, self.on_stdin_eof, self.on_control = on_stdin, on_stdin_eof, on_control
        self.input_paused = False
        self.clients: dict[int, _Client] = {}
        self.pending_arrived = 0
        self.stdin_attached = False
        if listener_fd >= 0:
            self.listener = _socket.socket(fileno=listener_fd)  # inherited across the monitor's slim re-exec
        else:
            dir_fd = socket_dir_fd(directory)
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(proc_path(dir_fd))
                self.listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
                self.listener.bind(proc_path(dir_fd))
            finally:
                os.close(dir_fd)
            self.listener.listen(64)
        self.listener.setblocking(False)
        loop.add(self.listener.fileno(), IN, self._accept)

    # ---- connections -------------------------------------------------------------------------------------

    def _accept(self, _fd: int, _ev: int) -> None:
        while True:
            try:
                # why: the C socket has no accept(); socket.socket.accept wraps this accept4(SOCK_CLOEXEC)
                fd, _ = self.listener._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sock = _socket.socket(fileno=fd)
            sock.setblocking(False)
            client = _Client(sock)
            self.clients[client.fd] = client
            self.loop.add(client.fd, IN, self._event)

    def pending_in(self, expected: int, *, look: bool = False) -> bool:
        """Whether the `expected` attachers requested before the start are in; `look`: first accept and read what
        already waits on the socket (a connection, then its header: two passes), without blocking."""
        for _ in range(2 if look else 0):
            if self.pending_arrived >= expected:
                break
            self.loop.run_once(0)
        return self.pending_arrived >= expected

    def await_pending(self, expected: int, timeout: float) -> None:
        """Serve the loop until the `expected` pre-start attachers are in, or `timeout` seconds passed."""
        deadline = time.monotonic() + timeout
        while not self.pending_in(expected) and time.monotonic() < deadline:
            self.loop.run_once(0.05)

    def idle_waiters(self) -> list[int] | None:
        """The fds of the clients, when every one is a `wait` with nothing to send (else None): what the
        monitor's slim re-exec can hand over (engine/monitor_slim.py)."""
        if any(c.op != "wait" or c.out or c.closing for c in self.clients.values()):
            return None
        return list(self.clients)

    def adopt_waiter(self, fd: int) -> None:
        """Take back a `wait` client handed over across the slim re-exec."""
        sock = _socket.socket(fileno=fd)
        sock.setblocking(False)
        client = _Client(sock)
        client.header, client.op = {"op": "wait"}, "wait"
        self.clients[client.fd] = client
        self.loop.add(client.fd, IN, self._event)

    def _event(self, fd: int, revents: int) -> None:
        client = self.clients.get(fd)
        if client is None:
            return
        if revents & OUT:
            self._flush(client)
        if fd not in self.clients:
            return
        if client.eof:
            if revents & ERR:
                self.drop(client)  # the client is gone entirely
            return
        if revents & (IN | ERR):
            self._read(client)

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if client.header is None:
            self._header(client, data)
            return
        if data:
            if client.stdin:
                self.on_stdin(data)
            return
        self._input_closed(client)

    def _header(self, client: _Client, data: bytes) -> None:
        client.inbuf += data
        line, sep, rest = client.inbuf.partition(b"\n")
        if not sep:
            if not data or len(client.inbuf) > MAX_HEADER:
                self.drop(client)
            return
        try:
            header = json.loads(line)
            if not isinstance(header, dict):
                raise InvalidArgument("header is not an object")
        except (ValueError, InvalidArgument):
            self.drop(client)
            return
        client.header, client.inbuf, client.op = header, b"", str(header.get("op", ""))
        if client.op in ("resize", "stop"):
            reply = None
            with contextlib.suppress(Exception):
                reply = self.on_control(header)
            if reply:  # an acknowledgement (`stop` with a signal: b"k" once it was sent)
                with contextlib.suppress(OSError):
                    client.sock.send(reply)
            self.drop(client)
        elif client.op == "attach":
            client.stdin = bool(header.get("stdin"))
            client.streams = {s for s in ("stdout", "stderr") if header.get(s)}
            client.pending = bool(header.get("pending"))
            self.pending_arrived += client.pending
            if client.stdin:
                self.stdin_attached = True
            if rest and client.stdin:
                self.on_stdin(rest)
        elif client.op != "wait":
            self.drop(client)

    def _input_closed(self, client: _Client) -> None:
        """The client will send no more: its stdin ends (StdinOnce closes the container's); output goes on."""
        client.eof = True
        self.loop.modify(client.fd, client.events(self.input_paused))
        if client.stdin:
            client.stdin = False
            self.on_stdin_eof()
        if client.op != "wait" and not client.streams:
            self.drop(client)

    def drop(self, client: _Client) -> None:
        self.loop.remove(client.fd)
        self.clients.pop(client.fd, None)
        with contextlib.suppress(OSError):
            client.sock.close()

    # ---- output ------------------------------------------------------------------------------------------

    def broadcast(self, stream: str, data: bytes) -> None:
        if not data:
            return
        payload = data if self.tty else struct.pack(">BxxxL", STREAM_IDS[stream], len(data)) + data
        for client in list(self.clients.values()):
            if client.op == "attach" and stream in client.streams and not client.closing:
                self._send(client, payload)

    def _send(self, client: _Client, payload: bytes) -> None:
        if not client.out:
            try:
                sent = client.sock.send(payload)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.drop(client)
                return
            payload = payload[sent:]
        if payload:
            client.out += payload
            if len(client.out) > MAX_BUFFER:
                self.drop(client)  # a reader that stalls must not stall the container
                return
            self.loop.modify(client.fd, client.events(self.input_paused))

    def _flush(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            if err.errno != errno.EAGAIN:
                self.drop(client)
            return
        del client.out[:sent]
        if not client.out:
            if client.closing:
                self.drop(client)
                return
            self.loop.modify(client.fd, client.events(self.input_paused))

    def exited(self, status_code: int, error: str = "") -> None:
        """The container exited: answer waiters, end every attach stream once its output is flushed."""
        line = json.dumps({"StatusCode": status_code, "Error": error}).encode() + b"\n"
        for client in list(self.clients.values()):
            if client.op == "wait":
                self._send(client, line)
            client.closing = True
            client.stdin = False
            if not client.out and client.fd in self.clients:
                self.drop(client)

    def pause_input(self, paused: bool) -> None:
        """Stop (or resume) reading stdin from clients while the container's stdin is backed up."""
        if paused == self.input_paused:
            return
        self.input_paused = paused
        for client in self.clients.values():
            if client.stdin:
                self.loop.modify(client.fd, client.events(paused))

    def busy(self) -> bool:
        """Output is still waiting to reach some client."""
        return any(c.out for c in self.clients.values())

    def close(self) -> None:
        for client in list(self.clients.values()):
            self.drop(client)
        self.loop.remove(self.listener.fileno())
        self.listener.close()
