"""Compression of whole image archives (`docker save | gzip`, `… | zstd`): detection by magic bytes, and a
decompressing copy into a seekable file that the archive readers index.

Decompression is strict where Go's readers are: a stream cut short is "unexpected end of data", bytes after a
gzip member that are not another member are "invalid gzip header". Knows nothing of tar or images.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Protocol

from dockyard.errors import InvalidArgument

_CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_MAGIC = ((GZIP_MAGIC, "gzip"), (ZSTD_MAGIC, "zstd"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
COMPRESSIONS = ("none", "gzip", "zstd", "bzip2", "xz")


def detect(head: bytes) -> str:
    """`gzip`, `zstd`, `bzip2`, `xz` from the first bytes of a stream, else `none`."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "none"


class _Decoder(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes) -> bytes: ...


def _gzip() -> _Decoder:
    decoder: _Decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return decoder


def _zstd() -> _Decoder:
    import zstandard

    decoder: _Decoder = zstandard.ZstdDecompressor().decompressobj()
    return decoder


def _bzip2() -> _Decoder:
    decoder: _Decoder = bz2.BZ2Decompressor()
    return decoder


def _xz() -> _Decoder:
    decoder: _Decoder = lzma.LZMADecompressor()
    return decoder


_FACTORIES: dict[str, tuple[Callable[[], _Decoder], bytes]] = {
    "gzip": (_gzip, GZIP_MAGIC),
    "zstd": (_zstd, ZSTD_MAGIC),
    "bzip2": (_bzip2, b"BZh"),
    "xz": (_xz, b"\xfd7zXZ\x00"),
}


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def decompress(src: Readable, dst: Writable, kind: str, what: str) -> int:
    """Write the decompressed bytes of `src` (compressed with `kind`) to `dst`; returns the bytes written.

    Concatenated members/frames are read in turn (gzip -c a b, pzstd). `what` names the stream in errors.
    """
    if kind not in _FACTORIES:
        raise InvalidArgument(f"{what}: unknown compression `{kind}`")
    factory, magic = _FACTORIES[kind]
    decoder = factory()
    written = 0
    pending = b""
    try:
        while True:
            data = pending or src.read(_CHUNK)
            pending = b""
            if not data:
                break
            out = decoder.decompress(data)
            dst.write(out)
            written += len(out)
            if decoder.eof:
                rest = decoder.unused_data
                if rest and not rest.startswith(magic[: len(rest)]):
                    raise InvalidArgument(f"{what}: invalid {kind} header after the end of the stream")
                decoder, pending = factory(), rest
                if not pending:
                    nxt = src.read(_CHUNK)
                    if not nxt:
                        return written
                    pending = nxt
    except (zlib.error, OSError, EOFError, lzma.LZMAError) as err:
        raise InvalidArgument(f"{what}: corrupt {kind} stream: {err}") from err
    except Exception as err:
        if type(err).__name__ == "ZstdError":
            raise InvalidArgument(f"{what}: corrupt {kind} stream: {err}") from err
        raise
    raise InvalidArgument(f"{what}: unexpected end of data")
