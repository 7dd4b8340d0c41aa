"""Shared by the lifecycle e2e tests: a pty driver for -it and attach (the CLI harness itself is _harness)."""

from __future__ import annotations

import os
import pty
import select
import signal
import time

from _harness import CLI, Dockyard


class PtyCli:
    """The CLI on a fresh pty (its controlling terminal), as a user at a terminal runs it."""

    def __init__(self, d: Dockyard, *args: str, rows: int = 24, cols: int = 80) -> None:
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe(CLI[0], [*CLI, *args], d.env)
        self.pid, self.fd, self.buf = pid, fd, b""
        import fcntl
        import struct
        import termios

        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.status: int | None = None

    def expect(self, pattern: bytes, timeout: float = 15) -> bytes:
        deadline = time.monotonic() + timeout
        while pattern not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"{pattern!r} not seen; got {self.buf!r}")
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                data = b""
            if not data:
                raise AssertionError(f"{pattern!r} not seen before EOF; got {self.buf!r}")
            self.buf += data
        return self.buf

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.drain()
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self.drain(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"the CLI did not exit; output {self.buf!r}")

    def drain(self, timeout: float = 0) -> None:
        while select.select([self.fd], [], [], timeout)[0]:
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return
            if not data:
                return
            self.buf += data
