"""Named network namespaces without helpers: create one kept alive by a bind mount (with `lo` up), remove it.

Plain syscalls through ctypes, no pyroute2 and no child process, so `--network none` costs about a millisecond.
Must not configure anything beyond loopback (netlink.py owns links, addresses and routes).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import socket
import struct

from dockyard.errors import InternalError, SyscallError

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 2
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = "16sH22x"  # struct ifreq: the name, then ifr_flags at the start of a 24-byte union

_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL("libc.so.6", use_errno=True)
    return _libc


def create(path: str) -> None:
    """A new network namespace bound at `path` (what `ip netns add` does), its `lo` up; nothing left on failure.

    why no fork: the daemon is multi-threaded. A network namespace is per thread (unshare(2): CLONE_NEWNET
    moves the caller only), so the calling thread unshares, bind-mounts /proc/thread-self/ns/net onto `path`
    and setns(2)es back home; the other threads never see the switch."""
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "w"):
            pass
    except OSError as err:
        raise SyscallError("create network namespace", path, err.errno or errno.EIO) from err
    try:
        _create_in_thread(path)
    except BaseException:
        with contextlib.suppress(InternalError, OSError):
            remove(path)
        raise


def _create_in_thread(path: str) -> None:
    libc = _lib()
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.unshare(ctypes.c_int(CLONE_NEWNET)) != 0:
            raise SyscallError("unshare network namespace", path, ctypes.get_errno())
        try:
            own = b"/proc/thread-self/ns/net"
            if libc.mount(own, os.fsencode(path), None, ctypes.c_ulong(MS_BIND), None) != 0:
                raise SyscallError("bind mount network namespace", path, ctypes.get_errno())
            _loopback_up(path)
        finally:
            # If we cannot return, this thread would silently keep working in the new namespace.
            if libc.setns(ctypes.c_int(home), ctypes.c_int(CLONE_NEWNET)) != 0:
                raise SyscallError("setns", "/proc/thread-self/ns/net", ctypes.get_errno())
    finally:
        os.close(home)


def _loopback_up(path: str) -> None:
    """SIOCSIFFLAGS on a socket made in the current namespace: the ioctl acts on the socket's namespace."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            raw = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
            flags = struct.unpack(_IFREQ, raw)[1]
            if not flags & IFF_UP:
                fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))
    except OSError as err:
        raise SyscallError("loopback up", path, err.errno or errno.EIO) from err


def remove(path: str) -> None:
    """Unmount and delete a namespace file made by `create`; missing is fine."""
    if not os.path.lexists(path):
        return
    if _lib().umount2(os.fsencode(path), ctypes.c_int(MNT_DETACH)) != 0:
        err = ctypes.get_errno()
        if err != errno.EINVAL:  # EINVAL: not a mount point (a half-made file)
            raise InternalError(f"umount `{path}`: {os.strerror(err).lower()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def is_bound(path: str) -> bool:
    """Whether `path` is a namespace bind mount (its inode is on nsfs, not on the directory's filesystem)."""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False
