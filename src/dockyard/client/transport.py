"""Transports carry one Engine API request: in-process (call the api handlers directly) or, in client/unix.py,
HTTP over a unix socket or TCP (optionally TLS); `parse_host` reads docker's -H syntax into an `Endpoint`.

`Transport` is the contract; `InProcessTransport` builds the engine lazily, so a CLI call that fails early never
touches the data root. Neither knows Docker's JSON: they move bytes, status and headers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol

from dockyard.errors import InvalidArgument, Unsupported

if TYPE_CHECKING:
    from dockyard.api.messages import Hijack
    from dockyard.api.routes import Api
    from dockyard.engine.engine import Engine


@dataclass(slots=True, kw_only=True)
class RawResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    chunks: Iterator[bytes] = field(default_factory=lambda: iter(()))
    sock: socket.socket | None = None  # a hijacked connection (status 101): raw bytes both ways
    opener: Callable[[], socket.socket] | None = None  # in-process attach: opens that connection on first use

    def read(self) -> bytes:
        return b"".join(self.chunks)


class Transport(Protocol):
    """Send one request; the body of the response may be streamed (iterate `chunks` once)."""

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        upload: BinaryIO | None = None,
    ) -> RawResponse:
        """`upload`, instead of `body`: a file sent as the body as it is read (load, import of large archives)."""
        ...


class InProcessTransport:
    def __init__(self, engine_factory: Callable[[], Engine]) -> None:
        self._engine_factory = engine_factory
        self._api: Api | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        upload: BinaryIO | None = None,
    ) -> RawResponse:
        if self._api is None:
            from dockyard.api.routes import Api

            self._api = Api(self._engine_factory)
        response = self._api.handle(method, path, query or {}, {}, body or b"", upload)
        headers = {k.lower(): v for k, v in response.headers}
        if response.content_type:
            headers["content-type"] = response.content_type
        if response.direct is not None:
            return RawResponse(status=101, headers=headers, opener=response.direct)
        if response.hijack is not None:
            return RawResponse(status=101, headers=headers, sock=_run_hijack(response.hijack))
        chunks = response.stream if response.stream is not None else iter((response.body,))
        return RawResponse(status=response.status, headers=headers, chunks=chunks)


class _SocketDuplex:
    """The api's Duplex over one end of a socketpair (the in-process hijack)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def read(self, n: int = 65536) -> bytes:
        try:
            return self.sock.recv(n)
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as err:
            raise BrokenPipeError(str(err)) from err

    def close_write(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


def _run_hijack(hijack: Hijack) -> socket.socket:
    """Run the handler's hijack in a thread on one end of a socketpair; the caller gets the other end."""
    ours, theirs = socket.socketpair()
    duplex = _SocketDuplex(theirs)

    def run() -> None:
        try:
            hijack(duplex)
        finally:
            duplex.close()

    threading.Thread(target=run, name="hijack", daemon=True).start()
    return ours


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """Where a daemon listens: a unix socket `path`, or a tcp `host` and `port`."""

    scheme: str
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def parse_host(host: str, *, tls: bool = False) -> Endpoint:
    """`unix:///run/dockyard.sock`, `tcp://host:port` (docker's default port 2375, 2376 with TLS), `tcp://[::1]:p`."""
    scheme, sep, rest = host.partition("://")
    if not sep:
        raise InvalidArgument(f"invalid host `{host}`: expected unix:///path or tcp://host:port")
    if scheme == "unix":
        if not rest.startswith("/"):
            raise InvalidArgument(f"invalid host `{host}`: the socket path must be absolute")
        return Endpoint(scheme="unix", path=rest)
    if scheme != "tcp":
        raise Unsupported(f"host `{host}`: unsupported scheme `{scheme}` (use unix:// or tcp://)")
    address = rest.rstrip("/")
    name, colon, port = address.rpartition(":")
    if not colon or (name.count(":") and not name.endswith("]")):  # no port, or a bare IPv6 address
        name, port = address, ""
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise InvalidArgument(f"invalid host `{host}`: invalid port `{port}`")
    name = name.removeprefix("[").removesuffix("]") or "127.0.0.1"
    if "/" in name:
        raise InvalidArgument(f"invalid host `{host}`: expected tcp://host:port")
    return Endpoint(scheme="tcp", host=name, port=int(port) if port else (2376 if tls else 2375))
