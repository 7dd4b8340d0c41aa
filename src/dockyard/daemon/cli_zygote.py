"""dockyardd's handle on the CLI zygote (the process is cli/zygote.py): binds its root-only socket beside the API
socket, starts it, replaces it when it dies, and stops it; imports nothing of the CLI (the layer rule), only names
its module.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import subprocess
import sys
import threading

log = logging.getLogger("dockyardd")
RESTART_DELAY = 0.5  # between a zygote's death and its replacement (no busy loop when it cannot start)


def cli_socket_for(api_socket: str) -> str:
    """The CLI zygote's socket beside a daemon's unix API socket: /run/dockyard.sock → /run/dockyard-cli.sock
    (cli/fastpath.py's DEFAULT_CLI_SOCKET; a unit test keeps the two in step)."""
    base = api_socket[: -len(".sock")] if api_socket.endswith(".sock") else api_socket
    return f"{base}-cli.sock"


def clear_stale(path: str) -> None:
    """Remove a socket file nobody serves; OSError(EADDRINUSE) when another zygote answers there."""
    if not os.path.exists(path):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)
            return
    raise OSError(errno.EADDRINUSE, f"listen on `{path}`: another cli zygote is serving this socket")


class CliZygote:
    """dockyardd's handle: owns the socket (0600, bound once, so a restarted zygote loses no connection) and a
    watcher thread that replaces a zygote that died."""

    def __init__(self, path: str, host: str, python: str = sys.executable) -> None:
        self.path, self.host, self.python = path, host, python
        self.listener: socket.socket | None = None
        self.lifeline = -1
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            clear_stale(self.path)
            old = os.umask(0o177)  # why: bind creates the file; it never exists with looser permissions than 0600
            try:
                listener.bind(self.path)
            finally:
                os.umask(old)
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        self.listener = listener
        read_end, self.lifeline = os.pipe2(os.O_CLOEXEC)
        try:
            self._spawn(read_end)
        finally:
            os.close(read_end)
        threading.Thread(target=self._watch, args=(self.proc,), name="cli-zygote", daemon=True).start()

    def _spawn(self, read_end: int) -> None:
        from dockyard.engine.zygote import spawn_python

        assert self.listener is not None
        fds = (self.listener.fileno(), read_end)
        self.proc = spawn_python("dockyard.cli.zygote", fds, (self.host,), python=self.python)

    def _watch(self, proc: subprocess.Popen[bytes] | None) -> None:
        while proc is not None:
            proc.wait()
            if self.stopping.wait(RESTART_DELAY):
                return
            log.warning("cli zygote exited with status %s; starting another", proc.returncode)
            with self.lock:
                if self.stopping.is_set():
                    return
                read_end, write_end = os.pipe2(os.O_CLOEXEC)
                os.close(self.lifeline)
                self.lifeline = write_end
                try:
                    self._spawn(read_end)
                except OSError as err:
                    log.warning("cli zygote: %s", err.strerror or err)
                    self.proc = None
                finally:
                    os.close(read_end)
                proc = self.proc

    def stop(self) -> None:
        with self.lock:
            self.stopping.set()
            if self.lifeline >= 0:
                os.close(self.lifeline)  # the zygote's poll sees it and exits
                self.lifeline = -1
            if self.proc is not None:
                try:
                    self.proc.wait(2)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.listener is not None:
                self.listener.close()
                self.listener = None
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
