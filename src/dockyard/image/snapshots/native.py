"""The native (copying) snapshotter: every snapshot is a full copy of its parent, shown by a bind mount.

For data roots where overlayfs cannot serve (an overlayfs or otherwise unsuitable file system, no root for the
test mount) and as the snapshotter unit tests run without root. The copy is `cp -a --reflink=auto` (GNU
coreutils): it keeps hard links, devices, ownership, modes, times and xattrs, which shutil.copytree does not.
"""

from __future__ import annotations

import os
import subprocess

from dockyard.errors import InternalError
from dockyard.image.snapshots.base import Kind, Mount
from dockyard.image.snapshots.common import FileSnapshotter, _Record


class NativeSnapshotter(FileSnapshotter):
    name = "native"

    def _populate(self, directory: str, parent: _Record | None, kind: Kind) -> None:
        if parent is None:
            return
        source = self._fs(parent.id)
        target = os.path.join(directory, "fs")
        proc = subprocess.run(
            ["cp", "-a", "--reflink=auto", "--", f"{source}/.", f"{target}/"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise InternalError(f"copy snapshot `{source}`: {proc.stderr.strip() or f'cp exited {proc.returncode}'}")

    def _mounts(self, key: str, record: _Record, parents: list[_Record]) -> list[Mount]:
        mode = "rw" if record.kind == "active" else "ro"
        return [Mount(type="bind", source=self._fs(record.id), options=("rbind", mode))]
