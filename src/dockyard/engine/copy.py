"""`docker cp` on the engine side: stat, read (as a tar) and write (from a tar) paths inside a container.

Every container path is resolved with openat2(RESOLVE_IN_ROOT) against an fd of the container's root, and the
tree below is walked with *at(2) calls that never follow symlinks (O_NOFOLLOW per component), so neither a symlink
inside the container (`/evil -> /`, `../../..`) nor a rename racing us can reach the host. Writes go through the
hardened layer extractor rooted at the resolved directory. A stopped container's filesystem is mounted for the
call and unmounted after; /etc/hostname, hosts and resolv.conf are the container's own files, as Docker shows.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from dockyard.engine import events
from dockyard.errors import InvalidArgument, NotFound
from dockyard.image.safepath import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, clean_name
from dockyard.image.safepath import openat2 as _openat2

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.records import ContainerRecord

_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOFOLLOW_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_ETC_FILES = {"etc/hostname": "hostname", "etc/hosts": "hosts", "etc/resolv.conf": "resolv.conf"}

# Go's os.FileMode type bits, as Docker's X-Docker-Container-Path-Stat carries them.
GO_DIR, GO_SYMLINK, GO_DEVICE, GO_PIPE, GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
GO_SETUID, GO_SETGID, GO_CHARDEV, GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PathStat:
    name: str
    size: int
    mode: int  # Go's os.FileMode
    mtime: str  # RFC 3339
    link_target: str = ""


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """openat2(2), retried on EAGAIN: with RESOLVE_IN_ROOT the kernel refuses a `..` lookup that raced any rename
    or mount on the system (openat2(2) ERRORS), which happens on a busy host."""
    for _ in range(100):
        try:
            return _openat2(dirfd, path, flags, resolve)
        except BlockingIOError:
            continue
    return _openat2(dirfd, path, flags, resolve)


def go_mode(mode: int) -> int:
    out = stat.S_IMODE(mode) & 0o777
    kinds = {stat.S_IFDIR: GO_DIR, stat.S_IFLNK: GO_SYMLINK, stat.S_IFIFO: GO_PIPE, stat.S_IFSOCK: GO_SOCKET,
             stat.S_IFBLK: GO_DEVICE, stat.S_IFCHR: GO_DEVICE | GO_CHARDEV}  # fmt: skip
    out |= kinds.get(stat.S_IFMT(mode), 0)
    for bit, go in ((stat.S_ISUID, GO_SETUID), (stat.S_ISGID, GO_SETGID), (stat.S_ISVTX, GO_STICKY)):
        if mode & bit:
            out |= go
    return out


def _rfc3339(seconds: float) -> str:
    whole = int(seconds)
    frac = f"{seconds - whole:.9f}"[1:].rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + frac + "Z"


@contextlib.contextmanager
def container_root(containers: Containers, record: ContainerRecord) -> Iterator[str]:
    """The container's merged filesystem: its mount while it runs, else its snapshot mounted for the call."""
    from dockyard.image.snapshots.mount import is_mountpoint, mount_all, unmount

    merged = containers.paths.rootfs(record.id)
    if record.state.status in ("running", "paused", "restarting") and is_mountpoint(merged):
        yield merged
        return
    snapshotter = containers.images.snapshotter
    if snapshotter is None:
        raise NotFound(f"container `{record.id}`: no snapshotter holds its filesystem")
    os.makedirs(containers.paths.exec_root, exist_ok=True)
    target = tempfile.mkdtemp(prefix=f"cp-{record.id[:12]}-", dir=containers.paths.exec_root)
    try:
        mount_all(snapshotter.mounts(record.snapshot_key or record.id), target)
        try:
            yield target
        finally:
            unmount(target)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(target)


