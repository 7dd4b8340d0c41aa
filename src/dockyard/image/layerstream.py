"""The uncompressed byte stream of a layer: image/layerdecode.py's decoder on a worker thread, and the diff_id.

`LayerReader` is a forward-only file object (read, tell, forward seek) that tarfile parses headers from, plus
`copy_to`, which writes file payloads without extra copies. It never interprets tar content itself.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import zlib
from collections.abc import Callable
from typing import BinaryIO

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.image.layerdecode import DECODERS, Source, ZstdFrames, sniff
from dockyard.image.transfer.compression import COMPRESSIONS

__all__ = ["COMPRESSIONS", "LayerReader", "ZstdFrames", "sniff"]

_QUEUE_DEPTH = 8


class _Hasher:
    """sha256 of chunks on its own thread (hashlib releases the GIL for large updates)."""

    def __init__(self, update: Callable[[bytes], object]) -> None:
        self._update = update
        self._queue: queue.Queue[bytes | None] = queue.Queue(_QUEUE_DEPTH)
        self._thread = threading.Thread(target=self._run, name="layer-digest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._update(chunk)

    def feed(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()


_SLOW_DECOMPRESSION = ("gzip", "bzip2", "xz")


class LayerReader:
    """Forward-only reader over a layer's uncompressed tar; a worker thread reads, decompresses and hashes."""

    def __init__(self, stream: BinaryIO, compression: str | None, *, digest: bool = True) -> None:
        if compression is not None and compression not in COMPRESSIONS:
            raise InvalidArgument(f"apply layer: unknown compression `{compression}`")
        self._src = Source(stream)
        self.compression = compression or sniff(self._src.peek(6))
        self._decoder = DECODERS[self.compression]
        self._hash = hashlib.sha256() if digest else None
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(_QUEUE_DEPTH)
        self._stop = threading.Event()
        self._buf = b""
        self._pos = 0
        self._offset = 0
        self._done = False
        self.last_read = b""
        # A plain tar that nobody hashes needs no second thread: reading it costs less than handing chunks over.
        self._inline = self._decoder(self._src) if self.compression == "none" and digest is False else None
        self._thread = None
        if self._inline is None:
            self._thread = threading.Thread(target=self._produce, name="layer-decompress", daemon=True)
            self._thread.start()

    @property
    def compressed_bytes(self) -> int:
        return self._src.count

    @property
    def diff_id(self) -> str | None:
        """The sha256 of the uncompressed stream; None when not asked for."""
        return None if self._hash is None else "sha256:" + self._hash.hexdigest()

    def _produce(self) -> None:
        item: bytes | BaseException | None = None
        # Slow decompressors (gzip, bzip2, xz) with hashing take longer than applying: hash on a thread of its
        # own then. zstd decompresses fast enough that a third busy thread costs more than it saves on 2 cores
        # (tmpfs, python3 libs layer: 147.8 ms threaded vs 133.4 ms inline, GNU tar 140.4; gzip 291.7 threaded
        # vs 336.3 inline), so zstd and plain layers are hashed on this thread.
        digest = self._hash
        threaded = digest is not None and self.compression in _SLOW_DECOMPRESSION
        hasher = _Hasher(digest.update) if threaded and digest is not None else None
        try:
            for chunk in self._decoder(self._src):
                if not self._put(chunk):  # hand it over first: the reader starts while the chunk is hashed
                    return
                if hasher is not None:
                    hasher.feed(chunk)
                elif digest is not None:
                    digest.update(chunk)
        except BaseException as err:  # handed to the reading thread, which raises it
            item = err
        finally:
            if hasher is not None:
                hasher.finish()  # the digest is whole before the end of the stream is handed over
        self._put(item)

    def _put(self, item: bytes | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self) -> bool:
        """Make the current chunk non-empty; False at the end of the stream."""
        while self._pos >= len(self._buf):
            if self._done:
                return False
            item = self._next()
            if item is None:
                self._done = True
                return False
            if isinstance(item, BaseException):
                self._done = True
                raise _stream_error(item)
            self._buf, self._pos = item, 0
        return True

    def _next(self) -> bytes | BaseException | None:
        if self._inline is None:
            return self._queue.get()
        try:
            return next(self._inline, None)
        except Exception as err:  # as the worker thread would hand it over
            return err

    def at_end(self) -> bool:
        return not self._fill()

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = 1 << 62
        pos, buf = self._pos, self._buf
        if pos + size <= len(buf):
            self._pos = pos + size
            self._offset += size
            self.last_read = buf[pos : pos + size]
            return self.last_read
        parts = []
        while size and self._fill():
            take = min(size, len(self._buf) - self._pos)
            parts.append(self._buf[self._pos : self._pos + take])
            self._pos += take
            self._offset += take
            size -= take
        self.last_read = b"".join(parts)
        return self.last_read

    def tell(self) -> int:
        return self._offset

    def block_at(self, offset: int, size: int) -> bytes | None:
        """`size` bytes from `offset` (at or after the current position); None when the stream ends before it.

        One call per tar header instead of seek + read: the common case stays within the current chunk.
        """
        buf = self._buf
        pos = self._pos + offset - self._offset
        if self._pos <= pos and pos + size <= len(buf):
            self._pos = pos + size
            self._offset = offset + size
            self.last_read = buf[pos : pos + size]
            return self.last_read
        if self.seek(offset) != offset:
            return None
        return self.read(size)

    def window(self, offset: int) -> tuple[bytes, int]:
        """The current chunk and the index in it of stream position `offset` (at or after the current position).

        The index may lie past the chunk's end; nothing is consumed until `advance` (callers that parse several
        entries straight from the chunk use this instead of one `block_at` + `copy_to` per entry).
        """
        return self._buf, self._pos + offset - self._offset

    def advance(self, offset: int) -> None:
        """Consume up to stream position `offset`, which must lie within the current chunk (see `window`)."""
        self._pos += offset - self._offset
        self._offset = offset

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset if whence == 0 else self._offset + offset
        step = target - self._offset
        if 0 <= step <= len(self._buf) - self._pos:  # the common case: padding within the current chunk
            self._pos += step
            self._offset = target
            return target
        if target < self._offset:
            raise OSError("layer stream: cannot seek backwards")
        while self._offset < target and self._fill():
            step = min(target - self._offset, len(self._buf) - self._pos)
            self._pos += step
            self._offset += step
        return self._offset

    def copy_to(self, fd: int, size: int) -> int:
        """Write the next `size` bytes to `fd`; the number missing when the stream ended early (0 when whole)."""
        pos = self._pos
        if size <= len(self._buf) - pos:  # the common case: a small file within the current chunk
            view = memoryview(self._buf)[pos : pos + size]
            while view:
                view = view[os.write(fd, view) :]
            self._pos = pos + size
            self._offset += size
            return 0
        while size and self._fill():
            take = min(size, len(self._buf) - self._pos)
            view = memoryview(self._buf)[self._pos : self._pos + take]
            while view:
                view = view[os.write(fd, view) :]
            self._pos += take
            self._offset += take
            size -= take
        return size

    def drain(self) -> None:
        """Read to the end, so the digest covers the whole stream and trailing checksums are verified."""
        while self._fill():
            self._offset += len(self._buf) - self._pos
            self._pos = len(self._buf)

    def close(self) -> None:
        self._stop.set()
        if self._thread is None:
            return
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
        self._thread.join()


def _stream_error(err: BaseException) -> DockyardError:
    if isinstance(err, DockyardError):
        return err
    if isinstance(err, zlib.error):
        return InvalidArgument(f"apply layer: corrupt gzip stream: {err}")
    if isinstance(err, OSError):
        return InvalidArgument(f"apply layer: read layer stream: {err.strerror or err}")
    return InvalidArgument(f"apply layer: read layer stream: {err}")
