"""The docker CLI's own floor: a unix-socket server that answers instantly with bytes recorded from a real daemon.

A bench runs `docker ps -a` against it in the same interleaved rounds as against dockyardd and dockerd: no
engine can answer faster than a server that does no work, so floor ÷ dockerd is the best ratio any engine could
reach for that command on this machine. Responses are recorded once (`record`) from the daemon under test, with
its headers, and replayed for any request whose path (API version prefix stripped) matches.
"""

from __future__ import annotations

import os
import re
import socketserver
import threading
import urllib.request
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

_VERSION = re.compile(r"^/v1\.\d+")


@dataclass(frozen=True)
class Canned:
    status_line: bytes
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def response(self, head_only: bool) -> bytes:
        lines = [self.status_line, *(f"{k}: {v}".encode() for k, v in self.headers)]
        lines.append(f"Content-Length: {len(self.body)}".encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + (b"" if head_only else self.body)


def record(sock_path: str, target: str) -> Canned:
    """One GET of `target` from the daemon at `sock_path` (through dockyard's own client transport), as it
    answered: status, headers but the framing ones, the whole body."""
    from dockyard.client.unix import UnixTransport

    answer = UnixTransport(sock_path).request("GET", target)
    framing = {"content-length", "transfer-encoding", "connection", "date"}
    kept = tuple((k, v) for k, v in answer.headers.items() if k not in framing)
    status = f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}".encode()
    return Canned(status, kept, answer.read())


class FloorServer:
    """Serves `routes` (path without version → Canned) on a unix socket from a thread; 404 for anything else."""

    def __init__(self, path: Path, routes: dict[str, Canned]) -> None:
        self.path, self.routes = path, routes
        self.server: socketserver.ThreadingUnixStreamServer | None = None
        self.missing = Canned(b"HTTP/1.1 404 Not Found", (("Content-Type", "application/json"),), b'{"message":""}')

    def start(self) -> None:
        routes, missing = self.routes, self.missing

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    request = self.rfile.readline()
                    if not request:
                        return
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # headers; the CLI's GET and HEAD requests have no body
                    method, target = request.split(b" ")[:2]
                    path = _VERSION.sub("", urllib.request.unquote(target.decode()).split("?", 1)[0])
                    self.wfile.write(routes.get(path, missing).response(method == b"HEAD"))
                    self.wfile.flush()

        if self.path.exists():
            os.unlink(self.path)
        self.server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
