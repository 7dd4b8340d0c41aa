"""The in-memory ContentStore: the same contract as LocalContentStore (image/content.py), nothing on disk; for
tests and for callers that need a scratch store."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

from dockyard.image.content import BlobInfo, BlobWriter, VerifyingWriter, not_found
from dockyard.oci.digest import Digest


class _MemoryWriter(VerifyingWriter):
    def __init__(self, store: MemoryContentStore, expected: Digest | None, size: int | None) -> None:
        super().__init__(expected, size)
        self._store = store
        self._buffer = io.BytesIO()

    def _store_chunk(self, data: bytes) -> None:
        self._buffer.write(data)

    def _publish(self, digest: Digest) -> BlobInfo:
        return self._store._put(digest, self._buffer.getvalue())

    def _discard(self) -> None:
        self._buffer = io.BytesIO()


class MemoryContentStore:
    """The in-memory fake: same contract, nothing on disk. Thread-safe."""

    def __init__(self) -> None:
        self._blobs: dict[Digest, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def _get(self, digest: Digest) -> tuple[bytes, float]:
        with self._lock:
            entry = self._blobs.get(digest)
        if entry is None:
            raise not_found(digest)
        return entry

    def _put(self, digest: Digest, data: bytes) -> BlobInfo:
        with self._lock:
            entry = self._blobs.setdefault(digest, (data, time.time()))
        return BlobInfo(digest=digest, size=len(entry[0]), created_at=entry[1])

    def info(self, digest: Digest) -> BlobInfo:
        data, created = self._get(digest)
        return BlobInfo(digest=digest, size=len(data), created_at=created)

    def exists(self, digest: Digest) -> bool:
        with self._lock:
            return digest in self._blobs

    def open(self, digest: Digest) -> BinaryIO:
        return io.BytesIO(self._get(digest)[0])

    def writer(self, expected: Digest | None = None, size: int | None = None) -> BlobWriter:
        return _MemoryWriter(self, expected, size)

    def delete(self, digest: Digest) -> None:
        with self._lock:
            if self._blobs.pop(digest, None) is None:
                raise not_found(digest)

    def walk(self) -> Iterator[BlobInfo]:
        with self._lock:
            items = sorted(self._blobs.items())
        for digest, (data, created) in items:
            yield BlobInfo(digest=digest, size=len(data), created_at=created)

    def check(self) -> list[str]:
        with self._lock:
            items = sorted(self._blobs.items())
        problems = []
        for digest, (data, _created) in items:
            actual = Digest.of_bytes(data, digest.algorithm)
            if actual != digest:
                problems.append(f"blob `{digest}`: digest mismatch, got {actual}")
        return problems

    def tamper(self, digest: Digest, data: bytes) -> None:
        """For tests: replace a blob's bytes unverified, as disk corruption would."""
        with self._lock:
            _old, created = self._blobs[digest]
            self._blobs[digest] = (data, created)
