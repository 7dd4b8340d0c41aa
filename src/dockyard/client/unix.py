"""`UnixTransport`: HTTP/1.1 over AF_UNIX with http.client (a module of its own: http.client imports ssl, ~15 ms,
which the daemonless path never needs). Moves bytes; knows nothing of Docker's JSON.
"""

from __future__ import annotations

import http.client
import socket
import urllib.parse
from collections.abc import Iterator, Mapping

from dockyard.client.transport import RawResponse
from dockyard.errors import Unavailable


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError as err:
            sock.close()
            raise Unavailable(
                f"Cannot connect to the dockyard daemon at unix://{self.socket_path}. Is the daemon running?"
            ) from err
        self.sock = sock


class UnixTransport:
    """HTTP/1.1 over AF_UNIX with http.client; one connection per request (streams close it when drained)."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    def hijack(self, method: str, path: str, *, query: Mapping[str, str] | None = None) -> RawResponse:
        return hijack(self.socket_path, method, path, query)

    def request(
        self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> RawResponse:
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        conn = _UnixConnection(self.socket_path)
        headers = {"Host": "dockyard", "User-Agent": "dockyard-cli"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, url, body=body, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise Unavailable(f"{method} {path}: {err}") from err

        def chunks() -> Iterator[bytes]:
            try:
                while data := resp.read1(65536):
                    yield data
            finally:
                conn.close()

        headers_out = {k.lower(): v for k, v in resp.getheaders()}
        return RawResponse(status=resp.status, headers=headers_out, chunks=chunks())


def hijack(socket_path: str, method: str, path: str, query: Mapping[str, str] | None = None) -> RawResponse:
    """A request whose answer is `101 UPGRADED` and then the raw connection (attach): the socket is returned in
    `RawResponse.sock`. The head is read byte by byte so that no stream byte behind it is swallowed."""
    url = path + ("?" + urllib.parse.urlencode(query) if query else "")
    conn = _UnixConnection(socket_path)
    conn.connect()
    sock = conn.sock
    head = (f"{method} {url} HTTP/1.1\r\nHost: dockyard\r\nUser-Agent: dockyard-cli\r\nConnection: Upgrade\r\n"
            "Upgrade: tcp\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
    try:
        sock.settimeout(None)
        sock.sendall(head.encode())
        raw = b""
        while not raw.endswith(b"\r\n\r\n"):
            byte = sock.recv(1)
            if not byte:
                raise Unavailable(f"{method} {path}: the daemon closed the connection")
            raw += byte
    except OSError as err:
        sock.close()
        raise Unavailable(f"{method} {path}: {err}") from err
    status_line, *lines = raw.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    if status in (101, 200):
        return RawResponse(status=101, headers=headers, sock=sock)
    body = b""
    with sock:
        want = int(headers.get("content-length", "0") or 0)
        while len(body) < want and (data := sock.recv(65536)):
            body += data
    return RawResponse(status=status, headers=headers, chunks=iter((body,)))
