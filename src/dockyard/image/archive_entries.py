"""The layer entries other than files and directories: symlinks, devices and fifos, hardlinks, whiteouts and
opaque directories, as the `EntryKinds` part of image/archive.py's applier (the hardening rules are that
module's docstring), and the error wording both share. Nothing here opens a path by name: every object is
reached from a directory fd of `SafeRoot` with *at(2) calls that do not follow symlinks.
"""

from __future__ import annotations

import os
import stat
import tarfile

from dockyard.errors import InvalidArgument
from dockyard.image import whiteouts
from dockyard.image.safepath import SafeRoot, clean_name
from dockyard.image.tarheaders import entry_times

OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
DEVICE_TYPES = {tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK, tarfile.FIFOTYPE: stat.S_IFIFO}


def quote(name: str) -> str:
    return name if len(name) <= 200 else name[:200] + "…"


def bad(name: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f"apply layer: entry `{quote(name)}`: {reason}")


class EntryKinds:
    """What the applier (image/archive.py `_Applier`) provides, and its entry kinds other than files and dirs."""

    root: SafeRoot
    chown: bool
    added: set[str]
    counts: dict[str, int]

    def _replace(self, dirfd: int, name: str, *keep: int) -> None:
        raise NotImplementedError  # the applier's

    def _set_xattrs(self, target: int | str, m: tarfile.TarInfo, *, follow: bool = True) -> None:
        raise NotImplementedError  # the applier's

    def _symlink(self, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        if not m.linkname:
            raise bad(m.name, "empty symlink target")
        try:
            os.symlink(m.linkname, base, dir_fd=pfd)
        except FileExistsError:
            self._replace(pfd, base)
            os.symlink(m.linkname, base, dir_fd=pfd)
        if self.chown:
            os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if m.pax_headers:
            # lsetxattr(2) has no *at form before linux 6.13: name the link through the parent's fd
            self._set_xattrs(f"/proc/self/fd/{pfd}/{base}", m, follow=False)
        os.utime(base, ns=entry_times(m), dir_fd=pfd, follow_symlinks=False)
        self.counts["symlinks"] += 1

    def _device(self, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        kind = DEVICE_TYPES[m.type]
        device = 0 if kind == stat.S_IFIFO else os.makedev(m.devmajor, m.devminor)
        try:
            os.mknod(base, kind | 0o600, device, dir_fd=pfd)
        except FileExistsError:
            self._replace(pfd, base)
            os.mknod(base, kind | 0o600, device, dir_fd=pfd)
        # Never open a device: an O_PATH fd names the inode, and /proc/self/fd/N reaches it for chmod & co.
        fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            if stat.S_IFMT(os.fstat(fd).st_mode) != kind:
                raise bad(m.name, "changed while being created")
            path = f"/proc/self/fd/{fd}"
            if self.chown:
                os.chown(path, m.uid, m.gid)
            if m.pax_headers:
                self._set_xattrs(path, m)
            os.chmod(path, m.mode & 0o7777)
            os.utime(path, ns=entry_times(m))
        finally:
            os.close(fd)
        self.counts["devices"] += 1

    def _hardlink(self, m: tarfile.TarInfo, rel: str, parent: str, base: str) -> None:
        target, escaped = clean_name(m.linkname)
        if escaped or not target:
            raise bad(m.name, f"invalid hardlink to `{quote(m.linkname)}`: target escapes the root")
        if target == rel:
            raise bad(m.name, "invalid hardlink to itself")
        tparent, _, tbase = target.rpartition("/")
        pfd = self.root.dir_fd(parent, create=True)
        tpfd = self.root.dir_fd(tparent, create=False)
        assert pfd is not None
        if tpfd is None:
            raise bad(m.name, f"hardlink target `{quote(m.linkname)}` not found")
        try:
            try:
                os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
            except FileExistsError:
                self._replace(pfd, base, tpfd)
                os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError as err:
            raise bad(m.name, f"hardlink target `{quote(m.linkname)}` not found") from err
        except PermissionError as err:
            raise bad(m.name, f"invalid hardlink to `{quote(m.linkname)}`: operation not permitted") from err
        self.counts["hardlinks"] += 1

    def _whiteout(self, name: str, parent: str, base: str) -> None:
        if base == whiteouts.OPAQUE:
            self._opaque(parent)
            return
        target = whiteouts.whiteout_target(base)
        if target is None:
            return
        if target in ("", ".", ".."):
            raise bad(name, "invalid whiteout")
        self.counts["whiteouts"] += 1
        if (f"{parent}/{target}" if parent else target) in self.added:
            return
        pfd = self.root.dir_fd(parent, create=False)
        if pfd is not None:
            self._replace(pfd, target)

    def _opaque(self, parent: str) -> None:
        self.counts["opaque_dirs"] += 1
        pfd = self.root.dir_fd(parent, create=False)
        if pfd is None:
            return
        fd = os.open(".", OPEN_DIR, dir_fd=pfd)
        try:
            prefix = f"{parent}/" if parent else ""
            for child in os.listdir(fd):
                if prefix + child not in self.added:
                    self._replace(fd, child, pfd)
        finally:
            os.close(fd)
