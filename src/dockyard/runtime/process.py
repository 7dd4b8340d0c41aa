"""Per-process settings of the container init: rlimits, oomScoreAdj, sysctls, the user switch and no_new_privs.

Runs in the init child after pivot_root (set_oom_score_adj may also run in the parent on the child's pid). Kernel
calls beyond plain file writes go through a Syscalls object; capabilities and seccomp live in their own modules.
"""

from __future__ import annotations

import os
import resource

from dockyard.errors import SpecError, SyscallError
from dockyard.oci.runtime_spec import Namespace, Rlimit, User
from dockyard.runtime.linux import consts

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from dockyard.runtime.linux.syscalls import Syscalls

    SetRlimit = Callable[[int, tuple[int, int]], None]

# getrlimit(2): the RLIMIT_* resource numbers (asm-generic/resource.h; the same on x86_64 and aarch64).
RLIMIT_NUMBERS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}
# OCI writes "unlimited" as RLIM_INFINITY's unsigned value; anything at or above 2**63 cannot be a real limit.
_UNLIMITED_FROM = 1 << 63

# runc's default when process.user.umask is absent (libcontainer/init_linux.go).
DEFAULT_UMASK = 0o022

# Sysctls that belong to the IPC namespace (runc's libcontainer/configs/validate: sysctl()).
_IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)


def rlimit_value(value: int) -> int:
    """An OCI limit as resource.setrlimit wants it: values ≥ 2**63 mean unlimited (RLIM_INFINITY)."""
    return resource.RLIM_INFINITY if value >= _UNLIMITED_FROM else value


def apply_rlimits(rlimits: Sequence[Rlimit], setrlimit: SetRlimit = resource.setrlimit) -> None:
    """Set each rlimit of `process.rlimits`; raising a hard limit needs CAP_SYS_RESOURCE (getrlimit(2))."""
    for rl in rlimits:
        number = RLIMIT_NUMBERS.get(rl.type)
        if number is None:
            raise SpecError("process.rlimits", f"unknown rlimit `{rl.type}`")
        try:
            setrlimit(number, (rlimit_value(rl.soft), rlimit_value(rl.hard)))
        except OSError as err:
            raise SyscallError("setrlimit", rl.type, err.errno or 0) from err
        except ValueError as err:
            raise SpecError("process.rlimits", f"`{rl.type}`: {err}") from err


def set_oom_score_adj(value: int | None, pid: int | str = "self", *, proc: str = "/proc") -> None:
    """Write `value` to /proc/<pid>/oom_score_adj (lowering it below the current value needs CAP_SYS_RESOURCE)."""
    if value is None:
        return
    path = f"{proc}/{pid}/oom_score_adj"
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(str(value))
    except OSError as err:
        raise SyscallError("write", path, err.errno or 0) from err


def _namespace_types(namespaces: Iterable[Namespace | str]) -> set[str]:
    return {ns if isinstance(ns, str) else ns.type for ns in namespaces}


def sysctl_path(key: str) -> str:
    """The path of a sysctl under /proc/sys: `net.ipv4.ip_forward` or `net/ipv4/conf/eth0.100/forwarding`.

    The slash form exists because interface names may hold dots (sysctl.d(5)); it is taken as it is.
    """
    path = key if "/" in key else key.replace(".", "/")
    parts = path.split("/")
    if not key or any(part in ("", ".", "..") for part in parts):
        raise SpecError(f"linux.sysctl.{key}", "not a valid sysctl name")
    return path


def validate_sysctl(sysctl: Mapping[str, str] | None, namespaces: Iterable[Namespace | str]) -> None:
    """Refuse sysctls that would change the host: only namespaced ones are allowed, as runc validates.

    IPC sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*) need an ipc namespace, net.* a network
    namespace, kernel.hostname and kernel.domainname a uts namespace. Safe to call in the parent.
    """
    if not sysctl:
        return
    kinds = _namespace_types(namespaces)
    for key in sysctl:
        path = sysctl_path(key)
        dotted = path.replace("/", ".") if "/" in key else key
        if dotted in _IPC_SYSCTLS or dotted.startswith("fs.mqueue."):
            needed = "ipc"
        elif dotted.startswith("net."):
            needed = "network"
        elif dotted in ("kernel.hostname", "kernel.domainname"):
            needed = "uts"
        else:
            raise SpecError(f"linux.sysctl.{key}", "not in a separate kernel namespace")
        if needed not in kinds:
            raise SpecError(f"linux.sysctl.{key}", f"needs a {needed} namespace: it would change the host")


def apply_sysctl(
    sysctl: Mapping[str, str] | None, namespaces: Iterable[Namespace | str], *, proc_sys: str = "/proc/sys"
) -> None:
    """Validate every key first (nothing is written when one is refused), then write each under /proc/sys."""
    if not sysctl:
        return
    validate_sysctl(sysctl, namespaces)
    for key, value in sysctl.items():
        path = os.path.join(proc_sys, sysctl_path(key))
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(value)
        except OSError as err:
            raise SyscallError("write sysctl", key, err.errno or 0) from err


def switch_user(
    user: User,
    sys: Syscalls,
    *,
    setgroups_allowed: bool = True,
    umask: Callable[[int], int] = os.umask,
) -> None:
    """Become `user`: supplementary groups, then gid, then uid, then the umask, keeping the permitted capabilities.

    PR_SET_KEEPCAPS keeps the permitted set across setresuid away from uid 0 (capabilities(7)); it is cleared
    again afterwards, as runc's finalizeNamespace does. Set `setgroups_allowed=False` inside a user namespace
    whose /proc/self/setgroups is `deny` (user_namespaces(7)).
    """
    sys.prctl(consts.PR_SET_KEEPCAPS, 1)
    if setgroups_allowed:
        sys.setgroups(list(user.additional_gids))
    sys.setresgid(user.gid)
    sys.setresuid(user.uid)
    umask(DEFAULT_UMASK if user.umask is None else user.umask)
    sys.prctl(consts.PR_SET_KEEPCAPS, 0)


def set_no_new_privileges(flag: bool, sys: Syscalls) -> None:
    """Set PR_SET_NO_NEW_PRIVS when `process.noNewPrivileges` asks; it cannot be unset (prctl(2))."""
    if flag:
        sys.prctl(consts.PR_SET_NO_NEW_PRIVS, 1)
