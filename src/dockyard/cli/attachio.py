"""The terminal side of an attached container: copy the user's stdin to the attach stream and its output to
stdout/stderr, in one select loop (no threads). Raw mode on a terminal, SIGWINCH → resize, detach keys (the
docker CLI detects them itself: `read escape sequence`), signals proxied to the container without a terminal.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import sys
import termios
import tty as ttymod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
DETACHED, ENDED = "detached", "ended"


class Detector:
    """moby term.NewEscapeProxy: holds back bytes that may start the detach sequence; reports a full match."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes((byte,))
            if self.keys and self.keys.startswith(candidate):
                self.held = candidate
                if candidate == self.keys:
                    self.held = b""
                    return bytes(out), True
                continue
            out += candidate
            self.held = b""
        return bytes(out), False


@dataclass
class Terminal:
    """The user's terminal, when stdin is one: raw mode while attached, its size for resizes."""

    fd: int
    saved: list[Any] | None = None

    @classmethod
    def of_stdin(cls) -> Terminal | None:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):
            return None
        return cls(fd) if os.isatty(fd) else None

    def raw(self) -> None:
        self.saved = termios.tcgetattr(self.fd)
        ttymod.setraw(self.fd, termios.TCSANOW)

    def restore(self) -> None:
        if self.saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.saved = None

    def size(self) -> tuple[int, int] | None:
        with contextlib.suppress(OSError):
            import fcntl

            rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(self.fd, termios.TIOCGWINSZ, b"\0" * 8))
            if rows and cols:
                return rows, cols
        return None


def _frames(buf: bytearray) -> Iterator[tuple[int, bytes]]:
    while len(buf) >= 8:
        size = int.from_bytes(buf[4:8], "big")
        if len(buf) < 8 + size:
            return
        stream, payload = buf[0], bytes(buf[8 : 8 + size])
        del buf[: 8 + size]
        yield stream, payload


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def pump(
    sock: socket.socket,
    *,
    tty: bool,
    stdin: bool,
    keys: bytes,
    on_signal: Callable[[int], None] | None = None,
    on_resize: Callable[[], None] | None = None,
) -> str:
    """Copy until the stream ends (ENDED) or the user typed the detach keys (DETACHED)."""
    sys.stdout.flush()
    sys.stderr.flush()
    out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    in_fd = sys.stdin.fileno() if stdin else -1
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous = _install_signals(wake_w, proxy=on_signal is not None, resize=on_resize is not None)
    detector, buf = Detector(keys), bytearray()
    # why: stdin is sent only when the socket is writable, from a buffer refilled only once empty; a blocking
    # sendall could wait forever on a container that stopped reading stdin (`yes | run -i … head -c 10`) while
    # its output and its end went unread.
    pending = b""
    sock.setblocking(False)
    try:
        while True:
            readers = [sock, wake_r] + ([in_fd] if in_fd >= 0 and not pending else [])
            try:
                ready, writable, _ = select.select(readers, [sock] if pending else [], [])
            except InterruptedError:
                continue
            if wake_r in ready:
                for number in os.read(wake_r, 64):
                    if number == signal.SIGWINCH and on_resize is not None:
                        on_resize()
                    elif on_signal is not None:
                        on_signal(number)
            if sock in ready and not _copy_output(sock, buf, tty=tty, out_fd=out_fd, err_fd=err_fd):
                return ENDED
            if pending and sock in writable:
                rest = _send_stdin(sock, pending)
                if rest is None:
                    rest, in_fd = b"", -1  # the container's stdin is gone: keep reading its output
                pending = rest
            if in_fd >= 0 and in_fd in ready and not pending:
                data = os.read(in_fd, 65536)
                if not data:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)
                    in_fd = -1
                    continue
                pending, detached = detector.feed(data)
                if detached:
                    return DETACHED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(-1)
        os.close(wake_r)
        os.close(wake_w)


def _copy_output(sock: socket.socket, buf: bytearray, *, tty: bool, out_fd: int, err_fd: int) -> bool:
    """Copy what the socket has to stdout/stderr; False when the stream ended (EOF or reset by the peer)."""
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False
    if not data:
        return False
    if tty:
        _write(out_fd, data)
    else:
        buf += data
        for stream, payload in _frames(buf):
            _write(err_fd if stream == 2 else out_fd, payload)
    return True


def _send_stdin(sock: socket.socket, pending: bytes) -> bytes | None:
    """Send what the socket takes now; the rest to send later, or None when the peer stopped reading."""
    try:
        return pending[sock.send(pending) :]
    except BlockingIOError:
        return pending
    except (BrokenPipeError, ConnectionResetError):
        return None


def _install_signals(wake_fd: int, *, proxy: bool, resize: bool) -> dict[int, Any]:
    """Route the signals we act on through a wakeup pipe (handled in the loop, never inside a handler)."""

    def ignore(_sig: int, _frame: FrameType | None) -> None:
        return None

    wanted = (PROXIED if proxy else ()) + ((signal.SIGWINCH,) if resize else ())
    previous: dict[int, Any] = {int(sig): signal.signal(sig, ignore) for sig in wanted}
    signal.set_wakeup_fd(wake_fd, warn_on_full_buffer=False)
    return previous
