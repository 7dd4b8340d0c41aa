"""Transports carry one Engine API request: in-process (call the api handlers directly) or, in client/unix.py,
HTTP over a unix socket.

`Transport` is the contract; `InProcessTransport` builds the engine lazily, so a CLI call that fails early never
touches the data root. Neither knows Docker's JSON: they move bytes, status and headers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

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
        self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> RawResponse: ...


class InProcessTransport:
    def __init__(self, engine_factory: Callable[[], Engine]) -> None:
        self._engine_factory = engine_factory
        self._api: Api | None = None

    def request(
        self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> RawResponse:
        if self._api is None:
            from dockyard.api.routes import Api

            self._api = Api(self._engine_factory)
        response = self._api.handle(method, path, query or {}, {}, body or b"")
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


def parse_host(host: str) -> str:
    """`unix:///run/dockyard.sock` → the socket path; other schemes are not supported yet."""
    scheme, sep, rest = host.partition("://")
    if not sep:
        raise InvalidArgument(f"invalid host `{host}`: expected unix:///path")
    if scheme != "unix":
        raise Unsupported(f"host `{host}`: only unix:// sockets are supported")
    if not rest.startswith("/"):
        raise InvalidArgument(f"invalid host `{host}`: the socket path must be absolute")
    return rest