class Resolved:
    """A container path resolved to (parent directory fd, final name); `name` "" means the root itself."""

    def __init__(self, root: str, path: str, ref: str) -> None:
        self.path = path
        rel, _ = clean_name(path)
        parent, _, name = rel.rpartition("/")
        self.rel = rel
        self.name = name
        self.root_fd = os.open(root, _NOFOLLOW_DIR)
        try:
            self.parent_fd = openat2(self.root_fd, parent or ".", _PATH_DIR, _RESOLVE)
        except (FileNotFoundError, NotADirectoryError) as err:
            os.close(self.root_fd)
            raise NotFound(f"Could not find the file {path} in container {ref}") from err

    def close(self) -> None:
        os.close(self.parent_fd)
        os.close(self.root_fd)

    def lstat(self, ref: str) -> os.stat_result:
        try:
            if not self.name:
                return os.stat(self.root_fd)
            return os.stat(self.name, dir_fd=self.parent_fd, follow_symlinks=False)
        except FileNotFoundError as err:
            raise NotFound(f"Could not find the file {self.path} in container {ref}") from err

    def link_target(self) -> str:
        """Where a final symlink leads, as an absolute path inside the container (resolved within it)."""
        try:
            fd = openat2(self.root_fd, self.rel, os.O_PATH | os.O_CLOEXEC, _RESOLVE)
        except OSError:
            return "/" + os.path.normpath(os.path.join(os.path.dirname(self.rel), os.readlink(
                self.name, dir_fd=self.parent_fd))).lstrip("/")  # fmt: skip
        try:
            real, root = os.readlink(f"/proc/self/fd/{fd}"), os.readlink(f"/proc/self/fd/{self.root_fd}")
        finally:
            os.close(fd)
        return "/" + os.path.relpath(real, root).removeprefix(".").lstrip("/")


def stat_path(containers: Containers, ref: str, path: str) -> PathStat:
    """HEAD /containers/{id}/archive: the X-Docker-Container-Path-Stat of `path`."""
    record = containers.get(ref)
    with container_root(containers, record) as root:
        resolved = Resolved(root, path, ref)
        try:
            return _stat(containers, record, resolved, ref)
        finally:
            resolved.close()


def _stat(containers: Containers, record: ContainerRecord, resolved: Resolved, ref: str) -> PathStat:
    etc = _ETC_FILES.get(resolved.rel)
    st = os.lstat(os.path.join(containers.paths.container_dir(record.id), etc)) if etc else resolved.lstat(ref)
    link = resolved.link_target() if stat.S_ISLNK(st.st_mode) else ""
    name = resolved.name or "/"
    return PathStat(name=name, size=st.st_size, mode=go_mode(st.st_mode), mtime=_rfc3339(st.st_mtime),
                    link_target=link)  # fmt: skip


def archive(containers: Containers, ref: str, path: str, out: BinaryIO) -> PathStat:
    """GET /containers/{id}/archive: write a tar of `path` (named by its base name) to `out`."""
    record = containers.get(ref)
    etc = {k: os.path.join(containers.paths.container_dir(record.id), v) for k, v in _ETC_FILES.items()}
    with container_root(containers, record) as root:
        stat = archive_path(root, path, ref, out, etc)
    events.emit_container(containers.paths, record, "archive-path")
    return stat


def archive_path(root: str, path: str, ref: str, out: BinaryIO, etc: dict[str, str] | None = None) -> PathStat:
    """Write a tar of `path` inside the tree `root` (confined to it) to `out`; `etc` maps relative paths to the
    host files that stand in for them (the container's bind-mounted /etc files)."""
    resolved = Resolved(root, path, ref)
    try:
        host_file = (etc or {}).get(resolved.rel)
        st = os.lstat(host_file) if host_file else resolved.lstat(ref)
        link = resolved.link_target() if stat.S_ISLNK(st.st_mode) else ""
        info = PathStat(name=resolved.name or "/", size=st.st_size, mode=go_mode(st.st_mode),
                        mtime=_rfc3339(st.st_mtime), link_target=link)  # fmt: skip
        base = "." if path.rstrip("/").endswith("/.") or path in (".", "/.") else (resolved.name or ".")
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            if host_file:
                _add_file(tar, host_file, base)
            elif resolved.name:
                _add(tar, resolved.parent_fd, resolved.name, base)
            else:
                _add_dir(tar, resolved.root_fd, base, os.stat(resolved.root_fd))
        return info
    finally:
        resolved.close()


def _add_file(tar: tarfile.TarFile, host_path: str, name: str) -> None:
    fd = os.open(host_path, _NOFOLLOW_FILE)
    with os.fdopen(fd, "rb") as f:
        tar.addfile(_info(name, os.fstat(f.fileno())), f)


