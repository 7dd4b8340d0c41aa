"""`docker diff`: the changes of a container's filesystem against its image, as Docker reports them (A/C/D).

Two ways, as moby's drivers: from an overlay upper directory (whiteouts are deletions, paths also in a lower layer
are changes, the rest additions; every directory on the way to a change that exists below is itself "changed"),
or by comparing two trees (a copying snapshotter). Reads the filesystem only; never mounts.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.errors import NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.records import ContainerRecord

MODIFIED, ADDED, DELETED = 0, 1, 2
KIND_LETTER = {MODIFIED: "C", ADDED: "A", DELETED: "D"}
_OPAQUE = "trusted.overlay.opaque"


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    path: str
    kind: int  # 0 modified, 1 added, 2 deleted (Docker's numbering)


@dataclass(frozen=True, slots=True, kw_only=True)
class Layers:
    """Where a container's filesystem lives: read-only lowers (top first), the writable upper (overlay) or the
    container's own full tree (a copying snapshotter), and the merged mount point while it runs."""

    lowers: tuple[str, ...]
    upper: str | None
    tree: str | None = None
    merged: str = ""


def container_layers(containers: Containers, record: ContainerRecord) -> Layers:
    """The layers of `record`, read from its snapshot's mounts (the snapshotter returns them as data)."""
    snapshotter = containers.images.snapshotter
    merged = containers.paths.rootfs(record.id)
    if snapshotter is None:
        return Layers(lowers=(), upper=None, merged=merged)
    key = record.snapshot_key or record.id
    try:
        mounts = snapshotter.mounts(key)
    except NotFound:
        return Layers(lowers=(), upper=None, merged=merged)
    for m in mounts:
        if m.type == "overlay":
            opts = dict(o.split("=", 1) for o in m.options if "=" in o)
            lowers = tuple(p for p in opts.get("lowerdir", "").split(":") if p)
            return Layers(lowers=lowers, upper=opts.get("upperdir"), merged=merged)
    parent = snapshotter.stat(key).parent
    lowers = (snapshotter.path(parent),) if parent else ()
    return Layers(lowers=lowers, upper=None, tree=snapshotter.path(key), merged=merged)


# Docker keeps these in the container's "-init" layer (mount points and files it bind-mounts over), so they never
# show in `docker diff`; the runtime creates them in our writable layer.
INIT_PATHS = frozenset({"/dev", "/dev/pts", "/dev/shm", "/dev/console", "/proc", "/sys", "/.dockerenv", "/etc/mtab",
                        "/etc/resolv.conf", "/etc/hosts", "/etc/hostname"})  # fmt: skip


def changes(layers: Layers) -> list[Change]:
    if layers.upper is not None:
        found = list(overlay_changes(layers.upper, layers.lowers))
    elif layers.tree is not None:
        found = list(tree_changes(layers.lowers[0] if layers.lowers else "", layers.tree))
    else:
        found = []
    return hide_init_paths(sorted(found, key=lambda c: c.path))


def hide_init_paths(found: list[Change]) -> list[Change]:
    """Drop the init layer's paths, and directories listed only because such paths lie below them."""

    def hidden(c: Change) -> bool:
        if c.path in INIT_PATHS and not _has_child(found, c.path):
            return True
        return c.kind == MODIFIED and _only_parent(found, c.path)

    return [c for c in found if not hidden(c)]


def _has_child(found: list[Change], path: str) -> bool:
    prefix = path.rstrip("/") + "/"
    return any(c.path.startswith(prefix) and c.path not in INIT_PATHS for c in found)


def _only_parent(found: list[Change], path: str) -> bool:
    """Whether `path` is a directory listed only as the parent of init-layer entries."""
    prefix = path.rstrip("/") + "/"
    children = [c for c in found if c.path.startswith(prefix)]
    return bool(children) and all(c.path in INIT_PATHS for c in children)


def _exists_below(lowers: Sequence[str], rel: str) -> bool:
    return any(os.path.lexists(os.path.join(lower, rel.lstrip("/"))) for lower in lowers)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, _OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def overlay_changes(upper: str, lowers: Sequence[str]) -> Iterator[Change]:
    """Changes from an overlay upper dir (moby's overlayfs changes with the parent-directory rule)."""
    if not os.path.isdir(upper):
        return
    for root, dirs, files in os.walk(upper):
        rel_root = "/" + os.path.relpath(root, upper).removeprefix(".").lstrip("/")
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            rel = os.path.join(rel_root, name)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            if _is_whiteout(st):
                yield Change(path=rel, kind=DELETED)
                continue
            if name.startswith(".wh."):  # an AUFS-style whiteout in a layer applied as files
                yield Change(path=os.path.join(rel_root, name.removeprefix(".wh.")), kind=DELETED)
                continue
            below = _exists_below(lowers, rel)
            if stat.S_ISDIR(st.st_mode) and below:
                yield Change(path=rel, kind=MODIFIED)
                if _opaque(full):
                    yield from _opaque_deletions(full, rel, lowers)
                continue
            yield Change(path=rel, kind=MODIFIED if below else ADDED)


def _opaque_deletions(full: str, rel: str, lowers: Sequence[str]) -> Iterator[Change]:
    """An opaque directory hides everything below it: entries only in the lowers were deleted."""
    present = set(os.listdir(full))
    hidden: set[str] = set()
    for lower in lowers:
        try:
            hidden.update(os.listdir(os.path.join(lower, rel.lstrip("/"))))
        except OSError:
            continue
    for name in sorted(hidden - present):
        yield Change(path=os.path.join(rel, name), kind=DELETED)


def tree_changes(old: str, new: str) -> Iterator[Change]:
    """Changes between two full trees (moby archive.ChangesDirs): compares type, mode, owner, size, mtime, target."""
    yield from _compare(old, new, "/")


def _compare(old: str, new: str, rel: str) -> Iterator[Change]:
    old_dir, new_dir = os.path.join(old, rel.lstrip("/")), os.path.join(new, rel.lstrip("/"))
    old_names = set(os.listdir(old_dir)) if old and os.path.isdir(old_dir) else set()
    new_names = set(os.listdir(new_dir)) if os.path.isdir(new_dir) else set()
    for name in sorted(old_names | new_names):
        path = os.path.join(rel, name)
        if name not in new_names:
            yield Change(path=path, kind=DELETED)
            continue
        st_new = os.lstat(os.path.join(new_dir, name))
        if name not in old_names:
            yield Change(path=path, kind=ADDED)
            if stat.S_ISDIR(st_new.st_mode):
                yield from _compare("", new, path)
            continue
        st_old = os.lstat(os.path.join(old_dir, name))
        if stat.S_ISDIR(st_new.st_mode) and stat.S_ISDIR(st_old.st_mode):
            below = list(_compare(old, new, path))
            if below or _differs(st_old, st_new, old_dir, new_dir, name, directory=True):
                yield Change(path=path, kind=MODIFIED)
            yield from below
        elif _differs(st_old, st_new, old_dir, new_dir, name, directory=False):
            yield Change(path=path, kind=MODIFIED)


def _differs(a: os.stat_result, b: os.stat_result, adir: str, bdir: str, name: str, *, directory: bool) -> bool:
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return True
    if directory:
        return False
    if a.st_size != b.st_size or a.st_mtime_ns != b.st_mtime_ns or a.st_rdev != b.st_rdev:
        return True
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(os.path.join(adir, name)) != os.readlink(os.path.join(bdir, name))
    return False
