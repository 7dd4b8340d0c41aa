"""The overlayfs snapshotter: each committed layer is one directory, shared by every image and container on it.

An active snapshot is an upper + work directory over its parents' directories (lowerdir nearest first); a
snapshot without parent is a plain bind mount of its directory, a view of one layer a read-only bind (as
containerd's overlay snapshotter does). Returns mounts as data; whether overlay works on the data root's file
system is `supported()` (a test mount), decided once per data root by `image.snapshots.choose`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from dockyard.image.snapshots.base import Kind, Mount
from dockyard.image.snapshots.common import FileSnapshotter, _Record, remove_tree

_INDEX_PARAM = "/sys/module/overlay/parameters/index"


class OverlaySnapshotter(FileSnapshotter):
    name = "overlay"

    def __init__(self, root: str, *, recover: bool = True) -> None:
        super().__init__(root, recover=recover)
        # index=off: hard links across layers and a re-used upper dir never trip the inode index; moby's overlay2
        # and containerd turn it off where the kernel has the parameter.
        self._extra: tuple[str, ...] = ("index=off",) if os.path.exists(_INDEX_PARAM) else ()

    def _populate(self, directory: str, parent: _Record | None, kind: Kind) -> None:
        if kind == "active":
            os.mkdir(os.path.join(directory, "work"), 0o700)

    def _mounts(self, key: str, record: _Record, parents: list[_Record]) -> list[Mount]:
        fs = self._fs(record.id)
        if record.kind == "active":
            if not parents:
                return [Mount(type="bind", source=fs, options=("rbind", "rw"))]
            work = os.path.join(os.path.dirname(fs), "work")
            lower = ":".join(self._fs(p.id) for p in parents)
            options = (*self._extra, f"workdir={work}", f"upperdir={fs}", f"lowerdir={lower}")
            return [Mount(type="overlay", source="overlay", options=options)]
        if not parents:
            return [Mount(type="bind", source=fs, options=("rbind", "ro"))]
        if len(parents) == 1:
            return [Mount(type="bind", source=self._fs(parents[0].id), options=("rbind", "ro"))]
        lower = ":".join(self._fs(p.id) for p in parents)
        return [Mount(type="overlay", source="overlay", options=(*self._extra, "ro", f"lowerdir={lower}"))]


def supported(root: str) -> tuple[bool, str]:
    """Whether an overlay with its upper directory under `root` mounts here, and why not.

    Checks as containerd's overlayutils.Supported does: not on overlayfs itself (an upper layer cannot live on
    overlayfs), and a real test mount of two lowers and an upper in a temporary directory (needs root).
    """
    from dockyard.image.snapshots.mount import mount, unmount

    os.makedirs(root, exist_ok=True)
    if _fs_type(root) == "overlay":
        return False, f"`{root}` is on overlayfs"
    if os.geteuid() != 0:
        return False, "not running as root"
    test = tempfile.mkdtemp(prefix=".overlay-check-", dir=root)
    try:
        l1, l2, upper, work, merged = (os.path.join(test, n) for n in ("l1", "l2", "upper", "work", "merged"))
        for path in (l1, l2, upper, work, merged):
            os.mkdir(path)
        options = (f"lowerdir={l1}:{l2}", f"upperdir={upper}", f"workdir={work}")
        try:
            mount(Mount(type="overlay", source="overlay", options=options), merged)
        except Exception as err:
            return False, str(err)
        unmount(merged)
        return True, ""
    finally:
        with contextlib.suppress(OSError):
            remove_tree(test)


def _fs_type(path: str) -> str:
    """The file system type of the mount holding `path`, from /proc/self/mountinfo (os.statvfs has no f_type)."""
    real = os.path.realpath(path)
    best, fstype = "", ""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            point = fields[4]
            sep = fields.index("-")
            if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, fstype = point, fields[sep + 1]
    return fstype