def _info(name: str, st: os.stat_result, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, link
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return info


_SENT: weakref.WeakKeyDictionary[tarfile.TarFile, dict[tuple[int, int], str]] = weakref.WeakKeyDictionary()


def _sent(tar: tarfile.TarFile) -> dict[tuple[int, int], str]:
    """(inode, device) → name of the files with several links already in `tar`; gone with the archive."""
    return _SENT.setdefault(tar, {})


def _add(tar: tarfile.TarFile, dir_fd: int, name: str, arcname: str) -> None:
    """Add the entry `name` of directory `dir_fd` (never following a symlink), recursing into directories."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(name, _NOFOLLOW_DIR, dir_fd=dir_fd)
        try:
            _add_dir(tar, fd, arcname, st)
        finally:
            os.close(fd)
    elif stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and (st.st_ino, st.st_dev) in _sent(tar):
        info = _info(arcname, st)  # a second name of a file already sent: a hard link to it, as docker's tar
        info.type, info.linkname, info.size = tarfile.LNKTYPE, _sent(tar)[(st.st_ino, st.st_dev)], 0
        tar.addfile(info)
    elif stat.S_ISREG(st.st_mode):
        if st.st_nlink > 1:
            _sent(tar)[(st.st_ino, st.st_dev)] = arcname
        fd = os.open(name, _NOFOLLOW_FILE, dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as f:
            tar.addfile(_info(arcname, os.fstat(f.fileno())), f)
    elif stat.S_ISSOCK(st.st_mode):
        return  # tar has no sockets (Docker skips them too)
    else:
        link = os.readlink(name, dir_fd=dir_fd) if stat.S_ISLNK(st.st_mode) else ""
        tar.addfile(_info(arcname, st, link))


def _add_dir(tar: tarfile.TarFile, fd: int, arcname: str, st: os.stat_result) -> None:
    tar.addfile(_info(arcname, st))
    for entry in sorted(os.listdir(fd)):
        _add(tar, fd, entry, f"{arcname}/{entry}" if arcname != "." else f"./{entry}")


def extract(containers: Containers, ref: str, path: str, stream: BinaryIO) -> None:
    """PUT /containers/{id}/archive: unpack a tar into the existing directory `path` inside the container."""
    record = containers.get(ref)
    if record.host_config.read_only:
        raise InvalidArgument("container rootfs is marked read-only")
    with container_root(containers, record) as root:
        extract_into(root, path, ref, stream)
    events.emit_container(containers.paths, record, "extract-to-dir")


def extract_into(root: str, path: str, ref: str, stream: BinaryIO) -> None:
    """Unpack a tar into the directory `path` of the tree `root`, resolved and written confined to it."""
    from dockyard.image.archive import apply_layer

    root_fd = os.open(root, _NOFOLLOW_DIR)
    try:
        rel, _ = clean_name(path)
        try:
            target = openat2(root_fd, rel or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, _RESOLVE)
        except FileNotFoundError as err:
            raise NotFound(f"Could not find the file {path} in container {ref}") from err
        except NotADirectoryError as err:
            raise InvalidArgument("extraction point is not a directory") from err
        try:
            apply_layer(stream, f"/proc/self/fd/{target}", compression=None)
        finally:
            os.close(target)
    finally:
        os.close(root_fd)


def stream_from(write: Callable[[BinaryIO], object]) -> Iterator[bytes]:
    """Run `write(pipe)` in a thread and yield what it writes (a tar streamed as it is produced)."""
    import threading

    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def run() -> None:
        with os.fdopen(write_fd, "wb") as w:
            try:
                write(w)
            except BrokenPipeError:
                pass
            except BaseException as err:  # re-raised in the reader's thread
                failure.append(err)

    thread = threading.Thread(target=run, name="tar-writer", daemon=True)
    thread.start()
    with os.fdopen(read_fd, "rb") as r:
        while chunk := r.read(65536):
            yield chunk
    thread.join()
    if failure:
        raise failure[0]


def export(containers: Containers, ref: str, out: BinaryIO) -> None:
    """GET /containers/{id}/export: a tar of the container's whole filesystem (names without `./`)."""
    record = containers.get(ref)
    with container_root(containers, record) as root:
        fd = os.open(root, _NOFOLLOW_DIR)
        try:
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                directory = containers.paths.container_dir(record.id)
                etc = {k: os.path.join(directory, v) for k, v in _ETC_FILES.items()}
                for entry in sorted(os.listdir(fd)):
                    _add_export(tar, fd, entry, entry, etc)
        finally:
            os.close(fd)
    events.emit_container(containers.paths, record, "export")


def _add_export(tar: tarfile.TarFile, dir_fd: int, name: str, arcname: str, etc: dict[str, str]) -> None:
    if arcname in etc and os.path.exists(etc[arcname]):
        _add_file(tar, etc[arcname], arcname)
        return
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        _add(tar, dir_fd, name, arcname)
        return
    fd = os.open(name, _NOFOLLOW_DIR, dir_fd=dir_fd)
    try:
        tar.addfile(_info(arcname, st))
        for entry in sorted(os.listdir(fd)):
            _add_export(tar, fd, entry, f"{arcname}/{entry}", etc)
    finally:
        os.close(fd)
