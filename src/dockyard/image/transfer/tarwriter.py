"""A streaming tar writer for image archives: regular files from bytes or streams, directories, symlinks.

Writes forward only (`tarfile` in `w|` mode), so `save` can stream to a pipe; headers are deterministic (uid 0,
mode 0644/0755, a fixed mtime) so saving the same images twice gives the same bytes. Reads nothing itself.
"""

from __future__ import annotations

import io
import tarfile
from typing import BinaryIO

from dockyard.errors import InternalError


class TarWriter:
    def __init__(self, out: BinaryIO, mtime: int = 0) -> None:
        self._tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115 (see close)
        self._mtime = mtime
        self._names: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def _info(self, name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        if name in self._names:
            raise InternalError(f"write archive: `{name}` written twice")
        self._names.add(name)
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.mtime = self._mtime
        info.uname = info.gname = ""
        return info

    def add_dir(self, name: str) -> None:
        if name not in self._names:
            self._tf.addfile(self._info(name, tarfile.DIRTYPE, 0o755))

    def add_bytes(self, name: str, data: bytes) -> None:
        info = self._info(name, tarfile.REGTYPE, 0o644)
        info.size = len(data)
        self._tf.addfile(info, io.BytesIO(data))

    def add_stream(self, name: str, stream: BinaryIO, size: int) -> None:
        """Copy exactly `size` bytes of `stream`; a shorter stream is an error (the header is already out)."""
        info = self._info(name, tarfile.REGTYPE, 0o644)
        info.size = size
        try:
            self._tf.addfile(info, stream)
        except OSError as err:
            raise InternalError(f"write archive: `{name}`: {err}") from err

    def add_symlink(self, name: str, target: str) -> None:
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self._tf.addfile(info)

    def close(self) -> None:
        self._tf.close()
