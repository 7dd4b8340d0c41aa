"""The Request and Response every handler takes and returns, independent of any HTTP server or client.

Pure data plus small helpers for JSON bodies and Docker's boolean query values; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument

JSON = "application/json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    method: str
    path: str  # without the /v1.NN prefix
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    params: Mapping[str, str] = field(default_factory=dict)  # from the route's {placeholders}
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

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status=status, body=json.dumps(data).encode() + b"\n", content_type=JSON)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status=status)

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"message": message}, status)
