"""Mounting the backing filesystem of a local volume created with options (type/device/o): the Mounter protocol,
LinuxMounter (libc through ctypes) and FakeMounter (in memory, for unit tests). Knows nothing of volumes.

Options are read as moby/sys/mount reads an fstab-style `o=` string: known words become mount(2) flags, the rest
is filesystem data. Python 3.11 has no os.mount, hence ctypes (dockyard.runtime has its own; this package may not
import it).
"""

from __future__ import annotations

import ctypes
import errno as errno_module
import os
from typing import Protocol

from dockyard.errors import InternalError

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MNT_DETACH = 0x2
_PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE

# moby/sys/mount flags_unix.go: word -> (clears the flag?, flag)
_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY), "suid": (True, MS_NOSUID), "nosuid": (False, MS_NOSUID),
    "dev": (True, MS_NODEV), "nodev": (False, MS_NODEV), "exec": (True, MS_NOEXEC), "noexec": (False, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS), "async": (True, MS_SYNCHRONOUS), "dirsync": (False, MS_DIRSYNC),
    "remount": (False, MS_REMOUNT), "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK),
    "atime": (True, MS_NOATIME), "noatime": (False, MS_NOATIME), "diratime": (True, MS_NODIRATIME),
    "nodiratime": (False, MS_NODIRATIME), "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC),
    "unbindable": (False, MS_UNBINDABLE), "runbindable": (False, MS_UNBINDABLE | MS_REC),
    "private": (False, MS_PRIVATE), "rprivate": (False, MS_PRIVATE | MS_REC), "shared": (False, MS_SHARED),
    "rshared": (False, MS_SHARED | MS_REC), "slave": (False, MS_SLAVE), "rslave": (False, MS_SLAVE | MS_REC),
    "relatime": (False, MS_RELATIME), "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME), "nostrictatime": (True, MS_STRICTATIME),
}  # fmt: skip


def parse_options(options: str) -> tuple[int, str]:
    """An fstab-style option string -> (mount flags, filesystem data), as moby/sys/mount parseOptions."""
    flags = 0
    data: list[str] = []
    for word in options.split(","):
        known = _FLAGS.get(word)
        if known is None:
            data.append(word)
        elif known[0]:
            flags &= ~known[1]
        else:
            flags |= known[1]
    return flags, ",".join(data)


class MountError(InternalError):
    """A mount or umount failed; worded like moby/sys/mount's mountError."""

    def __init__(self, op: str, source: str, target: str, flags: int, data: str, err: int) -> None:
        text = f"{op} {source}:{target}" if source else f"{op} {target}"
        if flags:
            text += f", flags: 0x{flags:x}"
        if data:
            text += f", data: {data}"
        super().__init__(f"{text}: {os.strerror(err).lower()}")
        self.errno = err


class Mounter(Protocol):
    """Contract: `mount` leaves `target` mounted or raises MountError; `unmount` detaches `target` and is a no-op
    when nothing is mounted there; `mounted` answers from the kernel's (or the fake's) mount table."""

    def mount(self, device: str, target: str, fstype: str, options: str) -> None: ...
    def unmount(self, target: str) -> None: ...
    def mounted(self, target: str) -> bool: ...
    def mounts_under(self, prefix: str) -> list[str]: ...


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo (proc(5))
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1 : i + 4]) == 3 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_table(mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points of this process's mount namespace, in mount order."""
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        return [_unescape(line.split()[4]) for line in f if line.strip()]


class LinuxMounter:
    """The kernel, through libc's mount(2) and umount2(2)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL("libc.so.6", use_errno=True)

    def _mount(self, source: str, target: str, fstype: str, flags: int, data: str, op: str) -> None:
        res = self._libc.mount(
            os.fsencode(source) if source else None,
            os.fsencode(target),
            os.fsencode(fstype) if fstype else None,
            ctypes.c_ulong(flags),
            os.fsencode(data) if data else None,
        )
        if res != 0:
            raise MountError(op, source, target, flags, data, ctypes.get_errno())

    def mount(self, device: str, target: str, fstype: str, options: str) -> None:
        flags, data = parse_options(options)
        plain = flags & ~_PROPAGATION
        self._mount(device, target, fstype, plain, data, "mount")
        if flags & _PROPAGATION:
            # propagation can only be changed by a call of its own (mount(2): "changing the propagation type")
            self._mount("", target, "", flags & (_PROPAGATION | MS_REC | MS_SILENT), "", "remount")
        if plain & (MS_BIND | MS_RDONLY) == MS_BIND | MS_RDONLY:
            # the kernel ignores MS_RDONLY on the first bind call; a remount applies it (mount(2), MS_BIND)
            self._mount("", target, "", plain | MS_REMOUNT, "", "remount-ro")

    def unmount(self, target: str) -> None:
        if self._libc.umount2(os.fsencode(target), ctypes.c_int(MNT_DETACH)) != 0:
            err = ctypes.get_errno()
            if err not in (errno_module.EINVAL, errno_module.ENOENT):  # EINVAL: not a mount point
                raise MountError("umount", "", target, MNT_DETACH, "", err)

    def mounted(self, target: str) -> bool:
        return os.path.realpath(target) in mount_table()

    def mounts_under(self, prefix: str) -> list[str]:
        real = os.path.realpath(prefix)
        return [m for m in mount_table() if m == real or m.startswith(real.rstrip("/") + "/")]


class FakeMounter:
    """Records mounts in memory; `fail_next` makes the next mount raise (EINVAL), as a bad `o=` would."""

    def __init__(self) -> None:
        self.table: dict[str, tuple[str, str, str]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.fail_next = False

    def mount(self, device: str, target: str, fstype: str, options: str) -> None:
        self.calls.append(("mount", device, target, fstype, options))
        if self.fail_next:
            self.fail_next = False
            flags, data = parse_options(options)
            raise MountError("mount", device, target, flags, data, errno_module.EINVAL)
        self.table[os.path.realpath(target)] = (device, fstype, options)

    def unmount(self, target: str) -> None:
        self.calls.append(("unmount", target))
        self.table.pop(os.path.realpath(target), None)

    def mounted(self, target: str) -> bool:
        return os.path.realpath(target) in self.table

    def mounts_under(self, prefix: str) -> list[str]:
        real = os.path.realpath(prefix)
        return [m for m in self.table if m == real or m.startswith(real.rstrip("/") + "/")]
