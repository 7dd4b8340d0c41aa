"""Mount option strings of config.json → mount(2) flags, propagation changes and fs data; mountinfo parsing.

Pure except `mount`, which only wraps one Syscalls.mount call to give its error a full description. The
option table is runc's (libcontainer/specconv): what is not a flag or a propagation is fs-specific data for
the kernel (e.g. "mode=755,size=65536k"). Deciding what to mount where is rootfs.py's job, not this module's.
"""

from __future__ import annotations

import os

from dockyard.errors import SpecError, SyscallError
from dockyard.oci.model import Model, replace
from dockyard.oci.runtime_spec import Mount
from dockyard.runtime.linux import consts as c

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Sequence

    from dockyard.runtime.linux.syscalls import Syscalls

_MS_I_VERSION = 1 << 23  # include/uapi/linux/mount.h; only the option table needs it

# option → (clears the flag?, flag); "defaults" is a no-op, as in mount(8)
MOUNT_FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, c.MS_RDONLY), "rw": (True, c.MS_RDONLY),
    "nosuid": (False, c.MS_NOSUID), "suid": (True, c.MS_NOSUID),
    "nodev": (False, c.MS_NODEV), "dev": (True, c.MS_NODEV),
    "noexec": (False, c.MS_NOEXEC), "exec": (True, c.MS_NOEXEC),
    "sync": (False, c.MS_SYNCHRONOUS), "async": (True, c.MS_SYNCHRONOUS),
    "dirsync": (False, c.MS_DIRSYNC),
    "remount": (False, c.MS_REMOUNT),
    "mand": (False, c.MS_MANDLOCK), "nomand": (True, c.MS_MANDLOCK),
    "noatime": (False, c.MS_NOATIME), "atime": (True, c.MS_NOATIME),
    "nodiratime": (False, c.MS_NODIRATIME), "diratime": (True, c.MS_NODIRATIME),
    "relatime": (False, c.MS_RELATIME), "norelatime": (True, c.MS_RELATIME),
    "strictatime": (False, c.MS_STRICTATIME), "nostrictatime": (True, c.MS_STRICTATIME),
    "bind": (False, c.MS_BIND), "rbind": (False, c.MS_BIND | c.MS_REC),
    "nosymfollow": (False, c.MS_NOSYMFOLLOW), "symfollow": (True, c.MS_NOSYMFOLLOW),
    "lazytime": (False, c.MS_LAZYTIME), "nolazytime": (True, c.MS_LAZYTIME),
    "acl": (False, c.MS_POSIXACL), "noacl": (True, c.MS_POSIXACL),
    "iversion": (False, _MS_I_VERSION), "noiversion": (True, _MS_I_VERSION),
    "silent": (False, c.MS_SILENT), "loud": (True, c.MS_SILENT),
}  # fmt: skip

# runc's mountPropagationMapping: the "r" forms add MS_REC, the plain forms change only the one mount.
PROPAGATION_FLAGS: dict[str, int] = {
    "private": c.MS_PRIVATE, "rprivate": c.MS_PRIVATE | c.MS_REC,
    "shared": c.MS_SHARED, "rshared": c.MS_SHARED | c.MS_REC,
    "slave": c.MS_SLAVE, "rslave": c.MS_SLAVE | c.MS_REC,
    "unbindable": c.MS_UNBINDABLE, "runbindable": c.MS_UNBINDABLE | c.MS_REC,
}  # fmt: skip

# Options runc knows that need mount_setattr(2) or a copy-up step; we refuse them rather than hand them to
# the kernel as fs data, where they would fail with a bare EINVAL.
UNSUPPORTED_OPTIONS = frozenset(
    {"rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime", "rdiratime",
     "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime", "rnostrictatime", "rnosymfollow",
     "rsymfollow", "tmpcopyup", "idmap", "ridmap"}
)  # fmt: skip

# Flags a bind remount can change (fs/namespace.c do_reconfigure_mnt); the rest need no remount.
BIND_REMOUNT_FLAGS = (
    c.MS_RDONLY | c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC | c.MS_NOATIME | c.MS_NODIRATIME | c.MS_RELATIME
    | c.MS_STRICTATIME | c.MS_NOSYMFOLLOW
)  # fmt: skip


class MountOptions(Model, kw_only=False):
    """The parsed options of one mount: `flags` to set, `clear_flags` explicitly turned off (rw, suid, dev…),
    `propagation_flags` each applied by its own mount(2) call after the mount, `data` for the filesystem."""

    flags: int = 0
    clear_flags: int = 0
    propagation_flags: tuple[int, ...] = ()
    data: str = ""
    is_bind: bool = False
    is_recursive: bool = False


def parse_mount_options(options: Sequence[str]) -> MountOptions:
    """Fold the options left to right as runc does: a later "rw" undoes an earlier "ro"."""
    flags = clear = 0
    propagation: list[int] = []
    data: list[str] = []
    for option in options:
        if option in MOUNT_FLAGS:
            clears, flag = MOUNT_FLAGS[option]
            if clears:
                flags &= ~flag
                clear |= flag
            else:
                flags |= flag
                clear &= ~flag
        elif option in PROPAGATION_FLAGS:
            propagation.append(PROPAGATION_FLAGS[option])
        else:
            data.append(option)
    return MountOptions(
        flags=flags,
        clear_flags=clear,
        propagation_flags=tuple(propagation),
        data=",".join(data),
        is_bind=bool(flags & c.MS_BIND),
        is_recursive=bool(flags & c.MS_BIND and flags & c.MS_REC),
    )


