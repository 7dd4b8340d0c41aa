"""Hardened application of an image layer (tar, gzip, zstd) onto a snapshot directory; re-exports `diff_layer`.

Must not let any entry create, write, read, chmod, chown, utime or link anything outside the root, and must
never open a device, fifo or symlink. `tarfile` only parses headers (never `extract*`): every path is resolved
by `SafeRoot` with openat2(RESOLVE_IN_ROOT) to a directory fd, and the last component is handled with *at(2)
calls that do not follow symlinks (O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat, symlinkat, mknodat, linkat without
AT_SYMLINK_FOLLOW, fchownat/utimensat with AT_SYMLINK_NOFOLLOW) or with an fd of the object itself.

Decisions, case by case (moby = docker's pkg/archive ApplyLayer, containerd = archive.Apply):
- `..` components and absolute names: cleaned like Go's filepath.Clean("/" + name) and confined to the root
  (containerd); a name that cleans to the root itself may only be a directory, which sets the root's metadata.
- Symlinks in the parent path (from an earlier layer or earlier in the same tar, absolute or relative, chains):
  followed as if the root were `/` (RESOLVE_IN_ROOT); loops fail with "too many levels of symbolic links".
  A dangling symlink in the parent path gets its target created inside the root, like containerd's mkparent.
- Symlink entries: the target is stored verbatim, whatever it is; it is never followed when the entry is created,
  chowned, timed or given xattrs (lsetxattr through /proc/self/fd/<parent>/<name>).
- Hardlinks: a target that `..` takes above the root is refused with "invalid hardlink" (moby); an absolute
  target is rooted; the target must exist already; linkat never follows a final symlink, so a link to a symlink
  that points outside is a second symlink. A hardlink to itself is refused.
- Whiteouts `.wh.<name>`: remove `<name>` of the directory they sit in, resolved like any path; `<name>` empty,
  `.` or `..` is refused ("invalid whiteout"). Per the OCI spec they only hide lower layers: an entry this same
  layer added is kept. `.wh..wh..opq` empties its directory's lower content, keeping what this layer added; other
  `.wh..wh.*` names and everything under `.wh..wh.plnk/` (AUFS metadata) are skipped.
- Devices and fifos are created with mknodat (root needed) and only ever touched through O_PATH fds.
- Replacing: a directory over a directory merges (metadata updated); anything else first removes what is there,
  recursively for a directory, through fds and never following symlinks (moby's rule).
- Ownership is numeric (names ignored) and applied only when running as root; xattrs come from PAX
  `SCHILY.xattr.*` after chown (chown clears security.capability); overlayfs' own `trusted.overlay.*` /
  `user.overlay.*` are dropped; EPERM/ENOTSUP on an xattr is counted, not fatal (moby). Mode (setuid, setgid,
  sticky) is applied after chown, which clears them. Times use atime = max(atime, mtime) (moby). Directory
  modes and times are applied after the whole layer, so creating their content cannot change them.
- An empty stream is an empty layer (Go's tar reader says io.EOF); a stream cut inside a header or a file is an
  error ("unexpected end of data"), as is garbage where a header should be ("invalid tar header"); the stream is
  read to its end so that compressed checksums are verified and `diff_id` covers all of it.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from dataclasses import dataclass
from typing import IO, BinaryIO, cast

from dockyard.errors import DockyardError, InvalidArgument, SyscallError
from dockyard.image import whiteouts
from dockyard.image.archive_entries import DEVICE_TYPES, EntryKinds
from dockyard.image.archive_entries import OPEN_DIR as _OPEN_DIR
from dockyard.image.archive_entries import bad as _bad
from dockyard.image.archive_entries import quote as _quote
from dockyard.image.filerun import FileRuns
from dockyard.image.layerdiff import diff_layer
from dockyard.image.layerstream import LayerReader
from dockyard.image.safepath import SafeRoot, clean_name, remove_entry
from dockyard.image.tarheaders import FastTarInfo, PlainFile, entry_times, entry_xattrs, members

__all__ = ["LayerStats", "apply_layer", "diff_layer"]

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# errnos that describe the layer's content rather than the host: reported as InvalidArgument
_CONTENT_ERRNOS = {
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.ENOENT,
    errno.ENAMETOOLONG,
    errno.ELOOP,
    errno.EXDEV,
    errno.EMLINK,
    errno.EINVAL,
}
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
_WH, _META = whiteouts.PREFIX, whiteouts.META_PREFIX


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerStats:
    """What apply_layer did; `diff_id` is the sha256 of the uncompressed tar (the image config's rootfs entry).

    `diff_id` is None when apply_layer was told not to compute it.
    """

    compression: str
    diff_id: str | None
    compressed_bytes: int
    tar_bytes: int
    entries: int
    files: int
    directories: int
    symlinks: int
    hardlinks: int
    devices: int
    whiteouts: int
    opaque_dirs: int
    content_bytes: int
    xattrs_skipped: int


def apply_layer(stream: BinaryIO, root: str, *, compression: str | None = None, digest: bool = True) -> LayerStats:
    """Apply the layer read from `stream` onto the existing directory `root` (see the module docstring).

    `compression` is "none", "gzip", "zstd", "bzip2" or "xz"; None sniffs the magic bytes. `digest=False` skips the
    sha256 of the tar (a third of the CPU time of a plain layer) when the caller knows it already. Raises
    InvalidArgument for a bad layer, Unsupported without openat2 or without the zstandard package.
    """
    reader = LayerReader(stream, compression, digest=digest)
    try:
        with SafeRoot(root) as sroot:
            applier = _Applier(sroot, reader)
            applier.run()
            applier.finish()
        reader.drain()
    finally:
        reader.close()
    counts = applier.counts
    return LayerStats(
        compression=reader.compression,
        diff_id=reader.diff_id,
        compressed_bytes=reader.compressed_bytes,
        tar_bytes=reader.tell(),
        xattrs_skipped=len(applier.skipped_xattrs),
        **counts,
    )


def _umask() -> int:
    """The process umask, read without os.umask (which would change it for every thread for a moment)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777  # unknown: always chmod explicitly


def _os_error(name: str, err: OSError) -> DockyardError:
    code = err.errno or 0
    if code in _CONTENT_ERRNOS:
        return _bad(name, os.strerror(code).lower())
    return SyscallError("apply layer", _quote(name), code)


class _Applier(FileRuns, EntryKinds):
    """One layer application: the tar loop, one method per entry type, deferred directory metadata."""

    def __init__(self, root: SafeRoot, reader: LayerReader) -> None:
        self.root = root
        self.reader = reader
        self.chown = os.geteuid() == 0
        self.owner = (os.geteuid(), os.getegid())
        self.umask = _umask()
        self.added: set[str] = set()
        self.dirs: list[tuple[str, int, int, tuple[int, int]]] = []
        self.tf: tarfile.TarFile | None = None
        self.skipped_xattrs: list[str] = []
        keys = ("entries", "files", "directories", "symlinks", "hardlinks", "devices", "whiteouts")
        self.counts = dict.fromkeys((*keys, "opaque_dirs", "content_bytes"), 0)
        self.run_entries = 0  # entries created by file_run, outside the member loop

    def run(self) -> None:
        if self.reader.at_end():
            return
        try:
            self.tf = tarfile.TarFile(
                fileobj=cast(IO[bytes], self.reader), mode="r", tarinfo=FastTarInfo, errors="surrogateescape"
            )
            trim, entry, plain, count = self.root.trim, self._entry, self._plain_file, 0
            for m in members(self.tf, self.reader, self.file_run):
                if not count & 63:  # every 64 entries: one entry caches at most two directories
                    trim()
                count += 1
                try:
                    if isinstance(m, PlainFile):
                        plain(m)
                    else:
                        entry(m)
                except DockyardError:
                    raise
                except OSError as err:
                    raise _os_error(m.name, err) from err
                except ValueError as err:
                    raise _bad(m.name, "invalid name") from err
            self.counts["entries"] = count + self.run_entries
        except tarfile.ReadError as err:
            raise InvalidArgument(f"apply layer: {err}") from err
        except (tarfile.TarError, UnicodeError) as err:
            raise InvalidArgument(f"apply layer: invalid tar header: {err}") from err
        block = self.reader.last_read
        if block.strip(b"\0"):
            reason = "unexpected end of data" if len(block) < tarfile.BLOCKSIZE else "invalid tar header"
            raise InvalidArgument(f"apply layer: {reason}")

    def _entry_error(self, name: str, err: OSError) -> DockyardError:
        return _os_error(name, err)

    def _plain_file(self, m: PlainFile) -> None:
        """_entry for a PlainFile, the most common entry, with the checks that cannot apply to it left out."""
        rel, _ = clean_name(m.name)
        parent, _, base = rel.rpartition("/")
        if not base or _WH in rel:
            self._entry(m.tarinfo())
            return
        added = self.added
        added.add(rel)
        if parent not in added:
            self._mark_added(parent)
        pfd = self.root.dir_fd(parent, create=True)
        assert pfd is not None
        self._file(pfd, base, m)

    def _entry(self, m: tarfile.TarInfo) -> None:
        name = m.name
        if "\0" in name or "\0" in m.linkname:
            raise _bad(name, "invalid name")
        rel, _ = clean_name(name)
        parent, _, base = rel.rpartition("/")
        if _WH in rel:  # one test for the rare case: whiteouts and AUFS metadata
            if _META in parent and any(p.startswith(_META) for p in parent.split("/")):
                return
            if base.startswith(_WH):
                self._whiteout(name, parent, base)
                return
        added = self.added
        added.add(rel)
        if parent not in added:
            self._mark_added(parent)
        if not base:
            self._root_entry(m)
            return
        kind = m.type
        if kind == tarfile.LNKTYPE:
            self._hardlink(m, rel, parent, base)
            return
        pfd = self.root.dir_fd(parent, create=True)
        assert pfd is not None
        if kind in tarfile.REGULAR_TYPES:
            self._file(pfd, base, m)
        elif kind == tarfile.DIRTYPE:
            self._dir(pfd, rel, base, m)
        elif m.type == tarfile.SYMTYPE:
            self._symlink(pfd, base, m)
        elif m.type in DEVICE_TYPES:
            self._device(pfd, base, m)
        else:
            raise _bad(m.name, f"unsupported entry type `{m.type.decode('latin-1')}`")

    def _mark_added(self, rel: str) -> None:
        added = self.added
        while rel and rel not in added:
            added.add(rel)
            rel = rel.rpartition("/")[0]

    def _replace(self, dirfd: int, name: str, *keep: int) -> None:
        """Remove what is at `name` (it is about to be replaced or whited out)."""
        mode = remove_entry(dirfd, name)
        if mode is not None and (stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            self.root.forget(keep=(dirfd, *keep))  # cached paths may have resolved through it

    def _set_xattrs(self, target: int | str, m: tarfile.TarInfo, *, follow: bool = True) -> None:
        for key, value in entry_xattrs(m):
            self._set_xattr(target, key, value, follow=follow)

    def _set_xattr(self, target: int | str, key: str, value: bytes, *, follow: bool = True) -> None:
        """One xattr; EPERM and ENOTSUP are noted, not fatal: not every file system takes every namespace."""
        try:
            os.setxattr(target, key, value, follow_symlinks=follow)
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP):
                raise
            self.skipped_xattrs.append(key)  # list.append: safe from the writer thread too

    def _file(self, pfd: int, base: str, m: tarfile.TarInfo | PlainFile) -> None:
        # Syscalls are most of the cost. open(2) sets a plain mode itself when the umask leaves it alone, and a
        # new file already has our owner, unless the directory is setgid (the file then takes its group) or has
        # a default ACL (which replaces the umask, acl(5)): only then are fchmod and fchown needed for those.
        perm = m.mode & 0o7777
        plain = not self.root.inherits(pfd)
        exact = plain and not perm & (0o7000 | self.umask)
        try:
            fd = os.open(base, _NEW_FILE, perm if exact else 0o600, dir_fd=pfd)
        except FileExistsError:
            self._replace(pfd, base)
            fd = os.open(base, _NEW_FILE, perm if exact else 0o600, dir_fd=pfd)
        try:
            if m.sparse is not None:
                assert isinstance(m, tarfile.TarInfo)
                self._sparse(fd, m)
            elif self.reader.copy_to(fd, m.size):
                raise _bad(m.name, "unexpected end of data")
            if self.chown and ((m.uid, m.gid) != self.owner or not plain):
                os.fchown(fd, m.uid, m.gid)
            if not m.pax_headers:
                times = (mtime := int(m.mtime) * 1_000_000_000, mtime)
            else:
                assert isinstance(m, tarfile.TarInfo)  # a PlainFile has no PAX records
                self._set_xattrs(fd, m)
                times = entry_times(m)
            if not exact:
                os.fchmod(fd, perm)
            os.utime(fd, ns=times)
        finally:
            os.close(fd)
        counts = self.counts
        counts["files"] += 1
        counts["content_bytes"] += m.size

    def _sparse(self, fd: int, m: tarfile.TarInfo) -> None:
        assert self.tf is not None
        src = self.tf.extractfile(m)
        assert src is not None
        while data := src.read(1 << 20):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        if os.fstat(fd).st_size != m.size:
            raise _bad(m.name, "unexpected end of data")

    def _dir(self, pfd: int, rel: str, base: str, m: tarfile.TarInfo | PlainFile) -> None:
        # Root may create inside any mode, so the directory starts with its final permission bits and finish()
        # has nothing to chmod unless a special bit, the umask or a default ACL interferes; others need 0700.
        first = m.mode & 0o777 if self.chown else 0o700
        created = True
        try:
            os.mkdir(base, first, dir_fd=pfd)
        except FileExistsError:
            created = False
            if not stat.S_ISDIR(os.stat(base, dir_fd=pfd, follow_symlinks=False).st_mode):
                self._replace(pfd, base)
                os.mkdir(base, first, dir_fd=pfd)
                created = True
        fd = os.open(base, _OPEN_DIR, dir_fd=pfd)
        root = self.root
        # A new directory takes S_ISGID and a default ACL only from its parent (mkdir(2), acl(5)): when the parent
        # passes on neither, neither has the new one, and asking the kernel again would cost two system calls.
        root.remember(rel, fd, inherits=False if created and not root.inherits(pfd) else None)
        self._dir_meta(fd, rel, m)

    def _dir_meta(self, fd: int, rel: str, m: tarfile.TarInfo | PlainFile) -> None:
        st = os.fstat(fd)
        if self.chown and (st.st_uid, st.st_gid) != (m.uid, m.gid):
            os.fchown(fd, m.uid, m.gid)
        if m.pax_headers:
            assert isinstance(m, tarfile.TarInfo)  # a PlainFile has no PAX records
            self._set_xattrs(fd, m)
            self.root.inherits(fd, refresh=True)  # a default ACL may have come with them
        self.dirs.append((rel, st.st_ino, m.mode & 0o7777, entry_times(m)))
        self.counts["directories"] += 1

    def _root_entry(self, m: tarfile.TarInfo) -> None:
        if m.type != tarfile.DIRTYPE:
            raise _bad(m.name, "cannot replace the root with a non-directory")
        self._dir_meta(self.root.fd, "", m)

    def finish(self) -> None:
        """Directory modes and times, deepest last-created first, once nothing more is created inside them; a path's
        last directory entry wins (an earlier one may name a replaced directory whose inode number was reused)."""
        done: set[str] = set()
        for rel, ino, mode, times in reversed(self.dirs):
            if rel in done:
                continue
            done.add(rel)
            try:
                self._finish_dir(rel, ino, mode, times)
            except OSError as err:
                if err.errno in _GONE:
                    continue  # removed or replaced later in this layer
                raise SyscallError("apply layer", _quote(rel or "/"), err.errno or 0) from err

    def _finish_dir(self, rel: str, ino: int, mode: int, times: tuple[int, int]) -> None:
        parent, _, base = rel.rpartition("/")
        if not base:
            fd = os.dup(self.root.fd)
        else:
            pfd = self.root.dir_fd(parent, create=False)
            if pfd is None:
                return
            # Most directories only need their times: two calls on the name under a confined parent, neither
            # following a last-component symlink (the inode check also skips anything that replaced the directory)
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
            # why both: a file or link that replaced the directory may have been given its freed inode number
            if st.st_ino != ino or not stat.S_ISDIR(st.st_mode):
                return
            if stat.S_IMODE(st.st_mode) == mode:
                os.utime(base, ns=times, dir_fd=pfd, follow_symlinks=False)
                return
            fd = os.open(base, _OPEN_DIR, dir_fd=pfd)
        try:
            st = os.fstat(fd)
            if st.st_ino == ino:
                if stat.S_IMODE(st.st_mode) != mode:
                    os.fchmod(fd, mode)
                os.utime(fd, ns=times)
        finally:
            os.close(fd)
