"""Copy-up: fill an empty volume with what the image has at the mount's destination (moby copyExistingContents,
containerd continuity fs.CopyDir). Never follows a symlink of the source: everything is opened relative to
directory descriptors with O_NOFOLLOW, and symlinks are recreated as symlinks.

Preserved: file content, owner and group, permission bits (set-id and sticky included), extended attributes,
access and modification times (directories' too, set after their content), hard links within the tree, symlinks,
FIFOs, sockets and device nodes. Unlike continuity, directory mtimes survive: they are written last.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_IGNORED_XATTR_ERRORS = (errno.ENOTSUP, errno.EOPNOTSUPP)


def copy_up(image_path: str, volume_data: str, *, nocopy: bool = False) -> bool:
    """Copy the directory `image_path` into `volume_data` if the volume is empty; True when it copied.

    Nothing happens with `nocopy`, when the volume has content, or when `image_path` is missing or is not a
    directory (a symlink counts as not a directory: the caller resolves it inside the rootfs first).
    """
    if nocopy:
        return False
    try:
        src = os.open(image_path, _DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as err:
        if err.errno == errno.ELOOP:
            return False
        raise
    try:
        dst = os.open(volume_data, _DIR_FLAGS)
        try:
            if os.listdir(dst):
                return False
            _Copier(dst).copy_tree(src)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return True


@dataclass
class _Frame:
    src: int
    dst: int
    rel: str
    names: list[str]
    st: os.stat_result


class _Copier:
    def __init__(self, dst_root: int) -> None:
        self.dst_root = dst_root
        self.links: dict[tuple[int, int], str] = {}

    def copy_tree(self, src_root: int) -> None:
        root = _Frame(src_root, self.dst_root, "", sorted(os.listdir(src_root)), os.fstat(src_root))
        stack = [root]
        try:
            while stack:
                frame = stack[-1]
                if not frame.names:
                    stack.pop()
                    _set_metadata_fd(frame.dst, frame.src, frame.st)
                    if frame is not root:
                        os.close(frame.src)
                        os.close(frame.dst)
                    continue
                child = self._copy_entry(frame, frame.names.pop(0))
                if child is not None:
                    stack.append(child)
        finally:
            for frame in stack:
                if frame is not root:
                    os.close(frame.src)
                    os.close(frame.dst)

    def _copy_entry(self, frame: _Frame, name: str) -> _Frame | None:
        st = os.stat(name, dir_fd=frame.src, follow_symlinks=False)
        rel = os.path.join(frame.rel, name)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFDIR:
            os.mkdir(name, 0o700, dir_fd=frame.dst)
            src = os.open(name, _DIR_FLAGS, dir_fd=frame.src)
            try:
                dst = os.open(name, _DIR_FLAGS, dir_fd=frame.dst)
            except BaseException:
                os.close(src)
                raise
            return _Frame(src, dst, rel, sorted(os.listdir(src)), st)
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            os.link(self.links[key], name, src_dir_fd=self.dst_root, dst_dir_fd=frame.dst, follow_symlinks=False)
            return None
        if kind == stat.S_IFREG:
            _copy_file(frame.src, frame.dst, name, st)
        elif kind == stat.S_IFLNK:
            os.symlink(os.readlink(name, dir_fd=frame.src), name, dir_fd=frame.dst)
            _set_metadata_at(frame.dst, frame.src, name, st)
        else:  # FIFO, socket, character or block device
            os.mknod(name, kind | 0o600, st.st_rdev, dir_fd=frame.dst)
            _set_metadata_at(frame.dst, frame.src, name, st)
        if st.st_nlink > 1:
            self.links[key] = rel
        return None


def _copy_file(src_dir: int, dst_dir: int, name: str, st: os.stat_result) -> None:
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
    try:
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dst_dir)
        try:
            _copy_content(src, dst)
            _set_metadata_fd(dst, src, st)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_content(src: int, dst: int) -> None:
    try:
        while os.copy_file_range(src, dst, 1 << 30) > 0:
            pass
        return
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
    os.lseek(src, 0, os.SEEK_SET)
    os.lseek(dst, 0, os.SEEK_SET)
    os.ftruncate(dst, 0)
    while chunk := os.read(src, 1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view) :]


def _chown_ok(err: OSError, current: os.stat_result, st: os.stat_result) -> bool:
    # continuity copyFileInfo: without the right to chown, it is fine when the owner is already the wanted one
    return err.errno == errno.EPERM and (current.st_uid, current.st_gid) == (st.st_uid, st.st_gid)


def _set_metadata_fd(dst: int, src: int, st: os.stat_result) -> None:
    """Owner, then mode (chown clears set-id bits), then xattrs (chown drops security.capability), then times."""
    try:
        os.fchown(dst, st.st_uid, st.st_gid)
    except OSError as err:
        if not _chown_ok(err, os.fstat(dst), st):
            raise
    os.fchmod(dst, stat.S_IMODE(st.st_mode))
    _copy_xattrs(src, dst)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _set_metadata_at(dst_dir: int, src_dir: int, name: str, st: os.stat_result) -> None:
    """The same for an entry that cannot be opened (symlink, device, FIFO), addressed through its directory."""
    try:
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_dir, follow_symlinks=False)
    except OSError as err:
        if not _chown_ok(err, os.stat(name, dir_fd=dst_dir, follow_symlinks=False), st):
            raise
    if not stat.S_ISLNK(st.st_mode):
        # fchmodat cannot skip symlinks on Linux; the entry was created just now by us and is not one
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst_dir)
    _copy_xattrs(f"/proc/self/fd/{src_dir}/{name}", f"/proc/self/fd/{dst_dir}/{name}")
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_dir, follow_symlinks=False)


def _copy_xattrs(src: int | str, dst: int | str) -> None:
    # a descriptor never refers to a symlink; Python refuses follow_symlinks=False together with one
    nofollow = isinstance(src, str)
    try:
        names = os.listxattr(src, follow_symlinks=not nofollow)
    except OSError as err:
        if err.errno in _IGNORED_XATTR_ERRORS:
            return
        raise
    for attr in names:
        try:
            value = os.getxattr(src, attr, follow_symlinks=not nofollow)
            os.setxattr(dst, attr, value, follow_symlinks=not nofollow)
        except OSError as err:
            # Docker ignores attributes the volume's filesystem does not support (ignoreUnsupportedXAttrs);
            # user.* attributes cannot exist on symlinks (EPERM)
            if err.errno in _IGNORED_XATTR_ERRORS or (err.errno == errno.EPERM and isinstance(src, str)):
                continue
            raise
