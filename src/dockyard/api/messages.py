"""The Request and Response every handler takes and returns, independent of any HTTP server or client.

Pure data plus small helpers for JSON bodies and Docker's boolean query values; no I/O.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from dockyard.errors import InvalidArgument

JSON = "application/json"
RAW_STREAM = "application/vnd.docker.raw-stream"  # TTY: the container's bytes as they are
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"  # no TTY: 8-byte stdcopy frames (API >= 1.42)


class Duplex(Protocol):
    """The raw, bidirectional byte stream of a hijacked connection (attach, exec start), used from one thread.

    Contract: `read(n)` blocks until at least one byte is there and returns at most `n` bytes; it returns b""
    once the client half-closed (or went away), and keeps returning b"" then. Bytes the client sent in the
    same packet as its request headers come first (never lost). `write(data)` sends all of `data`; it raises
    `BrokenPipeError` once the client is gone (and after `close()`). `close_write()` half-closes: the client
    reads EOF while `read` keeps working (the way `docker run` learns the output ended). `close()` closes both
    directions; the server also closes after the hijack callable returns.
    """

    def read(self, n: int = 65536) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def close_write(self) -> None: ...

    def close(self) -> None: ...


Hijack = Callable[[Duplex], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    method: str
    path: str  # without the /v1.NN prefix
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    params: Mapping[str, str] = field(default_factory=dict)  # from the route's {placeholders}
    # In-process only (load, import): the body as a file read as the handler goes, instead of `body`, so a large
    # archive is never held in memory.
    upload: BinaryIO | None = None
    version: str = ""  # the API version the client asked for (or the server's)

    def flag(self, name: str, default: bool = False) -> bool:
        """Docker's query booleans: absent → default; "", 0, no, false, none → False; anything else True."""
        if name not in self.query:
            return default
        return self.query[name].strip().lower() not in ("", "0", "no", "false", "none")

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as err:
            raise InvalidArgument(f"invalid JSON: {err}") from err


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    stream: Iterator[bytes] | None = None  # a streamed body (logs --follow); `body` is then empty
    # Connection hijack (attach, exec start): the server answers `101 UPGRADED` (`200 OK` when the client did
    # not ask for `Upgrade: tcp`) with `content_type` (default RAW_STREAM), then calls `hijack(duplex)` in a
    # worker thread and closes the connection when it returns; `status`, `body` and `stream` are ignored.
    # The in-process transport calls it with its own Duplex. Errors must be answered *before* (a plain
    # error Response), since after the 101 only bytes can flow.
    hijack: Hijack | None = None
    # In-process only (attach): a callable that opens a socket already speaking the hijacked stream, so the CLI
    # reads it directly — no relay thread, no socketpair. Called lazily by the client; the daemon uses `hijack`.
    direct: Callable[[], socket.socket] | None = None
    # With `stream`: called once (from the server's event loop, so it must only set a flag) when the client
    # hangs up before the stream ended, so a body blocked in a wait (wait, logs -f, events) ends and frees its
    # worker thread instead of holding it until the container exits. engine/cancel.py's `Cancel.set` fits.
    cancel: Callable[[], None] | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status=status, body=json.dumps(data).encode() + b"\n", content_type=JSON)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status=status)

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"message": message}, status)
