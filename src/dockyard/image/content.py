"""The content store: blobs addressed by digest, written through a verifying, crash-safe writer.

Owns <root>/blobs/<alg>/<hex> and <root>/ingest/. A blob becomes visible only by an atomic rename after its
size and digest were verified and its bytes fsynced; an interrupted or bad write leaves at most an ingest file,
removed when a store next opens the root. Knows nothing of manifests, names or layers.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO, Protocol

from dockyard.errors import InternalError, InvalidArgument, NotFound
from dockyard.oci.digest import ALGORITHMS, CANONICAL, Digest, Hasher, new_hasher
from dockyard.oci.model import Model

_CHUNK = 1 << 20


class BlobInfo(Model):
    digest: Digest
    size: int
    created_at: float  # seconds since the epoch when the blob was committed


def not_found(digest: Digest) -> NotFound:
    return NotFound(f"blob `{digest}`: not found")


class BlobWriter(Protocol):
    """Streams one blob in. `commit()` verifies and publishes it; leaving the `with` block uncommitted, or
    `abort()`, discards it. A writer is single-use and not shared between threads."""

    @property
    def written(self) -> int: ...

    def write(self, data: bytes) -> int: ...

    def digest(self) -> Digest: ...

    def commit(self) -> BlobInfo: ...

    def abort(self) -> None: ...

    def __enter__(self) -> BlobWriter: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ContentStore(Protocol):
    """Content-addressed blobs.

    Contract: `info`, `open` and `delete` raise NotFound("blob `<digest>`: not found") for an absent blob.
    `writer(expected, size)` returns a BlobWriter whose `commit()` raises InvalidArgument on a size or digest
    mismatch and publishes nothing then; committing bytes already present succeeds (same content). Readers
    never see a partial blob. `check()` re-hashes every blob and lists what is wrong, one message each.
    """

    def info(self, digest: Digest) -> BlobInfo: ...

    def exists(self, digest: Digest) -> bool: ...

    def open(self, digest: Digest) -> BinaryIO: ...

    def writer(self, expected: Digest | None = None, size: int | None = None) -> BlobWriter: ...

    def delete(self, digest: Digest) -> None: ...

    def walk(self) -> Iterator[BlobInfo]: ...

    def check(self) -> list[str]: ...


class VerifyingWriter:
    """Hashing, counting and verification shared by both stores; subclasses keep the bytes."""

    def __init__(self, expected: Digest | None, size: int | None) -> None:
        if size is not None and size < 0:
            raise InvalidArgument(f"write blob `{expected}`: size {size} is negative")
        self._expected = expected
        self._size = size
        self._hasher: Hasher = new_hasher(expected.algorithm if expected else CANONICAL)
        self._algorithm = expected.algorithm if expected else CANONICAL
        self._written = 0
        self._done = False

    @property
    def written(self) -> int:
        return self._written

    def _label(self) -> str:
        return str(self._expected) if self._expected else "ingest"

    def write(self, data: bytes) -> int:
        if self._done:
            raise InternalError(f"write blob `{self._label()}`: writer is closed")
        if self._size is not None and self._written + len(data) > self._size:
            self.abort()
            raise InvalidArgument(f"write blob `{self._label()}`: size mismatch, more than {self._size} bytes")
        self._store_chunk(data)
        self._hasher.update(data)
        self._written += len(data)
        return len(data)

    def digest(self) -> Digest:
        return Digest(algorithm=self._algorithm, hex=self._hasher.hexdigest())

    def commit(self) -> BlobInfo:
        if self._done:
            raise InternalError(f"commit blob `{self._label()}`: writer is closed")
        actual = self.digest()
        try:
            if self._size is not None and self._written != self._size:
                raise InvalidArgument(
                    f"commit blob `{self._expected or actual}`: size mismatch,"
                    f" expected {self._size} bytes, got {self._written}"
                )
            if self._expected is not None and actual != self._expected:
                raise InvalidArgument(f"commit blob `{self._expected}`: digest mismatch, got {actual}")
            info = self._publish(actual)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return info

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._discard()

    def __enter__(self) -> VerifyingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()

    def _store_chunk(self, data: bytes) -> None:
        raise NotImplementedError

    def _publish(self, digest: Digest) -> BlobInfo:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


def _fsync_dir(path: str) -> None:
    # A rename is durable only once the directory holding the new entry is fsynced (rename(2), fsync(2)).
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _LocalWriter(VerifyingWriter):
    def __init__(self, store: LocalContentStore, expected: Digest | None, size: int | None) -> None:
        super().__init__(expected, size)
        self._store = store
        # A shared lock on ingest.lock for the writer's lifetime keeps the ingest cleaner (exclusive) away.
        self._lock_fd = os.open(store.ingest_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
            fd, self._path = tempfile.mkstemp(dir=store.ingest_dir, prefix="blob-", suffix=".ingest")
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._file = os.fdopen(fd, "wb")

    def __del__(self) -> None:
        # A writer dropped without commit or abort: release its lock and ingest file now, not at exit.
        with contextlib.suppress(Exception):
            self.abort()

    def _store_chunk(self, data: bytes) -> None:
        self._file.write(data)

    def _publish(self, digest: Digest) -> BlobInfo:
        self._file.flush()
        os.fsync(self._file.fileno())
        os.fchmod(self._file.fileno(), 0o444)
        self._file.close()
        target_dir = os.path.join(self._store.root, "blobs", digest.algorithm)
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, digest.hex)
        os.rename(self._path, target)  # atomic; over an existing blob it swaps in identical bytes
        _fsync_dir(target_dir)
        self._release()
        return self._store.info(digest)

    def _discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        self._release()

    def _release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # drops the shared flock
            self._lock_fd = -1


class LocalContentStore:
    """Blobs on disk under `root`: blobs/<alg>/<hex> (read-only files) and ingest/ for writes in progress."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.ingest_dir = os.path.join(self.root, "ingest")
        self.ingest_lock = os.path.join(self.root, "ingest.lock")
        os.makedirs(os.path.join(self.root, "blobs", CANONICAL), exist_ok=True)
        os.makedirs(self.ingest_dir, exist_ok=True)
        self.clean_ingest()

    def _path(self, digest: Digest) -> str:
        return os.path.join(self.root, "blobs", digest.algorithm, digest.hex)

    def clean_ingest(self) -> int:
        """Remove ingest files of dead writers; skipped (returns 0) while any writer is active."""
        fd = os.open(self.ingest_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            removed = 0
            for name in os.listdir(self.ingest_dir):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.ingest_dir, name))
                    removed += 1
            return removed
        finally:
            os.close(fd)

    def info(self, digest: Digest) -> BlobInfo:
        try:
            st = os.stat(self._path(digest))
        except FileNotFoundError as err:
            raise not_found(digest) from err
        return BlobInfo(digest=digest, size=st.st_size, created_at=st.st_mtime)

    def exists(self, digest: Digest) -> bool:
        return os.path.isfile(self._path(digest))

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return open(self._path(digest), "rb")  # the caller closes it
        except FileNotFoundError as err:
            raise not_found(digest) from err

    def writer(self, expected: Digest | None = None, size: int | None = None) -> BlobWriter:
        return _LocalWriter(self, expected, size)

    def delete(self, digest: Digest) -> None:
        try:
            os.unlink(self._path(digest))
        except FileNotFoundError as err:
            raise not_found(digest) from err

    def walk(self) -> Iterator[BlobInfo]:
        for digest, _path in self._entries():
            with contextlib.suppress(NotFound):  # deleted while walking
                yield self.info(digest)

    def _entries(self) -> list[tuple[Digest, str]]:
        found: list[tuple[Digest, str]] = []
        for algorithm in sorted(ALGORITHMS):
            directory = os.path.join(self.root, "blobs", algorithm)
            with contextlib.suppress(FileNotFoundError):
                for name in sorted(os.listdir(directory)):
                    with contextlib.suppress(InvalidArgument):
                        found.append((Digest(algorithm=algorithm, hex=name), os.path.join(directory, name)))
        return found

    def check(self) -> list[str]:
        problems: list[str] = []
        for digest, path in self._entries():
            try:
                with open(path, "rb") as f:
                    actual = Digest.of_stream(f, digest.algorithm)
            except FileNotFoundError:
                continue
            except OSError as err:
                problems.append(f"blob `{digest}`: {os.strerror(err.errno or 0).lower()}")
                continue
            if actual != digest:
                problems.append(f"blob `{digest}`: digest mismatch, got {actual}")
        problems.extend(self._strays())
        return problems

    def _strays(self) -> list[str]:
        """Files under blobs/ that are not named as a digest of their directory's algorithm."""
        out: list[str] = []
        blobs = os.path.join(self.root, "blobs")
        known = {str(p) for _d, p in self._entries()}
        for algorithm in sorted(os.listdir(blobs)):
            directory = os.path.join(blobs, algorithm)
            if algorithm not in ALGORITHMS or not os.path.isdir(directory):
                out.append(f"blob `{directory}`: unexpected entry")
                continue
            out.extend(
                f"blob `{os.path.join(directory, n)}`: unexpected entry"
                for n in sorted(os.listdir(directory))
                if os.path.join(directory, n) not in known
            )
        return out


def write_blob(store: ContentStore, data: bytes, expected: Digest | None = None) -> BlobInfo:
    """Store `data` in one call, verifying it against `expected` when given."""
    with store.writer(expected, len(data)) as w:
        w.write(data)
        return w.commit()


def read_blob(store: ContentStore, digest: Digest) -> bytes:
    with store.open(digest) as f:
        return f.read()


def copy_stream(store: ContentStore, stream: BinaryIO, expected: Digest | None, size: int | None) -> BlobInfo:
    """Stream a reader into the store in 1 MiB chunks, verifying size and digest."""
    with store.writer(expected, size) as w:
        while chunk := stream.read(_CHUNK):
            w.write(chunk)
        return w.commit()
