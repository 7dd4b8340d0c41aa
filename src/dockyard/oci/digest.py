"""Content digests (`sha256:<hex>`): parsing with go-digest's rules and wording, hashing bytes and streams.

Error messages are go-digest's own ("invalid checksum digest format", "invalid checksum digest length",
"unsupported digest algorithm") rather than the house style: the docker CLI and scripts show and match them
verbatim. Pure: no I/O beyond reading a stream handed in.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import IO, Any, Protocol

from dockyard.errors import InvalidArgument, SpecError

# Hex length per algorithm; go-digest v1.0.0 registers these three (crypto/sha512 brings sha384 along).
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha384": 96, "sha512": 128}
CANONICAL = "sha256"

ERR_FORMAT = "invalid checksum digest format"
ERR_LENGTH = "invalid checksum digest length"
ERR_UNSUPPORTED = "unsupported digest algorithm"

# go-digest's DigestRegexpAnchored: decides "unsupported" versus "invalid format" for unknown algorithms.
_ANY_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)
_LOWER_HEX = re.compile(r"[a-f0-9]+", re.ASCII)

_CHUNK = 1 << 20


class Hasher(Protocol):
    """The part of a hashlib object the store uses."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def _validate(algorithm: str, hex_: str) -> None:
    size = ALGORITHMS.get(algorithm)
    if size is None:
        if not algorithm or not hex_ or not _ANY_DIGEST.fullmatch(f"{algorithm}:{hex_}"):
            raise InvalidArgument(ERR_FORMAT)
        raise InvalidArgument(ERR_UNSUPPORTED)
    if len(hex_) != size:
        raise InvalidArgument(ERR_LENGTH)
    if not _LOWER_HEX.fullmatch(hex_):
        raise InvalidArgument(ERR_FORMAT)


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A validated digest; `str(d)` is `algorithm:hex`. Construction validates like `Digest.parse`."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        _validate(self.algorithm, self.hex)

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse `sha256:<64 lowercase hex>` (or sha384/sha512), following go-digest's Validate."""
        if not isinstance(text, str):
            raise InvalidArgument(ERR_FORMAT)
        algorithm, sep, hex_ = text.partition(":")
        if not sep or not algorithm or not hex_:
            raise InvalidArgument(ERR_FORMAT)
        return cls(algorithm=algorithm, hex=hex_)

    @classmethod
    def of_bytes(cls, data: bytes, algorithm: str = CANONICAL) -> Digest:
        h = new_hasher(algorithm)
        h.update(data)
        return cls(algorithm=algorithm, hex=h.hexdigest())

    @classmethod
    def of_stream(cls, stream: IO[bytes], algorithm: str = CANONICAL) -> Digest:
        """Digest everything left in a binary stream (read in 1 MiB chunks)."""
        h = new_hasher(algorithm)
        while chunk := stream.read(_CHUNK):
            h.update(chunk)
        return cls(algorithm=algorithm, hex=h.hexdigest())

    def hasher(self) -> Hasher:
        """A fresh hash object of this digest's algorithm, to verify content against it."""
        return new_hasher(self.algorithm)

    def short(self) -> str:
        """The 12-character form docker shows for IDs (`docker images`, `docker ps`)."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def __json_decode__(cls, value: Any, path: str) -> Digest:
        """jsonmodel hook: a digest is a JSON string."""
        if not isinstance(value, str):
            raise SpecError(path, "expected a digest string")
        try:
            return cls.parse(value)
        except InvalidArgument as err:
            raise SpecError(path, f"`{value}`: {err.message}") from err

    def __json_encode__(self) -> str:
        return str(self)


def new_hasher(algorithm: str = CANONICAL) -> Hasher:
    if algorithm not in ALGORITHMS:
        raise InvalidArgument(ERR_UNSUPPORTED)
    h: Hasher = hashlib.new(algorithm)
    return h


def is_digest(text: str) -> bool:
    """True when `text` parses as a digest."""
    try:
        Digest.parse(text)
    except InvalidArgument:
        return False
    return True
