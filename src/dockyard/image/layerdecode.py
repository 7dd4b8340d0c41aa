"""Layer decompression: compression sniffing and one chunk generator per format (gzip, zstd, bzip2, xz, none).

Turns the raw blob into uncompressed chunks and verifies the format's own framing; never hashes, queues or
interprets tar content (image/layerstream.py does the first two, image/tarheaders.py the last).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.image.transfer.compression import detect

CHUNK = 1 << 20
# why shared: a layer and an archive are told apart by the same magic numbers (image/transfer/compression.py)
sniff = detect


class Source:
    """The raw stream with a peeked prefix put back; counts the bytes read."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.head = b""
        self.count = 0

    def peek(self, size: int) -> bytes:
        while len(self.head) < size:
            more = self.stream.read(size - len(self.head))
            if not more:
                break
            self.head += more
        return self.head

    def read(self, size: int = CHUNK) -> bytes:
        if self.head:
            data, self.head = self.head, b""
        else:
            data = self.stream.read(size)
        self.count += len(data)
        return data


def _plain(src: Source) -> Iterator[bytes]:
    while data := src.read():
        yield data


def _gzip(src: Source) -> Iterator[bytes]:
    """gzip members one after another (pigz and concatenated files); zlib checks each CRC and length."""
    dec = zlib.decompressobj(wbits=31)
    pending = b""
    while True:
        if not pending:
            pending = src.read()
            if not pending:
                raise InvalidArgument("apply layer: corrupt gzip stream: unexpected end of data")
        out = dec.decompress(pending, CHUNK)  # bounded output: a small stream may inflate to gigabytes
        pending = dec.unconsumed_tail
        if out:
            yield out
        if dec.eof:
            pending = dec.unused_data
            while len(pending) < 2 and (more := src.read()):
                pending += more
            if not pending.strip(b"\0"):
                _drain_padding(src)
                return
            if not pending.startswith(b"\x1f\x8b"):
                raise InvalidArgument("apply layer: corrupt compressed stream: trailing garbage")
            dec = zlib.decompressobj(wbits=31)


def _drain_padding(src: Source) -> None:
    """After the last compressed member only zero padding may follow (as gzip(1) accepts)."""
    while data := src.read():
        if data.strip(b"\0"):
            raise InvalidArgument("apply layer: corrupt compressed stream: trailing garbage")


def _zstd(src: Source) -> Iterator[bytes]:
    try:
        import zstandard
    except ImportError as err:
        raise Unsupported("apply layer: zstd layers need the `zstandard` package") from err
    frames = ZstdFrames()

    class _Tap:
        def read(self, size: int = CHUNK) -> bytes:
            data = src.read(size)
            frames.feed(data)
            return data

    try:
        reader = zstandard.ZstdDecompressor().stream_reader(
            cast(BinaryIO, _Tap()), read_size=CHUNK, read_across_frames=True
        )
        while out := reader.read(CHUNK):
            yield out
    except zstandard.ZstdError as err:
        raise InvalidArgument(f"apply layer: corrupt zstd stream: {err}") from err
    if not frames.complete():
        raise InvalidArgument("apply layer: corrupt zstd stream: unexpected end of data")


def _stdlib(kind: str) -> Callable[[Source], Iterator[bytes]]:
    """bzip2 or xz through the standard library (docker load and import accept them), multi-stream aware."""

    def run(src: Source) -> Iterator[bytes]:
        import bz2
        import lzma

        make: Callable[[], bz2.BZ2Decompressor | lzma.LZMADecompressor]
        make = bz2.BZ2Decompressor if kind == "bzip2" else lzma.LZMADecompressor
        dec = make()
        try:
            while True:
                if dec.eof:
                    data = dec.unused_data or src.read()
                    if not data.strip(b"\0"):
                        _drain_padding(src)
                        return
                    dec = make()
                elif dec.needs_input:
                    data = src.read()
                    if not data:
                        raise InvalidArgument(f"apply layer: corrupt {kind} stream: unexpected end of data")
                else:
                    data = b""
                if out := dec.decompress(data, CHUNK):
                    yield out
        except (OSError, EOFError, lzma.LZMAError) as err:
            raise InvalidArgument(f"apply layer: corrupt {kind} stream: {err}") from err

    return run


class ZstdFrames:
    """Walks zstd frame and block headers (RFC 8878) as bytes pass by, to tell a whole stream from a cut one.

    zstandard's stream reader returns a short read instead of failing when the input stops mid-frame.
    """

    def __init__(self) -> None:
        self.buf = b""
        self.skip = 0
        self.state = "magic"
        self.checksum = False
        self.frames = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.skip:
                step = min(self.skip, len(view))
                self.skip -= step
                view = view[step:]
                continue
            need = {"magic": 4, "skippable": 4, "fhd": 1, "block": 3}[self.state]
            take = min(need - len(self.buf), len(view))
            self.buf += bytes(view[:take])
            view = view[take:]
            if len(self.buf) == need:
                header, self.buf = self.buf, b""
                self._header(header)

    def _header(self, header: bytes) -> None:
        value = int.from_bytes(header, "little")
        if self.state == "magic":
            self.state = "fhd" if value == 0xFD2FB528 else "skippable"
            if (value & 0xFFFFFFF0) != 0x184D2A50 and value != 0xFD2FB528:
                self.state = "bad"
        elif self.state == "skippable":
            self.skip, self.state = value, "magic"
        elif self.state == "fhd":
            single, dict_flag, fcs_flag = (value >> 5) & 1, value & 3, value >> 6
            self.checksum = bool(value & 4)
            fcs = (1 if single else 0, 2, 4, 8)[fcs_flag]
            self.skip = (0 if single else 1) + (0, 1, 2, 4)[dict_flag] + fcs
            self.state = "block"
        elif self.state == "block":
            last, kind, size = value & 1, (value >> 1) & 3, value >> 3
            self.skip = 1 if kind == 1 else size
            if last:
                self.skip += 4 if self.checksum else 0
                self.frames += 1
                self.state = "magic"
        if self.state == "bad":
            self.skip = 1 << 62

    def complete(self) -> bool:
        return self.state == "magic" and not self.buf and not self.skip and self.frames > 0


DECODERS: dict[str, Callable[[Source], Iterator[bytes]]] = {
    "none": _plain,
    "gzip": _gzip,
    "zstd": _zstd,
    "bzip2": _stdlib("bzip2"),
    "xz": _stdlib("xz"),
}
