"""The container's stdio as the monitor holds it: output pipes (or the pty master of a terminal), the stdin pipe,
the console socket the runtime sends the pty master to, and the copying of output to the log and the attachers.

Never blocks: stdin is written non-blocking with a bounded buffer (attachers stop being read while it is full);
a pty master's EIO after the last slave closes is the end of output (pty(7)). Sockets come from the C module
`_socket`: the `socket` wrapper costs the slim monitor ~0.6 MB.
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import fcntl
import os
import struct
import termios

from dockyard.engine.pollloop import ERR, IN, OUT, Loop

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Any

    from dockyard.engine.attach import AttachHub
    from dockyard.engine.logs import LogWriter
    from dockyard.engine.records import ContainerRecord

STDIN_HIGH_WATER = 1 << 20
CONSOLE_TIMEOUT = 10.0


class Stdio:
    def __init__(self, loop: Loop, record: ContainerRecord, bundle: str, writer: LogWriter) -> None:
        self.loop, self.writer, self.bundle = loop, writer, bundle
        self.hub: AttachHub | None = None
        self.tty = record.config.tty
        self.open_stdin = record.config.open_stdin
        self.stdin_once = record.config.stdin_once
        size = record.host_config.console_size
        self.size: tuple[int, int] | None = (size[0], size[1]) if len(size) == 2 and size[0] and size[1] else None
        self.readers: dict[int, str] = {}
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.close_when_drained = False
        self.stdin_done = False
        self.master = -1
        self.child_fds: list[int] = []
        self.console_dir: str | None = None
        self.console_sock: _socket.socket | None = None

    @property
    def console_path(self) -> str | None:
        return os.path.join(self.console_dir, "c.sock") if self.console_dir else None

    def prepare(self) -> tuple[int, int, int]:
        """The fds the container's process gets as stdin, stdout, stderr (a terminal uses the console socket)."""
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.child_fds = [null]
        if self.tty:
            import tempfile  # lazy: only terminals need it, and it weighs on every monitor's memory

            # why: a short path (sun_path is 108 bytes) the runtime, another process, can connect to
            self.console_dir = tempfile.mkdtemp(prefix="dockyard-console-")
            self.console_sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
            self.console_sock.bind(os.path.join(self.console_dir, "c.sock"))
            self.console_sock.listen(1)
            return null, null, null
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        self.child_fds += [out_w, err_w]
        for fd, stream in ((out_r, "stdout"), (err_r, "stderr")):
            os.set_blocking(fd, False)
            self.readers[fd] = stream
            self.loop.add(fd, IN, self._on_output)
        stdin = null
        if self.open_stdin and not self.stdin_done:
            stdin, self.stdin_fd = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(self.stdin_fd, False)
            self.child_fds.append(stdin)
        return stdin, out_w, err_w

    def created(self) -> None:
        """After the runtime's create: close our copies of the child's ends; take the pty master of a terminal."""
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = []
        if self.console_sock is None:
            return
        try:
            self.console_sock.settimeout(CONSOLE_TIMEOUT)
            fds = _receive_fd(self.console_sock)
        except OSError:
            fds = []
        finally:
            self._close_console()
        if not fds:
            return
        self.master = fds[0]
        os.set_blocking(self.master, False)
        if self.size is not None:
            self.resize(*self.size)
        self.readers[self.master] = "stdout"
        self.loop.add(self.master, IN, self._on_master)
        if self.open_stdin and not self.stdin_done:
            self.stdin_fd = self.master

    def adopt(self, state: dict[str, Any]) -> None:
        """Take over the fds a monitor handed over across its slim re-exec (engine/monitor_slim.py)."""
        self.stdin_fd, self.master, self.stdin_done = state["stdin_fd"], state["master"], state["stdin_done"]
        self.size = (state["size"][0], state["size"][1]) if state["size"] else None
        for text, stream in state["readers"].items():
            fd = int(text)
            self.readers[fd] = stream
            self.loop.add(fd, IN, self._on_master if fd == self.master else self._on_output)
        if self.master >= 0 and self.master not in self.readers:
            self.loop.add(self.master, 0, self._on_master)

    def _close_console(self) -> None:
        if self.console_sock is not None:
            self.console_sock.close()
            self.console_sock = None
        if self.console_dir is not None:
            import shutil  # lazy: only at teardown

            shutil.rmtree(self.console_dir, ignore_errors=True)
            self.console_dir = None

    # ---- output --------------------------------------------------------------------------------------------

    def reading(self) -> bool:
        return bool(self.readers)

    def _on_master(self, fd: int, revents: int) -> None:
        if revents & OUT:
            self._drain()
        if revents & (IN | ERR) and fd in self.readers:
            self._on_output(fd, revents)

    def _on_output(self, fd: int, _ev: int) -> None:
        stream = self.readers[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: the pty's slave side is closed
        if data:
            self.writer.feed(stream, data)
            if self.hub is not None:
                self.hub.broadcast(stream, data)
            return
        self.writer.flush(stream)
        del self.readers[fd]
        if fd == self.master:
            self.loop.modify(fd, OUT if self.stdin_buf else 0)
            return
        self.loop.remove(fd)
        os.close(fd)

    # ---- stdin and terminal --------------------------------------------------------------------------------

    def write_stdin(self, data: bytes) -> None:
        if self.stdin_fd < 0:
            return
        self.stdin_buf += data
        self._drain()

    def _drain(self) -> None:
        if self.stdin_fd < 0:
            self.stdin_buf.clear()
            return
        try:
            sent = os.write(self.stdin_fd, self.stdin_buf) if self.stdin_buf else 0
        except BlockingIOError:
            sent = 0
        except OSError as err:
            if err.errno not in (errno.EPIPE, errno.EIO):
                raise
            self.stdin_buf.clear()
            self._close_stdin()
            return
        del self.stdin_buf[:sent]
        self._watch_stdin()
        if self.hub is not None:
            self.hub.pause_input(len(self.stdin_buf) > STDIN_HIGH_WATER)
        if not self.stdin_buf and self.close_when_drained:
            self._close_stdin()

    def _watch_stdin(self) -> None:
        want = OUT if self.stdin_buf else 0
        if self.stdin_fd == self.master:
            self.loop.modify(self.master, (IN if self.master in self.readers else 0) | want)
        elif want and not self.loop.watching(self.stdin_fd):
            self.loop.add(self.stdin_fd, OUT, lambda _fd, _ev: self._drain())
        elif not want and self.loop.watching(self.stdin_fd):
            self.loop.remove(self.stdin_fd)

    def stdin_detached(self) -> None:
        """An attacher's stdin ended: with StdinOnce the container's stdin closes (not a terminal's: Docker)."""
        if not self.stdin_once or self.tty or self.stdin_fd < 0:
            return
        if self.stdin_buf:
            self.close_when_drained = True
        else:
            self._close_stdin()

    def _close_stdin(self) -> None:
        self.stdin_done = True
        self.close_when_drained = False
        if self.stdin_fd < 0 or self.stdin_fd == self.master:
            self.stdin_fd = -1
            return
        self.loop.remove(self.stdin_fd)
        os.close(self.stdin_fd)
        self.stdin_fd = -1

    def resize(self, height: int, width: int) -> None:
        """TIOCSWINSZ on the pty master (tty_ioctl(4)); remembered until the master arrives."""
        if not (0 < height <= 0xFFFF and 0 < width <= 0xFFFF):
            return
        self.size = (height, width)
        if self.master >= 0:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def close(self) -> None:
        for fd in list(self.readers):
            self.loop.remove(fd)
            if fd != self.master:
                os.close(fd)
        self.readers.clear()
        for stream in ("stdout", "stderr"):
            self.writer.flush(stream)
        if self.stdin_fd >= 0 and self.stdin_fd != self.master:
            self.loop.remove(self.stdin_fd)
            os.close(self.stdin_fd)
        self.stdin_fd = -1
        self.stdin_buf.clear()
        if self.master >= 0:
            self.loop.remove(self.master)
            os.close(self.master)
            self.master = -1
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = []
        self._close_console()


__all__ = ["Stdio"]


def _receive_fd(listener: _socket.socket) -> list[int]:
    """Accept the runtime's connection and take the one fd it sends (SCM_RIGHTS), as socket.recv_fds would."""
    conn = _socket.socket(fileno=listener._accept()[0])  # type: ignore[attr-defined]
    try:
        _, ancdata, _, _ = conn.recvmsg(4096, _socket.CMSG_LEN(4))
    finally:
        conn.close()
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += [fd for (fd,) in struct.iter_unpack("i", data[: len(data) - len(data) % 4])]
    return fds
