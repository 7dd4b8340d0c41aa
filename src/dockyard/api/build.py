"""POST /build (the classic builder's endpoint): the build context received as a stream and spooled to disk.

Owns reading the context tar (plain, gzip, bzip2 or xz, as the docker CLI may send it) off the request as it
arrives into one temp file under `<data>/tmp`, checked as a tar on the way, and finding the Dockerfile in it with
moby's rules and messages. The context is never held in memory, and a body cut short leaves nothing behind.
Dockerfile builds themselves are not implemented yet (no `build/` package): after the context has been read
the request ends with a 501. When the builder comes, it takes the `BuildContext` (and this spooling may move
to build/context.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, BinaryIO, cast

from dockyard.api.messages import Request, Response
from dockyard.errors import InvalidArgument, Unsupported

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

DEFAULT_DOCKERFILE = "Dockerfile"
MAX_DOCKERFILE = 16 << 20  # the Dockerfile itself is read into memory: bounded
_READ = 1 << 20
_PREFIX = "build-context-"


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildContext:
    path: str  # the context as the client sent it (maybe compressed), spooled; removed when the build ends
    dockerfile_name: str  # as found in the context (moby falls back to `dockerfile` for the default name)
    dockerfile: bytes


class _Tee:
    """Reads `source` and writes every byte read to `sink`: the tar is checked while it is spooled."""

    def __init__(self, source: BinaryIO, sink: BinaryIO) -> None:
        self._source, self._sink = source, sink

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(_READ if n < 0 else n)
        if data:
            self._sink.write(data)
        return data

    def drain(self) -> None:
        while self.read(_READ):
            pass


def _clean(name: str) -> str:
    """A tar member name or the `dockerfile` parameter as a path relative to the context root."""
    return posixpath.normpath("/" + name).lstrip("/")


def _members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members of a tar stream. Like Go's archive/tar (and so dockerd), a stream may end right after the last
    member's data, without its padding: the docker CLI sends such a tar for `build -f -`. Data cut short is an
    error still."""
    last: tarfile.TarInfo | None = None
    while True:
        try:
            member = tf.next()
        except tarfile.ReadError:
            reached = tf.fileobj.tell() if tf.fileobj is not None else 0  # bytes the stream held (decompressed)
            if last is not None and reached >= last.offset_data + last.size:
                return
            raise
        if member is None:
            return
        last = member
        yield member


def _scan(tee: _Tee, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """Walk the tar stream to its end; the regular files named in `wanted` (cleaned names) → their contents."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=cast(IO[bytes], tee), mode="r|*", bufsize=_READ) as tf:
            for member in _members(tf):
                name = _clean(member.name)
                if name not in wanted or not member.isfile():
                    continue
                if member.size > MAX_DOCKERFILE:
                    raise InvalidArgument(f"the Dockerfile ({name}) is larger than {MAX_DOCKERFILE} bytes")
                data = tf.extractfile(member)
                found[name] = data.read() if data is not None else b""
    except (tarfile.TarError, EOFError, OSError) as err:
        reason = str(err).lower() or "unexpected end of data"
        raise InvalidArgument(f"read build context: {reason}") from err
    tee.drain()  # the end-of-archive blocks and any padding: the whole body is read
    return found


@contextlib.contextmanager
def spooled_context(upload: BinaryIO, tmp_dir: str, dockerfile: str = "") -> Iterator[BuildContext]:
    """Read the context off `upload` into a temp file in `tmp_dir` and find the Dockerfile; the file is removed
    when the block ends, and at once when the body is cut short or is not a tar (the error propagates)."""
    name = _clean(dockerfile or DEFAULT_DOCKERFILE)
    if not name or name == ".":
        raise InvalidArgument(f"Cannot locate specified Dockerfile: {dockerfile}")
    candidates = (name, name.lower()) if name == DEFAULT_DOCKERFILE else (name,)
    os.makedirs(tmp_dir, mode=0o700, exist_ok=True)
    fd, hidden = tempfile.mkstemp(prefix="." + _PREFIX, suffix=".tar", dir=tmp_dir)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held until the end (by `lock`): `sweep_spooled` removes only unlocked ones
    lock = os.dup(fd)
    path = os.path.join(tmp_dir, os.path.basename(hidden)[1:])
    os.rename(hidden, path)  # why: locked before the sweep can see it under its name
    try:
        with os.fdopen(fd, "wb") as sink:
            found = _scan(_Tee(upload, sink), candidates)
        chosen = next((c for c in candidates if c in found), None)
        if chosen is None:
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {dockerfile or DEFAULT_DOCKERFILE}")
        if not found[chosen].strip():
            raise InvalidArgument(f"the Dockerfile ({dockerfile or DEFAULT_DOCKERFILE}) cannot be empty")
        yield BuildContext(path=path, dockerfile_name=chosen, dockerfile=found[chosen])
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(lock)


def sweep_spooled(tmp_dir: str) -> None:
    """Remove the contexts spooled by processes that died mid-build (dockyardd start): any not locked now."""
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(tmp_dir):
            if not entry.startswith(_PREFIX):
                continue
            path = os.path.join(tmp_dir, entry)
            with contextlib.suppress(OSError), open(path, "rb") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(path)


def build(engine: Engine, req: Request) -> Response:
    """POST /build: the context is read whole (the docker CLI sends it before it reads any answer), then 501."""
    if req.query.get("remote"):
        raise Unsupported("build: remote build contexts are not supported by this engine")
    upload = req.upload or io.BytesIO(req.body)
    with spooled_context(upload, engine.paths.tmp, req.query.get("dockerfile", "")):
        raise Unsupported("build: Dockerfile builds are not supported by this engine yet")
