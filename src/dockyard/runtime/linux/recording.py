"""RecordingSyscalls: a Syscalls fake that records every call instead of making it, for unit tests without root.

`fail` lets a test make one call fail with a chosen errno, to exercise error paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.errors import SyscallError


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[object, ...]


@dataclass
class RecordingSyscalls:
    calls: list[Call] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # call name -> errno to raise
    caps: tuple[int, int, int] = ((1 << 41) - 1, (1 << 41) - 1, 0)

    def _record(self, name: str, target: str, *args: object) -> None:
        self.calls.append(Call(name, args))
        if name in self.fail:
            raise SyscallError(name, target, self.fail[name])

    def named(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
        self._record("mount", target, source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        self._record("umount2", target, target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, new_root, put_old)

    def unshare(self, flags: int) -> None:
        self._record("unshare", hex(flags), flags)

    def setns(self, fd: int, nstype: int) -> None:
        self._record("setns", f"fd {fd}", fd, nstype)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name, name)

    def setdomainname(self, name: str) -> None:
        self._record("setdomainname", name, name)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._record("mknod", path, path, mode, device)

    def chroot(self, path: str) -> None:
        self._record("chroot", path, path)

    def capget(self) -> tuple[int, int, int]:
        self._record("capget", "")
        return self.caps

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._record("capset", "", effective, permitted, inheritable)
        self.caps = (effective, permitted, inheritable)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self._record("prctl", str(option), option, arg2, arg3, arg4, arg5)
        return 0

    def setgroups(self, gids: list[int]) -> None:
        self._record("setgroups", "", list(gids))

    def setresgid(self, gid: int) -> None:
        self._record("setresgid", str(gid), gid)

    def setresuid(self, uid: int) -> None:
        self._record("setresuid", str(uid), uid)