def check_mount(mount: Mount, index: int) -> MountOptions:
    """Parse and validate `mounts[index]`; errors name the JSON path of the offending field."""
    where = f"mounts[{index}]"
    for i, option in enumerate(mount.options):
        if not option:
            raise SpecError(f"{where}.options[{i}]", "empty mount option")
        if option in UNSUPPORTED_OPTIONS:
            raise SpecError(f"{where}.options[{i}]", f"mount option `{option}` is not supported")
    opts = parse_mount_options(mount.options)
    if mount.type == "bind" and not opts.is_bind:
        opts = replace(opts, flags=opts.flags | c.MS_BIND, is_bind=True)
    if not opts.is_bind and not mount.type:
        raise SpecError(f"{where}.type", "a mount needs a type unless it is a bind mount")
    if opts.is_bind and not mount.source:
        raise SpecError(f"{where}.source", "a bind mount needs a source")
    if opts.data and (opts.is_bind or mount.type == "cgroup"):
        kind = "bind" if opts.is_bind else "cgroup"
        bad = next(i for i, o in enumerate(mount.options) if o not in MOUNT_FLAGS and o not in PROPAGATION_FLAGS)
        raise SpecError(f"{where}.options[{bad}]", f"`{mount.options[bad]}` is not a valid option for a {kind} mount")
    return opts


def propagation_flag(name: str) -> int:
    """The mount(2) flags for a `linux.rootfsPropagation` value; "" means the default, rslave."""
    if not name:
        return c.MS_SLAVE | c.MS_REC
    if name not in PROPAGATION_FLAGS:
        raise SpecError("linux.rootfsPropagation", f"unknown propagation `{name}`")
    return PROPAGATION_FLAGS[name]


_FLAG_NAMES = [(f, n) for n, (clears, f) in MOUNT_FLAGS.items() if f and not clears and n != "rbind"]
_FLAG_NAMES += [(c.MS_REC, "rec")] + [(f, n) for n, f in PROPAGATION_FLAGS.items() if not f & c.MS_REC]


def describe_flags(flags: int) -> str:
    """Mount flags as option names for messages, e.g. "ro,nosuid,bind,remount"; "defaults" for none."""
    return ",".join(name for flag, name in _FLAG_NAMES if flags & flag) or "defaults"


def mount(sys: Syscalls, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    """sys.mount, with an error that says what was being mounted where, e.g.
    ``mount `proc` (proc) onto `/run/x/rootfs/proc`: operation not permitted``."""
    try:
        sys.mount(source, target, fstype, flags, data)
    except SyscallError as err:
        raise described(err, _describe_mount(source, target, fstype, flags)) from err


def described(err: SyscallError, what: str) -> SyscallError:
    """A copy of `err` (same call, target and errno) whose message starts with `what` instead."""
    new = SyscallError(err.call, err.target, err.errno)
    new.message = f"{what}: {str(err).rsplit(': ', 1)[-1]}"
    new.args = (new.message,)
    return new


def _describe_mount(source: str | None, target: str, fstype: str | None, flags: int) -> str:
    if flags & c.MS_REMOUNT:
        return f"remount `{target}` {describe_flags(flags & ~c.MS_REMOUNT)}"
    if flags & c.MS_BIND:
        return f"bind-mount `{source}` onto `{target}`"
    if flags & (c.MS_PRIVATE | c.MS_SHARED | c.MS_SLAVE | c.MS_UNBINDABLE):
        return f"set propagation {describe_flags(flags)} of `{target}`"
    return f"mount `{source}` ({fstype}) onto `{target}`"


class MountInfo(Model, kw_only=False):
    """One line of /proc/<pid>/mountinfo (proc(5)); `optional` holds the tagged fields, e.g. ("shared:1",)."""

    root: str
    mountpoint: str
    options: tuple[str, ...]
    optional: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]


def _unescape(field: str) -> str:
    # why: the kernel escapes space, tab, newline and backslash as \ooo octal in mountinfo (show_mountinfo)
    if "\\" not in field:
        return field  # nearly every field: the init parses the host's mountinfo on each container start
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountInfo]:
    """Parse mountinfo text; malformed lines are skipped (the kernel writes it, so they do not occur)."""
    result = []
    for line in text.splitlines():
        fields = line.split(" ")
        if "-" not in fields[6:] or len(fields) < 10:
            continue
        sep = fields.index("-", 6)
        if len(fields) < sep + 4:
            continue
        result.append(
            MountInfo(
                root=_unescape(fields[3]),
                mountpoint=_unescape(fields[4]),
                options=tuple(fields[5].split(",")),
                optional=tuple(fields[6:sep]),
                fstype=fields[sep + 1],
                source=_unescape(fields[sep + 2]),
                super_options=tuple(fields[sep + 3].split(",")),
            )
        )
    return result


def cgroup_v1_binds(mountinfo: Sequence[MountInfo], proc_cgroup: str) -> list[tuple[str, str]]:
    """For each cgroup v1 hierarchy: (host directory of this process's cgroup, hierarchy directory name).

    `proc_cgroup` is the text of /proc/self/cgroup ("id:controllers:path" lines); a hierarchy is matched to
    the line whose controllers all appear in the mount's super options (runc's GetOwnCgroup).
    """
    owned: list[tuple[frozenset[str], str]] = []
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[1]:
            owned.append((frozenset(parts[1].split(",")), parts[2]))
    binds = []
    for info in mountinfo:
        if info.fstype != "cgroup":
            continue
        opts = set(info.super_options)
        path = next((p for ctrls, p in owned if ctrls <= opts), None)
        if path is None:
            continue
        rel = os.path.relpath(path, info.root)
        if rel.startswith(".."):
            continue  # our cgroup is outside what this mount shows (a cgroup namespace of someone else)
        binds.append((os.path.normpath(os.path.join(info.mountpoint, rel)), os.path.basename(info.mountpoint)))
    return binds
