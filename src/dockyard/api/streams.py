"""Docker's stdcopy framing: an 8-byte header (stream, 0, 0, 0, big-endian size) before each payload."""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR = 0, 1, 2
STREAMS = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR}
_HEADER = struct.Struct(">BxxxL")


def frame(stream: int, payload: bytes) -> bytes:
    return _HEADER.pack(stream, len(payload)) + payload


def split_frames(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Decode as many whole frames as `buf` holds; returns them and the unconsumed rest."""
    out = []
    while len(buf) >= _HEADER.size:
        stream, size = _HEADER.unpack_from(buf)
        if len(buf) < _HEADER.size + size:
            break
        out.append((stream, buf[_HEADER.size : _HEADER.size + size]))
        buf = buf[_HEADER.size + size :]
    return out, buf
