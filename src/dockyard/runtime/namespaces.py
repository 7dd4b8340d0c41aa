"""Namespace plans from a spec (which to join by path, which to create, in what order) and the uid/gid map text.

Pure planning plus the few calls that act on a plan (open, setns, write maps); it never forks. Ordering rules:
- join the user namespace first, then mount, then the rest (setns(2): joining a user namespace gives the
  capabilities needed to join the namespaces it owns; runc's nsexec does the same);
- all paths are opened before the first setns, so that later joins cannot change how paths resolve;
- a new user namespace is unshared alone and mapped by the parent before anything else is created, so that
  every other new namespace is owned by it;
- a new (or joined) pid namespace only applies to children: the caller must fork afterwards.
"""

from __future__ import annotations

import os

from dockyard.errors import SpecError, SyscallError, Unsupported
from dockyard.oci.model import Model
from dockyard.oci.runtime_spec import IdMapping, Linux
from dockyard.runtime.linux.consts import CLONE_NEWPID, CLONE_NEWUSER, NAMESPACE_FLAGS, NAMESPACE_PROC_NAMES

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from dockyard.runtime.linux.syscalls import Syscalls

# Join order after "user" and "mount"; the rest keep this fixed order so plans are deterministic.
_JOIN_ORDER = ("user", "mount", "network", "ipc", "uts", "cgroup", "pid", "time")


class NamespacePlan(Model):
    join: tuple[tuple[str, str], ...] = ()  # (type, path) in setns order
    new_user: bool = False
    unshare_flags: int = 0  # every new namespace except user
    new_types: tuple[str, ...] = ()

    @property
    def needs_fork(self) -> bool:
        """A new or joined pid namespace only holds the children of the caller (pid_namespaces(7))."""
        return bool(self.unshare_flags & CLONE_NEWPID) or any(kind == "pid" for kind, _ in self.join)

    def has(self, kind: str) -> bool:
        return kind in self.new_types or any(k == kind for k, _ in self.join)


def plan_namespaces(linux: Linux | None) -> NamespacePlan:
    join: list[tuple[str, str]] = []
    new: list[str] = []
    for i, ns in enumerate(linux.namespaces if linux else ()):
        if ns.type == "time":
            raise Unsupported(f"invalid config `linux.namespaces[{i}].type`: namespace `time` is not supported")
        if ns.path:
            join.append((ns.type, ns.path))
        else:
            new.append(ns.type)
    join.sort(key=lambda item: _JOIN_ORDER.index(item[0]))
    flags = 0
    for kind in new:
        if kind != "user":
            flags |= NAMESPACE_FLAGS[kind]
    return NamespacePlan(join=tuple(join), new_user="user" in new, unshare_flags=flags, new_types=tuple(new))


def check_paths(linux: Linux | None) -> None:
    """Every namespace path must exist, before anything is created (SpecError naming the field)."""
    for i, ns in enumerate(linux.namespaces if linux else ()):
        if ns.path and not os.path.exists(ns.path):
            raise SpecError(f"linux.namespaces[{i}].path", f"`{ns.path}` does not exist")


def open_join_fds(join: Sequence[tuple[str, str]]) -> list[tuple[str, int]]:
    fds: list[tuple[str, int]] = []
    try:
        for kind, path in join:
            try:
                fds.append((kind, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
            except OSError as err:
                raise SyscallError("open namespace", path, err.errno or 0) from err
    except BaseException:
        close_fds(fds)
        raise
    return fds


def close_fds(fds: Iterable[tuple[str, int]]) -> None:
    for _, fd in fds:
        os.close(fd)


def join_all(fds: Sequence[tuple[str, int]], sys: Syscalls) -> None:
    """setns into each namespace in order, then close the fds."""
    try:
        for kind, fd in fds:
            try:
                sys.setns(fd, NAMESPACE_FLAGS[kind])
            except SyscallError as err:
                raise SyscallError(f"setns {kind}", err.target, err.errno) from err
    finally:
        close_fds(fds)


def unshare_user(sys: Syscalls) -> None:
    sys.unshare(CLONE_NEWUSER)


def id_map_text(mappings: Sequence[IdMapping]) -> str:
    """user_namespaces(7) map format: one `inside outside count` line per mapping."""
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)


def needs_setgroups_deny(euid: int) -> bool:
    """Whether gid_map can only be written after `deny` in /proc/<pid>/setgroups.

    user_namespaces(7): since Linux 3.19 an unprivileged writer (no CAP_SETGID in the parent namespace) must deny
    setgroups first; a privileged writer must not, or the container could never call setgroups (runc writes it
    only for rootless containers).
    """
    return euid != 0


def maps_root(mappings: Sequence[IdMapping]) -> bool:
    return any(m.container_id == 0 for m in mappings)


def write_id_maps(pid: int, uid_mappings: Sequence[IdMapping], gid_mappings: Sequence[IdMapping]) -> None:
    """Write /proc/<pid>/uid_map and gid_map, each in one write(2) as the kernel requires."""
    if needs_setgroups_deny(os.geteuid()):
        _write_proc(f"/proc/{pid}/setgroups", "deny")
    _write_proc(f"/proc/{pid}/uid_map", id_map_text(uid_mappings))
    _write_proc(f"/proc/{pid}/gid_map", id_map_text(gid_mappings))


def _write_proc(path: str, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as err:
        raise SyscallError("write", path, err.errno or 0) from err


def exec_join_plan(init_pid: int, self_pid: str = "self") -> tuple[tuple[str, str], ...]:
    """The /proc/<init>/ns/* entries an exec must join: those that differ from ours, user first, then mount.

    Joining a namespace the caller is already in fails for the user namespace (setns(2): EINVAL), and is
    wasted work for the others.
    """
    join: list[tuple[str, str]] = []
    for kind in _JOIN_ORDER:
        name = NAMESPACE_PROC_NAMES[kind]
        target = f"/proc/{init_pid}/ns/{name}"
        try:
            theirs = os.stat(target)
        except FileNotFoundError:
            continue
        except OSError as err:
            raise SyscallError("stat", target, err.errno or 0) from err
        try:
            ours = os.stat(f"/proc/{self_pid}/ns/{name}")
        except OSError:
            ours = None
        if ours is None or (ours.st_ino, ours.st_dev) != (theirs.st_ino, theirs.st_dev):
            join.append((kind, target))
    return tuple(join)
