"""Performs the mounts a snapshotter returns as data (overlay, bind) and undoes them; nothing else mounts here.

mount(2) takes the whole option string in one page, so an overlay of many layers (≈ 60 with our paths) does not
fit; then, as containerd does with its `compactLowerdirOption`, we avoid the limit, here with the new mount API
(fsopen/fsconfig/fsmount/move_mount, linux ≥ 5.2) and overlayfs' `lowerdir+` key (linux ≥ 6.8), which takes one
layer per call. Called by the engine (container rootfs) and by unpack; the engine must not import the runtime,
so the few syscalls live here through ctypes.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence

from dockyard.errors import InvalidArgument, SyscallError, Unsupported
from dockyard.image.snapshots.base import Mount

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2
# flag options of mount(8); anything else is passed to the file system as data
_FLAGS = {
    "ro": MS_RDONLY, "rw": 0, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
    "bind": MS_BIND, "rbind": MS_BIND | MS_REC, "suid": 0, "dev": 0, "exec": 0,
}  # fmt: skip
# The new mount API: the same numbers on every architecture (they came after the syscall table unification).
_SYS_MOVE_MOUNT, _SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 429, 430, 431, 432
_FSCONFIG_SET_FLAG, _FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 0, 1, 6
_FSOPEN_CLOEXEC, _FSMOUNT_CLOEXEC, _MOUNT_ATTR_RDONLY, _MOVE_MOUNT_F_EMPTY_PATH = 1, 1, 1, 4
# containerd's threshold: the data page minus room for what the kernel and LSMs add
DATA_LIMIT = os.sysconf("SC_PAGE_SIZE") - 512

_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def split_options(options: Sequence[str]) -> tuple[int, str]:
    """mount(8)-style options → (mount flags, file-system data string)."""
    flags = 0
    data = []
    for option in options:
        if option in _FLAGS:
            flags |= _FLAGS[option]
        else:
            data.append(option)
    return flags, ",".join(data)


def mount(m: Mount, target: str) -> None:
    """Perform one mount at the existing directory `target`."""
    flags, data = split_options(m.options)
    if m.type == "bind" or flags & MS_BIND:
        _mount(m.source, target, "", (flags | MS_BIND) & ~MS_RDONLY, "")
        if flags & MS_RDONLY:
            # A bind mount ignores MS_RDONLY; read-only takes a second, remounting call (mount(8) does the same).
            _mount("", target, "", MS_REMOUNT | MS_BIND | MS_RDONLY | (flags & (MS_NOSUID | MS_NODEV)), "")
        return
    if len(data) >= DATA_LIMIT:
        if m.type != "overlay":
            raise InvalidArgument(f"mount `{target}`: options longer than {DATA_LIMIT} bytes")
        _mount_overlay_fsconfig(m, target, flags)
        return
    _mount(m.source, target, m.type, flags, data)


def mount_all(mounts: Sequence[Mount], target: str) -> None:
    """Perform `mounts` in order at `target`; on failure the ones already done are undone."""
    done = 0
    try:
        for m in mounts:
            mount(m, target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise


def unmount(target: str) -> None:
    """Detach the mount at `target`; nothing to do when nothing is mounted there or it does not exist."""
    if _c().umount2(os.fsencode(target), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise SyscallError("umount", target, err)


def is_mountpoint(path: str) -> bool:
    """True when something is mounted exactly at `path` (by /proc/self/mountinfo)."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            return any(_unescape(line.split()[4]) == real for line in f)
    except OSError:
        return False


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo (proc(5))
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "surrogateescape")


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    rc = _c().mount(
        os.fsencode(source) if source else None,
        os.fsencode(target),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        os.fsencode(data) if data else None,
    )
    if rc != 0:
        raise SyscallError(f"mount {fstype or 'bind'}", target, ctypes.get_errno())


def _syscall(number: int, *args: object) -> int:
    rc = int(_c().syscall(ctypes.c_long(number), *args))
    return rc if rc >= 0 else -ctypes.get_errno()


def _fsconfig(fd: int, cmd: int, key: str | None, value: str | None, target: str) -> None:
    key_b = key.encode() if key is not None else None
    value_b = os.fsencode(value) if value is not None else None
    rc = _syscall(_SYS_FSCONFIG, ctypes.c_int(fd), ctypes.c_uint(cmd), key_b, value_b, ctypes.c_int(0))
    if rc < 0:
        if key == "lowerdir+" and -rc == errno.EINVAL:
            raise Unsupported(
                f"mount overlay `{target}`: too many layers for one mount(2) call and this kernel lacks "
                "overlayfs `lowerdir+` (linux ≥ 6.8)"
            )
        raise SyscallError(f"fsconfig {key or 'create'}", target, -rc)


def _mount_overlay_fsconfig(m: Mount, target: str, flags: int) -> None:
    """An overlay through fsopen/fsconfig: each lower layer is its own `lowerdir+` call, so no length limit."""
    fd = _syscall(_SYS_FSOPEN, b"overlay", ctypes.c_uint(_FSOPEN_CLOEXEC))
    if fd < 0:
        raise SyscallError("fsopen overlay", target, -fd)
    try:
        for option in m.options:
            if option in _FLAGS:
                continue
            key, eq, value = option.partition("=")
            if not eq:
                _fsconfig(fd, _FSCONFIG_SET_FLAG, key, None, target)
            elif key == "lowerdir":
                for layer in value.split(":"):
                    _fsconfig(fd, _FSCONFIG_SET_STRING, "lowerdir+", layer, target)
            else:
                _fsconfig(fd, _FSCONFIG_SET_STRING, key, value, target)
        _fsconfig(fd, _FSCONFIG_CMD_CREATE, None, None, target)
        attrs = _MOUNT_ATTR_RDONLY if flags & MS_RDONLY else 0
        mfd = _syscall(_SYS_FSMOUNT, ctypes.c_int(fd), ctypes.c_uint(_FSMOUNT_CLOEXEC), ctypes.c_uint(attrs))
        if mfd < 0:
            raise SyscallError("fsmount overlay", target, -mfd)
    finally:
        os.close(fd)
    try:
        rc = _syscall(
            _SYS_MOVE_MOUNT, ctypes.c_int(mfd), b"", ctypes.c_int(-100), os.fsencode(target),
            ctypes.c_uint(_MOVE_MOUNT_F_EMPTY_PATH),
        )  # fmt: skip
        if rc < 0:
            raise SyscallError("move_mount overlay", target, -rc)
    finally:
        os.close(mfd)
