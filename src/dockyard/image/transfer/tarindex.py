"""Random access to the files of an image archive (a tar in a seekable file).

`TarIndex` reads every header once, checks that each member's data lies inside the file (a truncated archive is
"unexpected end of data", not a silently shorter file), and opens members by name. Symlinks and hardlinks between
members (Docker ≥ 25 links `<id>/layer.tar` to `../blobs/sha256/<hex>`) are followed inside the archive only: a
name never resolves to anything outside it. Nothing is extracted to disk.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from typing import BinaryIO, Protocol

from dockyard.errors import InvalidArgument, NotFound

_MAX_LINKS = 16
MAX_JSON = 32 << 20  # a manifest, config or index larger than this is refused (Docker reads them whole too)


class ArchiveFiles(Protocol):
    """Read-only access to the files of an archive by their `/`-separated relative name."""

    label: str

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

    def open(self, name: str) -> BinaryIO: ...


def normalize(name: str) -> str:
    """`./a//b/../c` → `a/c`, `/a` → `a`; a name that leaves the archive (`../x`) keeps its leading `..`."""
    return posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."


def read_small(files: ArchiveFiles, name: str, what: str) -> bytes:
    """The whole of a small member (a JSON document); NotFound when absent, InvalidArgument when too large."""
    if not files.exists(name):
        raise NotFound(f"{files.label}: {what} `{name}` not found in the archive")
    if files.size(name) > MAX_JSON:
        raise InvalidArgument(f"{files.label}: {what} `{name}` is larger than {MAX_JSON} bytes")
    with files.open(name) as f:
        return f.read()


class _Member(io.RawIOBase):
    """A window onto one member's bytes in the shared archive file (positions tracked per reader)."""

    def __init__(self, fileobj: BinaryIO, offset: int, size: int) -> None:
        self._f = fileobj
        self._offset = offset
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        self._f.seek(self._offset + self._pos)
        data = self._f.read(want)
        if len(data) < want:
            raise InvalidArgument("read archive member: unexpected end of data")
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class TarIndex:
    """The members of a tar held in a seekable binary file; regular files, directories and links only."""

    def __init__(self, fileobj: BinaryIO, label: str = "load") -> None:
        self.label = label
        self._f = fileobj
        self._members: dict[str, tarfile.TarInfo] = {}
        end = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(0)
        if end == 0:
            return  # an empty stream is an empty tar (Go's reader says io.EOF at once)
        try:
            with tarfile.open(fileobj=fileobj, mode="r:") as tf:
                for m in tf:
                    if m.isreg() and m.offset_data + m.size > end:
                        raise InvalidArgument(f"{label}: archive member `{m.name}`: unexpected end of data")
                    self._members[normalize(m.name)] = m
        except tarfile.ReadError as err:
            reason = "unexpected end of data" if "unexpected end" in str(err) else f"invalid tar archive: {err}"
            raise InvalidArgument(f"{label}: {reason}") from err
        except (EOFError, tarfile.HeaderError) as err:
            raise InvalidArgument(f"{label}: invalid tar archive: {err}") from err
        if not self._members and end > 0 and not _all_zero(fileobj, end):
            raise InvalidArgument(f"{label}: invalid tar archive: no valid header")

    def names(self) -> list[str]:
        return sorted(self._members)

    def _resolve(self, name: str) -> tarfile.TarInfo | None:
        current = normalize(name)
        for _ in range(_MAX_LINKS):
            m = self._members.get(current)
            if m is None or current.startswith(".."):
                return None
            if m.issym():
                current = normalize(posixpath.join(posixpath.dirname(current), m.linkname))
            elif m.islnk():
                current = normalize(m.linkname)
            else:
                return m if m.isreg() else None
        raise InvalidArgument(f"{self.label}: archive member `{name}`: too many levels of links")

    def exists(self, name: str) -> bool:
        return self._resolve(name) is not None

    def size(self, name: str) -> int:
        m = self._resolve(name)
        if m is None:
            raise NotFound(f"{self.label}: `{name}` not found in the archive")
        return m.size

    def open(self, name: str) -> BinaryIO:
        m = self._resolve(name)
        if m is None:
            raise NotFound(f"{self.label}: `{name}` not found in the archive")
        reader: BinaryIO = io.BufferedReader(_Member(self._f, m.offset_data, m.size), 1 << 20)
        return reader


def _all_zero(fileobj: BinaryIO, end: int) -> bool:
    """An archive of only zero blocks is an empty tar (Go's reader says EOF), not garbage."""
    fileobj.seek(0)
    left = end
    while left > 0:
        chunk = fileobj.read(min(left, 1 << 16))
        if not chunk or chunk.strip(b"\0"):
            return False
        left -= len(chunk)
    return True
