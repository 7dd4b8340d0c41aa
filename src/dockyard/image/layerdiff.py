"""Writes an overlayfs upper directory as an OCI layer tar (whiteouts converted); only reads the directories.

Must never follow a symlink of the upper or lower directories, nor open anything there but regular files and
directories (O_NOFOLLOW, through directory fds). Output is deterministic: depth first, names in byte order,
PAX format, whole-second mtimes, no user or group names (moby truncates times the same way).
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from dockyard.errors import InvalidArgument, SyscallError
from dockyard.image import whiteouts
from dockyard.image.safepath import RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, SafeRoot

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_LOWER_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS  # overlayfs merges real dirs only
_WHITEOUT_XATTRS = ("trusted.overlay.whiteout", "user.overlay.whiteout")  # "xwhiteouts" (linux 6.7)


def diff_layer(lower_dirs: Sequence[str], upper: str, out: BinaryIO) -> None:
    """Write the changes in the overlayfs `upper` directory (over `lower_dirs`, top first) to `out` as a tar.

    Whiteouts (0:0 character devices) become `.wh.<name>` files and opaque directories get `.wh..wh..opq`; both
    are left out when no lower directory has the name, as they would hide nothing. Hardlinks within `upper`,
    owners, modes, mtimes and xattrs (but overlayfs' own) are kept; sockets are skipped, as Docker does.
    """
    try:
        top = os.open(upper, _OPEN_DIR)
    except OSError as err:
        raise SyscallError("diff layer", upper, err.errno or 0) from err
    lowers: list[SafeRoot] = []
    try:
        for lower in lower_dirs:
            lowers.append(SafeRoot(lower, resolve=_LOWER_RESOLVE))
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, errors="surrogateescape") as tf:
            _Differ(tf, lowers).walk(top)
    except OSError as err:
        raise SyscallError("diff layer", upper, err.errno or 0) from err
    finally:
        for root in lowers:
            root.close()
        os.close(top)


class _Differ:
    def __init__(self, tf: tarfile.TarFile, lowers: list[SafeRoot]) -> None:
        self.tf = tf
        self.lowers = lowers
        self.links: dict[tuple[int, int], str] = {}

    def walk(self, top: int) -> None:
        stack: list[tuple[int, str, Iterator[tuple[bytes, str, os.stat_result]]]] = [(top, "", self._children(top))]
        try:
            while stack:
                dfd, rel, children = stack[-1]
                child = next(children, None)
                if child is None:
                    stack.pop()
                    if dfd != top:
                        os.close(dfd)
                    continue
                _, name, st = child
                path = f"{rel}/{name}" if rel else name
                sub = self._emit(dfd, path, name, st)
                if sub is not None:
                    stack.append((sub, path, self._children(sub)))
        finally:
            for dfd, _, _ in stack:
                if dfd != top:
                    os.close(dfd)

    @staticmethod
    def _children(dfd: int) -> Iterator[tuple[bytes, str, os.stat_result]]:
        """Entries sorted by the name they get in the tar (a whiteout sorts as `.wh.<name>`)."""
        found = []
        with os.scandir(dfd) as entries:
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                hidden = _is_whiteout_dev(st) or _is_xwhiteout(dfd, entry.name, st)
                shown = whiteouts.whiteout_name(entry.name) if hidden else entry.name
                found.append((os.fsencode(shown), entry.name, st))
        return iter(sorted(found, key=lambda item: item[0]))

    def _in_lowers(self, path: str) -> bool:
        if not self.lowers:
            return True
        parent, _, base = path.rpartition("/")
        for lower in self.lowers:
            try:
                pfd = lower.dir_fd(parent, create=False)
                if pfd is not None:
                    os.stat(base, dir_fd=pfd, follow_symlinks=False)
                    return True
            except OSError:
                continue  # missing, or a symlink on the way: overlayfs would not merge through it
        return False

    def _info(self, path: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
        info = tarfile.TarInfo(path)
        info.type = kind
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mtime = int(st.st_mtime)
        return info

    def _whiteout(self, path: str, st: os.stat_result) -> None:
        if not self._in_lowers(path):
            return
        parent, _, base = path.rpartition("/")
        name = whiteouts.whiteout_name(base)
        info = self._info(f"{parent}/{name}" if parent else name, st, tarfile.REGTYPE)
        info.mode = 0o600
        self.tf.addfile(info)

    def _emit(self, dfd: int, path: str, name: str, st: os.stat_result) -> int | None:
        """Add one entry; for a directory return its fd (the caller walks it and closes it)."""
        mode = st.st_mode
        if _is_whiteout_dev(st) or stat.S_ISSOCK(mode):
            if not stat.S_ISSOCK(mode):
                self._whiteout(path, st)
            return None
        xattrs = _read_xattrs(dfd, name)
        if stat.S_ISREG(mode) and st.st_size == 0 and any(k in xattrs for k in _WHITEOUT_XATTRS):
            self._whiteout(path, st)
            return None
        overlay = {k: v for k, v in xattrs.items() if whiteouts.is_overlay_xattr(k)}
        pax = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs.items() if k not in overlay}
        if not stat.S_ISDIR(mode) and st.st_nlink > 1:
            first = self.links.setdefault((st.st_dev, st.st_ino), path)
            if first != path:
                info = self._info(path, st, tarfile.LNKTYPE)
                info.linkname = first
                self.tf.addfile(info)
                return None
        if stat.S_ISDIR(mode):
            return self._dir(dfd, path, name, st, pax, overlay)
        if stat.S_ISREG(mode):
            self._file(dfd, path, name, st, pax)
            return None
        info = self._info(path, st, _TYPES[stat.S_IFMT(mode)])
        info.pax_headers = pax
        if stat.S_ISLNK(mode):
            info.linkname = os.readlink(name, dir_fd=dfd)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        self.tf.addfile(info)
        return None

    def _dir(
        self, dfd: int, path: str, name: str, st: os.stat_result, pax: dict[str, str], overlay: dict[str, bytes]
    ) -> int:
        sub = os.open(name, _OPEN_DIR, dir_fd=dfd)
        info = self._info(path, st, tarfile.DIRTYPE)
        info.pax_headers = pax
        self.tf.addfile(info)
        opaque = any(overlay.get(k) == b"y" for k in whiteouts.OVERLAY_OPAQUE_XATTRS)
        if opaque and self._in_lowers(path):
            marker = self._info(f"{path}/{whiteouts.OPAQUE}", st, tarfile.REGTYPE)
            marker.mode &= 0o777
            self.tf.addfile(marker)
        return sub

    def _file(self, dfd: int, path: str, name: str, st: os.stat_result, pax: dict[str, str]) -> None:
        fd = os.open(name, _OPEN_FILE, dir_fd=dfd)
        with os.fdopen(fd, "rb", buffering=0) as src:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise InvalidArgument(f"diff layer: file `{path}` changed while being read")
            info = self._info(path, now, tarfile.REGTYPE)
            info.size = now.st_size
            info.pax_headers = pax
            try:
                self.tf.addfile(info, src)
            except OSError as err:
                if err.errno is None:  # tarfile: "unexpected end of data" when the file shrank
                    raise InvalidArgument(f"diff layer: file `{path}` changed while being read") from err
                raise


_TYPES = {
    stat.S_IFLNK: tarfile.SYMTYPE,
    stat.S_IFCHR: tarfile.CHRTYPE,
    stat.S_IFBLK: tarfile.BLKTYPE,
    stat.S_IFIFO: tarfile.FIFOTYPE,
}


def _is_whiteout_dev(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_xwhiteout(dfd: int, name: str, st: os.stat_result) -> bool:
    """An empty regular file marked with overlayfs' whiteout xattr (how overlayfs >= 6.7 nests whiteouts)."""
    if not stat.S_ISREG(st.st_mode) or st.st_size:
        return False
    return any(key in _WHITEOUT_XATTRS for key in _read_xattrs(dfd, name))


def _read_xattrs(dfd: int, name: str) -> dict[str, bytes]:
    """All xattrs of `name` in `dfd`, read without following it (llistxattr through the parent's fd)."""
    path = f"/proc/self/fd/{dfd}/{name}"
    try:
        keys = os.listxattr(path, follow_symlinks=False)
        return {key: os.getxattr(path, key, follow_symlinks=False) for key in sorted(keys)}
    except OSError as err:
        if err.errno in (errno.EOPNOTSUPP, errno.ENODATA):  # no xattrs on this file system, or raced away
            return {}
        raise
