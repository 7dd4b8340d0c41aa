"""`HttpTransport`: the Engine API over HTTP/1.1 to a unix socket or a tcp:// host (TLS when asked), one
connection per request. Moves bytes; knows nothing of Docker's JSON.

Why not http.client: importing it costs ~20 ms (ssl, email), more than a whole request to a local daemon. The
client side of HTTP/1.1 that the Engine API needs is small: one request with Content-Length, then a response
framed by Content-Length, chunked encoding or the end of the connection (`Connection: close`), or `101` and the
raw connection for attach. ssl is imported only for a TLS host.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, BinaryIO

from dockyard import tracing
from dockyard.client.transport import Endpoint, RawResponse
from dockyard.errors import InvalidArgument, Unavailable

if TYPE_CHECKING:
    import ssl
    from io import BufferedReader

    from dockyard.client.hosts import TLSOptions

_CHUNK = 65536
_MAX_HEAD = 65536


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def urlencode(query: Mapping[str, str]) -> str:
    """urllib.parse.urlencode for a mapping of strings (that module imports ipaddress: ~1 ms)."""

    def quote(text: str) -> str:
        return "".join(chr(b) if b in _SAFE else "+" if b == 0x20 else f"%{b:02X}" for b in text.encode())

    return "&".join(f"{quote(str(k))}={quote(str(v))}" for k, v in query.items())


def tls_context(options: TLSOptions) -> ssl.SSLContext:
    """A client context: the CA (or the system's) when verifying, else no verification; the client key pair."""
    import ssl

    try:
        if options.verify:
            context = ssl.create_default_context(cafile=options.ca)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if options.cert:
            context.load_cert_chain(options.cert, options.key)
    except (OSError, ssl.SSLError) as err:
        what = options.cert or options.ca or "tls"
        raise InvalidArgument(f"tls `{what}`: {getattr(err, 'strerror', None) or err}".lower()) from err
    return context


class HttpTransport:
    """HTTP/1.1 to `endpoint`; one connection per request (a streamed body closes it when drained)."""

    def __init__(self, endpoint: Endpoint, tls: TLSOptions | None = None) -> None:
        self.endpoint = endpoint
        self._context = tls_context(tls) if tls is not None and endpoint.scheme == "tcp" else None

    def connect(self) -> socket.socket:
        """A connected socket (TLS-wrapped for a TLS host); Unavailable with docker's wording when refused."""
        try:
            if self.endpoint.scheme == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(self.endpoint.path)
                except OSError:
                    sock.close()
                    raise
                return sock
            sock = socket.create_connection((self.endpoint.host, self.endpoint.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as err:
            raise Unavailable(
                f"Cannot connect to the dockyard daemon at {self.endpoint}. Is the daemon running?"
            ) from err
        return self._wrap(sock) if self._context is not None else sock

    def _wrap(self, sock: socket.socket) -> socket.socket:
        import ssl

        assert self._context is not None
        try:
            return self._context.wrap_socket(sock, server_hostname=self.endpoint.host)
        except ssl.SSLError as err:
            sock.close()
            reason = str(err.reason or err).replace("_", " ").lower()
            raise Unavailable(f"tls handshake with `{self.endpoint}`: {reason}") from err
        except OSError as err:
            sock.close()
            raise Unavailable(f"tls handshake with `{self.endpoint}`: {err.strerror or err}".lower()) from err

    def _head(self, method: str, url: str, extra: str) -> bytes:
        host = "dockyard" if self.endpoint.scheme == "unix" else f"{self.endpoint.host}:{self.endpoint.port}"
        return f"{method} {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dockyard-cli\r\n{extra}\r\n".encode()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        upload: BinaryIO | None = None,
    ) -> RawResponse:
        url = path + ("?" + urlencode(query) if query else "")
        tracing.mark_request(method, path)
        extra = "Connection: close\r\n"
        if upload is not None:  # sent as it is read (chunked): a 2 GB `load` never sits in memory
            extra += "Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n"
        elif body is not None:
            extra += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        elif method in ("POST", "PUT", "PATCH"):
            extra += "Content-Length: 0\r\n"
        sock = self.connect()
        try:
            sock.sendall(self._head(method, url, extra) + (body or b"" if upload is None else b""))
            if upload is not None:
                _send_chunked(sock, upload)
            reader = sock.makefile("rb")
            status, headers = read_head(reader)
        except (OSError, ValueError) as err:
            sock.close()
            raise Unavailable(f"{method} {path}: {err}") from err
        return RawResponse(status=status, headers=headers, chunks=_body(sock, reader, method, status, headers))

    def hijack(
        self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> RawResponse:
        """A request whose answer is `101 UPGRADED` and then the raw connection (attach, exec start), in
        `RawResponse.sock`. The head is read byte by byte so that no stream byte behind it is swallowed."""
        tracing.mark_request(method, path)
        url = path + ("?" + urlencode(query) if query else "")
        sock = self.connect()
        kind = "text/plain" if body is None else "application/json"
        extra = f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: {kind}\r\nContent-Length: {len(body or b'')}\r\n"
        try:
            sock.sendall(self._head(method, url, extra) + (body or b""))
            raw = _recv_head(sock, self._context is None)
            if raw is None:
                raise Unavailable(f"{method} {path}: the daemon closed the connection")
            status, headers = parse_head(raw)
        except (OSError, ValueError) as err:
            sock.close()
            raise Unavailable(f"{method} {path}: {err}") from err
        if status in (101, 200):
            return RawResponse(status=101, headers=headers, sock=sock)
        with sock:
            reader = sock.makefile("rb")
            body = b"".join(_body(sock, reader, method, status, headers))
        return RawResponse(status=status, headers=headers, chunks=iter((body,)))


def _recv_head(sock: socket.socket, peek: bool) -> bytes | None:
    """The response head up to its blank line and not a byte further (the raw stream follows it); None at EOF.
    Why MSG_PEEK: reading byte by byte cost a recv call per byte of the head (~100 for attach); a TLS socket
    cannot peek, so it still does that."""
    raw = b""
    while True:
        if not peek:
            byte = sock.recv(1)
            if not byte:
                return None
            raw += byte
            if raw.endswith(b"\r\n\r\n"):
                return raw
            continue
        seen = sock.recv(_MAX_HEAD, socket.MSG_PEEK)
        if not seen:
            return None
        end = (raw + seen).find(b"\r\n\r\n", max(0, len(raw) - 3))
        take = len(seen) if end < 0 else end + 4 - len(raw)
        raw += _recv_exactly(sock, take)
        if end >= 0:
            return raw


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    """`size` bytes that a peek has shown are there already."""
    parts = []
    while size > 0:
        part = sock.recv(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _send_chunked(sock: socket.socket, upload: BinaryIO) -> None:
    """`upload` in chunked encoding. The daemon may answer before the end (413, an error the handler met) and
    close: the send stops there, and its answer is read as usual."""
    try:
        while data := upload.read(_CHUNK):
            sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass


class UnixTransport(HttpTransport):
    """HTTP over the unix socket at `socket_path`."""

    def __init__(self, socket_path: str) -> None:
        super().__init__(Endpoint(scheme="unix", path=socket_path))
        self.socket_path = socket_path


def parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    """`HTTP/1.1 200 OK\\r\\nName: value…` → (200, {lower-case name: value}); ValueError when malformed."""
    status_line, *lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/") or not code.isdigit():
        raise ValueError(f"malformed status line {status_line[:80]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    return int(code), headers


def read_head(reader: BufferedReader) -> tuple[int, dict[str, str]]:
    """Read a response head (status line and headers) from `reader`, skipping `100 Continue`."""
    while True:
        lines = []
        size = 0
        while True:
            line = reader.readline(_MAX_HEAD)
            if not line:
                raise ValueError("the daemon closed the connection")
            size += len(line)
            if line in (b"\r\n", b"\n") or size > _MAX_HEAD:
                break
            lines.append(line.rstrip(b"\r\n"))
        status, headers = parse_head(b"\r\n".join(lines))
        if status != 100:
            return status, headers


def _body(
    sock: socket.socket, reader: BufferedReader, method: str, status: int, headers: Mapping[str, str]
) -> Iterator[bytes]:
    """The response body as it arrives: by chunked encoding, Content-Length, or up to the end of the connection."""
    try:
        if method == "HEAD" or status in (101, 204, 304):
            return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            yield from _chunked(reader)
        elif "content-length" in headers:
            left = int(headers["content-length"])
            while left > 0 and (data := reader.read1(min(left, _CHUNK))):
                left -= len(data)
                yield data
        else:
            while data := reader.read1(_CHUNK):
                yield data
    finally:
        reader.close()
        sock.close()


def _chunked(reader: BufferedReader) -> Iterator[bytes]:
    while True:
        size_line = reader.readline(_MAX_HEAD)
        if not size_line:
            return  # the connection ended early: what came is what there is
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while reader.readline(_MAX_HEAD) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        left = size
        while left > 0 and (data := reader.read1(min(left, _CHUNK))):
            left -= len(data)
            yield data
        reader.readline(_MAX_HEAD)  # the CRLF after the chunk
