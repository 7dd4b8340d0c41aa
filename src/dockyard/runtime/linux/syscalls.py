"""The Syscalls protocol and LinuxSyscalls, its ctypes implementation (Python 3.11 has no os.unshare/setns).

Everything the runtime asks of the kernel beyond plain file I/O goes through a Syscalls object, so the rootfs,
namespace and capability logic can be unit-tested with RecordingSyscalls (recording.py) and no root.
Failures raise SyscallError naming the call, the object and errno.
"""

from __future__ import annotations

import ctypes
import os

from dockyard.errors import SyscallError
from dockyard.runtime.linux import consts

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # why: at run time the contract is documentation; mypy checks it as a typing.Protocol


class Syscalls(Protocol):
    """Contract: each method performs exactly one kernel call (or records it) and raises SyscallError on failure."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None: ...
    def umount2(self, target: str, flags: int) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...
    def sethostname(self, name: str) -> None: ...
    def setdomainname(self, name: str) -> None: ...
    def mknod(self, path: str, mode: int, device: int) -> None: ...
    def chroot(self, path: str) -> None: ...
    def capget(self) -> tuple[int, int, int]: ...
    def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int: ...
    def setgroups(self, gids: list[int]) -> None: ...
    def setresgid(self, gid: int) -> None: ...
    def setresuid(self, uid: int) -> None: ...


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]  # noqa: RUF012


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]  # noqa: RUF012


_SYS_PIVOT_ROOT = 155  # x86_64; glibc has no wrapper
_SYS_CAPGET = 125
_SYS_CAPSET = 126


def _encode(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


class LinuxSyscalls:
    """The real kernel, through libc. Cheap to construct: libc is loaded once per process."""

    # The glibc soname directly: ctypes.util.find_library("c") would spawn ldconfig on every start.
    _libc: ctypes.CDLL | None = None

    def __init__(self) -> None:
        if LinuxSyscalls._libc is None:
            LinuxSyscalls._libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.libc = LinuxSyscalls._libc

    @staticmethod
    def _check(result: int, call: str, target: str) -> int:
        if result < 0:
            raise SyscallError(call, target, ctypes.get_errno())
        return result

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
        res = self.libc.mount(_encode(source), _encode(target), _encode(fstype), ctypes.c_ulong(flags), _encode(data))
        self._check(res, "mount", target)

    def umount2(self, target: str, flags: int) -> None:
        self._check(self.libc.umount2(_encode(target), ctypes.c_int(flags)), "umount", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        res = self.libc.syscall(ctypes.c_long(_SYS_PIVOT_ROOT), _encode(new_root), _encode(put_old))
        self._check(res, "pivot_root", new_root)

    def unshare(self, flags: int) -> None:
        self._check(self.libc.unshare(ctypes.c_int(flags)), "unshare", hex(flags))

    def setns(self, fd: int, nstype: int) -> None:
        self._check(self.libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns", f"fd {fd}")

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(self.libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname", name)

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        self._check(self.libc.setdomainname(raw, ctypes.c_size_t(len(raw))), "setdomainname", name)

    def mknod(self, path: str, mode: int, device: int) -> None:
        try:
            os.mknod(path, mode, device)
        except OSError as err:
            raise SyscallError("mknod", path, err.errno or 0) from err

    def chroot(self, path: str) -> None:
        try:
            os.chroot(path)
        except OSError as err:
            raise SyscallError("chroot", path, err.errno or 0) from err

    def capget(self) -> tuple[int, int, int]:
        header = _CapHeader(consts.LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        self._check(self.libc.syscall(ctypes.c_long(_SYS_CAPGET), ctypes.byref(header), data), "capget", "")
        eff = data[0].effective | (data[1].effective << 32)
        perm = data[0].permitted | (data[1].permitted << 32)
        inh = data[0].inheritable | (data[1].inheritable << 32)
        return eff, perm, inh

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        header = _CapHeader(consts.LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        for i in (0, 1):
            shift = 32 * i
            data[i].effective = (effective >> shift) & 0xFFFFFFFF
            data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
            data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
        self._check(self.libc.syscall(ctypes.c_long(_SYS_CAPSET), ctypes.byref(header), data), "capset", "")

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        args = (ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5))
        return self._check(self.libc.prctl(ctypes.c_int(option), *args), "prctl", str(option))

    def setgroups(self, gids: list[int]) -> None:
        try:
            os.setgroups(gids)
        except OSError as err:
            raise SyscallError("setgroups", ",".join(map(str, gids)), err.errno or 0) from err

    def setresgid(self, gid: int) -> None:
        try:
            os.setresgid(gid, gid, gid)
        except OSError as err:
            raise SyscallError("setresgid", str(gid), err.errno or 0) from err

    def setresuid(self, uid: int) -> None:
        try:
            os.setresuid(uid, uid, uid)
        except OSError as err:
            raise SyscallError("setresuid", str(uid), err.errno or 0) from err
