"""An attached exec: runs the runtime's `exec` as a child of the caller, relays stdin and the output (pipes, or a
pty whose master the runtime hands over on a console socket) and records start and exit.

Used by the exec start handler, in-process or in the daemon. Until the process is known to run (its pid file
exists) stderr is held back: if the runtime fails instead, those bytes are the runtime's own error, not output.
"""

from __future__ import annotations

import array
import contextlib
import os
import select
import selectors
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dockyard.engine import exec as ex
from dockyard.errors import InternalError

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers

_READ = 65536


class ExecSession:
    """Start with `start()`, then iterate `output()`; `write_stdin`/`close_stdin` feed the process."""

    def __init__(self, containers: Containers, record: ex.ExecRecord) -> None:
        self.containers = containers
        self.record = record
        self.exit_code: int | None = None
        self.error = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._master: int | None = None
        self._tmp: str | None = None
        self._prepared: ex.Prepared | None = None

    @property
    def tty(self) -> bool:
        return self.record.config.tty

    def start(self) -> None:
        console = None
        if self.tty:
            self._tmp = tempfile.mkdtemp(prefix="dockyard-exec-")
            console = os.path.join(self._tmp, "console.sock")
        self._prepared = prepared = ex.prepare(self.containers, self.record, console_socket=console)
        config = self.record.config
        stdin = subprocess.PIPE if config.attach_stdin and not self.tty else subprocess.DEVNULL
        if console is None:
            self._proc = subprocess.Popen(prepared.argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            return
        _become_subreaper()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(console)
            listener.listen(1)
            listener.settimeout(0.05)
            self._proc = subprocess.Popen(
                prepared.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            while True:
                try:
                    conn, _ = listener.accept()
                    break
                except TimeoutError:
                    if self._proc.poll() is not None:
                        return  # the runtime failed before connecting: its exit and log tell why
            with conn:
                self._master = _receive_fd(conn)

    def write_stdin(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            if self._master is not None:
                os.write(self._master, data)
            elif self._proc is not None and self._proc.stdin is not None:
                self._proc.stdin.write(data)
                self._proc.stdin.flush()

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            if self._master is not None:
                os.write(self._master, b"\x04")  # EOF for a terminal in canonical mode
            elif self._proc is not None and self._proc.stdin is not None:
                self._proc.stdin.close()

    def resize(self, height: int, width: int) -> None:
        if self._master is None:
            return
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def output(self) -> Iterator[tuple[str, bytes]]:
        """(stream, bytes) until the process and its output end; then `exit_code` (and `error`) are set."""
        proc, prepared = self._proc, self._prepared
        if proc is None or prepared is None:
            raise InternalError(f"exec `{self.record.id}`: not started")
        try:
            yield from self._pump(proc, prepared)
        finally:
            self._finish(proc, prepared)

    def _pump(self, proc: subprocess.Popen[bytes], prepared: ex.Prepared) -> Iterator[tuple[str, bytes]]:
        sel = selectors.DefaultSelector()
        if self._master is not None:
            sel.register(self._master, selectors.EVENT_READ, "stdout")
        elif proc.stdout is not None:
            sel.register(proc.stdout.fileno(), selectors.EVENT_READ, "stdout")
        if proc.stderr is not None:
            sel.register(proc.stderr.fileno(), selectors.EVENT_READ, "stderr")
        held = b""
        running = False
        while sel.get_map():
            for key, _ in sel.select(timeout=None if running and self._master is None else 0.2):
                data = _read(int(key.fd))
                if not data:
                    sel.unregister(key.fd)
                    continue
                if not running:
                    running = self._mark_started(prepared)
                if key.data == "stderr" and not running:
                    held += data
                    continue
                if held:
                    yield "stderr", held
                    held = b""
                if key.data == "stderr" and self._master is not None:
                    continue  # with a terminal, the runtime's own stderr is not the process's
                yield str(key.data), data
            if not running:
                running = self._mark_started(prepared)
            if self._master is not None and running and _exited(self.record.pid):
                yield from _drain(self._master)
                break  # the pty stays open while we hold the master: the process's exit ends the session
        if running and held:
            yield "stderr", held
        sel.close()

    def _mark_started(self, prepared: ex.Prepared) -> bool:
        pid = ex.read_pid(prepared)
        if pid and not self.record.running:
            self.record = ex.started(self.containers, self.record, pid)
        return bool(pid)

    def _finish(self, proc: subprocess.Popen[bytes], prepared: ex.Prepared) -> None:
        code = proc.wait()
        if self.tty and code == 0 and self.record.pid:
            code = _wait(self.record.pid)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._master is not None:
            os.close(self._master)
            self._master = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        if not self.record.running and not ex.read_pid(prepared):
            self.error = ex.runtime_error(prepared, f"exit status {code}")
            self.exit_code = ex.start_error_code(self.error)
        else:
            self.exit_code = code if code >= 0 else 128 - code
        self.record = ex.finished(self.containers, self.record, self.exit_code, self.error)


def _become_subreaper() -> None:
    """Adopt the detached exec process (prctl(2) PR_SET_CHILD_SUBREAPER) so that we can wait(2) for it."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)


_STATUS: dict[int, int] = {}


def _exited(pid: int) -> bool:
    if pid in _STATUS:
        return True
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not os.path.exists(f"/proc/{pid}")
    if done:
        _STATUS[pid] = os.waitstatus_to_exitcode(status)
    return bool(done)


def _wait(pid: int) -> int:
    if pid not in _STATUS:
        try:
            _, status = os.waitpid(pid, 0)
            _STATUS[pid] = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            return 0
    code = _STATUS.pop(pid)
    return code if code >= 0 else 128 - code


def _drain(fd: int) -> Iterator[tuple[str, bytes]]:
    """What the terminal still holds after its process exited."""
    while select.select([fd], [], [], 0.05)[0]:
        data = _read(fd)
        if not data:
            return
        yield "stdout", data


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, _READ)
    except OSError:
        return b""  # EIO: the pty's slave side closed


def _receive_fd(conn: socket.socket) -> int:
    """The pty master sent with SCM_RIGHTS (the runtime's --console-socket protocol, as runc's recvtty)."""
    fds = array.array("i")
    _, ancdata, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not fds:
        raise InternalError("exec --tty: the runtime sent no terminal")
    return int(fds[0])
