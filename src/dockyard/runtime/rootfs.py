"""The container's filesystem: mounts of config.json inside the rootfs, /dev, pivot_root, then the read-only and
masked paths. Runs in the container's init, inside its new mount namespace; it never unshares or forks.

Follows runc 1.1 (libcontainer/rootfs_linux.go) except where a comment says otherwise. Destinations are resolved
with secure_join at mount time, after the mounts before them, so a symlink in the rootfs or in an earlier mount
cannot lead a mount out of the rootfs. Gap: runc also mounts through an O_PATH /proc/self/fd handle to close the
window between resolving and mounting; before the container starts, only the host can race us there.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.errors import SpecError, SyscallError
from dockyard.oci.model import Model, replace
from dockyard.oci.runtime_spec import Mount, Spec
from dockyard.runtime import devices
from dockyard.runtime.bundle import rootfs_path
from dockyard.runtime.linux import consts as c
from dockyard.runtime.linux.syscalls import Syscalls
from dockyard.runtime.mounts import (
    BIND_REMOUNT_FLAGS,
    MountInfo,
    MountOptions,
    cgroup_v1_binds,
    check_mount,
    described,
    mount,
    parse_mount_options,
    parse_mountinfo,
    propagation_flag,
)
from dockyard.runtime.pathutil import is_within, make_dirs, os_error, secure_join, touch

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable

MOUNTINFO_PATH = "/proc/self/mountinfo"
PROC_CGROUP_PATH = "/proc/self/cgroup"
CGROUP_ROOT = "/sys/fs/cgroup"

# runc's checkProcMount: files under /proc that lxcfs emulates may be bind-mounted over; nothing else may.
PROC_MOUNT_ALLOWED = (
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
    "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
)  # fmt: skip

# statvfs f_flag bits (ST_*, statvfs(3)) → the mount flags to repeat in a bind remount. In a user namespace the
# kernel locks these on mounts inherited from the host and refuses a remount that would drop them.
_KEPT_FLAGS = (
    (os.ST_NOSUID, c.MS_NOSUID), (os.ST_NODEV, c.MS_NODEV), (os.ST_NOEXEC, c.MS_NOEXEC),
    (os.ST_NOATIME, c.MS_NOATIME), (os.ST_NODIRATIME, c.MS_NODIRATIME), (os.ST_RELATIME, c.MS_RELATIME),
)  # fmt: skip


class _Context(Model, kw_only=False):
    rootfs: str
    bundle: str
    userns: bool
    netns: bool
    cgroup_view: Callable[[str], str] | None = None


def setup_rootfs(
    spec: Spec,
    bundle: str,
    sys: Syscalls,
    *,
    console_path: str | None = None,
    cgroup_view: Callable[[str], str] | None = None,
) -> None:
    """Mount everything into the rootfs, populate /dev, bind the console, then pivot_root into it.
    The caller is already in a new mount namespace; afterwards "/" is the rootfs and cwd is "/".
    `cgroup_view` maps the text of /proc/self/cgroup to the cgroups the container will be in, for a cgroup v1
    mount (which binds those); the caller may not have joined them yet, and may wait in it until they exist."""
    rootfs = rootfs_path(spec, bundle)
    linux = spec.linux
    ctx = _Context(
        rootfs=rootfs,
        bundle=os.path.abspath(bundle),
        userns=linux is not None and linux.namespace("user") is not None,
        netns=linux is not None and linux.namespace("network") is not None,
        cgroup_view=cgroup_view,
    )
    _prepare_root(rootfs, (linux.rootfs_propagation if linux else None) or "", sys)
    for index, entry in enumerate(spec.mounts):
        _mount_entry(ctx, entry, index, sys)
    # why: a bind-mounted /dev is the host's and already populated (runc's needsSetupDev)
    dev_bound = any(
        _is(m, "/dev") and (m.type == "bind" or parse_mount_options(m.options).is_bind) for m in spec.mounts
    )
    if not dev_bound:
        devices.create_devices(rootfs, devices.container_devices(spec), sys, bind=ctx.userns)
        devices.create_dev_symlinks(rootfs, ptmx=any(_is(m, "/dev/pts") for m in spec.mounts))
    if console_path is not None:
        devices.mount_console(rootfs, console_path, sys)
    _pivot_root(rootfs, sys)


def _is(entry: Mount, destination: str) -> bool:
    return os.path.normpath(entry.destination) == destination


def _prepare_root(rootfs: str, propagation: str, sys: Syscalls) -> None:
    # why: runc applies the rootfsPropagation flags exactly as mapped ("private" is not recursive, "rprivate" is);
    # the default rslave keeps host mounts flowing in while nothing of ours flows out.
    mount(sys, None, "/", None, propagation_flag(propagation), None)
    if propagation not in ("", "rslave", "rprivate"):
        _make_parent_private(rootfs, sys)
    mount(sys, rootfs, rootfs, "bind", c.MS_BIND | c.MS_REC, None)


def _make_parent_private(rootfs: str, sys: Syscalls) -> None:
    # why: pivot_root(2) fails with EINVAL when the parent mount of new_root is shared, and a shared parent
    # would propagate our bind of the rootfs to the host (runc's rootfsParentMountPrivate).
    parents = [m for m in _read_mountinfo() if is_within(m.mountpoint, rootfs)]
    if not parents:
        return
    parent = max(parents, key=lambda m: len(m.mountpoint))
    if any(tag.startswith("shared:") for tag in parent.optional):
        mount(sys, None, parent.mountpoint, None, c.MS_PRIVATE, None)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as err:
        raise os_error("read", path, err) from err


def _read_mountinfo() -> list[MountInfo]:
    return parse_mountinfo(_read_text(MOUNTINFO_PATH))


def _mount_entry(ctx: _Context, entry: Mount, index: int, sys: Syscalls) -> None:
    opts = check_mount(entry, index)
    where = f"mounts[{index}]"
    if entry.type == "cgroup" and not opts.is_bind:
        _mount_cgroup(ctx, entry, opts, sys, where)
        return
    if entry.type == "sysfs" and not opts.is_bind and ctx.userns and not ctx.netns:
        # why: the kernel refuses sysfs to a user namespace that does not own the network namespace; crun and
        # podman fall back to a recursive bind of the host's /sys, and so do we.
        entry = replace(entry, source="/sys", type="bind")
        opts = replace(opts, flags=opts.flags | c.MS_BIND | c.MS_REC, is_bind=True, is_recursive=True)
    if opts.is_bind:
        source = os.path.join(ctx.bundle, entry.source or "")  # an absolute source stays as it is
        try:
            is_dir = stat.S_ISDIR(os.stat(source).st_mode)
        except FileNotFoundError as err:
            raise SpecError(f"{where}.source", f"bind source `{source}` does not exist") from err
        except OSError as err:
            raise os_error("stat", source, err) from err
        _bind(ctx, source, entry.destination, opts, sys, is_dir=is_dir, where=where)
    else:
        _mount_fs(ctx, entry, opts, sys, where)


def _bind(
    ctx: _Context, source: str, destination: str, opts: MountOptions, sys: Syscalls, *, is_dir: bool, where: str
) -> str:
    dest = secure_join(ctx.rootfs, destination)
    _check_proc(ctx.rootfs, dest, None, where)
    if is_dir:
        make_dirs(dest)
    else:
        touch(dest)
    mount(sys, source, dest, "bind", c.MS_BIND | (c.MS_REC if opts.is_recursive else 0), None)
    # why: the kernel ignores ro, nosuid, … on the bind itself; only a remount applies them (mount(2))
    if opts.flags & BIND_REMOUNT_FLAGS:
        _remount_bind(source, dest, opts.flags & BIND_REMOUNT_FLAGS, sys)
    _propagate(dest, opts, sys)
    return dest


def _remount_bind(source: str, dest: str, flags: int, sys: Syscalls) -> None:
    try:
        sys.mount(None, dest, None, c.MS_REMOUNT | c.MS_BIND | flags, None)
        return
    except SyscallError as err:
        if err.errno != errno.EPERM:
            raise described(err, f"remount `{dest}`") from err
    # why: in a user namespace the source mount's ro/nosuid/nodev/noexec/atime flags are locked and must be
    # repeated (runc's remount retries with the source's flags)
    locked = _kept_flags(source) | (c.MS_RDONLY if _statvfs_flags(source) & os.ST_RDONLY else 0)
    mount(sys, None, dest, None, c.MS_REMOUNT | c.MS_BIND | flags | locked, None)


def _propagate(dest: str, opts: MountOptions, sys: Syscalls) -> None:
    # why: mount(2) takes one propagation change per call, and none together with other flags
    for flag in opts.propagation_flags:
        mount(sys, None, dest, None, flag, None)


def _mount_fs(ctx: _Context, entry: Mount, opts: MountOptions, sys: Syscalls, where: str) -> None:
    fstype = entry.type or ""
    dest = secure_join(ctx.rootfs, entry.destination)
    if fstype in ("proc", "sysfs"):
        # why: proc and sysfs must land exactly on their path, never through a symlink (runc refuses too)
        lexical = os.path.join(ctx.rootfs, os.path.normpath("/" + entry.destination).lstrip("/"))
        if dest != lexical or (os.path.lexists(dest) and not os.path.isdir(dest)):
            raise SpecError(f"{where}.destination", f"{fstype} must be mounted on an ordinary directory")
    _check_proc(ctx.rootfs, dest, fstype, where)
    try:
        old_mode: int | None = os.stat(dest).st_mode
    except OSError:
        old_mode = None
    make_dirs(dest)
    flags = opts.flags
    if fstype == "tmpfs" or _is(entry, "/dev"):
        flags &= ~c.MS_RDONLY  # why: files go in first; finalize_rootfs remounts it read-only (runc)
    mount(sys, entry.source or fstype, dest, fstype, flags, opts.data or None)
    if fstype == "tmpfs" and old_mode is not None and "mode=" not in opts.data:
        # why: runc keeps the mode of the directory the tmpfs covers; unlike runc, an explicit mode= wins
        try:
            os.chmod(dest, stat.S_IMODE(old_mode))
        except OSError as err:
            raise os_error("chmod", dest, err) from err
    _propagate(dest, opts, sys)


def _check_proc(rootfs: str, dest: str, fstype: str | None, where: str) -> None:
    proc = os.path.join(rootfs, "proc")
    if dest == proc:
        if fstype != "proc":
            raise SpecError(f"{where}.destination", "only a proc filesystem may be mounted on `/proc`")
    elif is_within(proc, dest) and dest not in {os.path.join(rootfs, p.lstrip("/")) for p in PROC_MOUNT_ALLOWED}:
        inside = "/" + os.path.relpath(dest, rootfs)
        raise SpecError(f"{where}.destination", f"`{inside}` is inside /proc and cannot be a mount point")


def _mount_cgroup(ctx: _Context, entry: Mount, opts: MountOptions, sys: Syscalls, where: str) -> None:
    """cgroup v2: mount cgroup2 (a bind of the host's /sys/fs/cgroup when the kernel refuses, as runc does).
    cgroup v1: runc's layout — a tmpfs, and in it a bind of this process's cgroup in each hierarchy."""
    # why: only cgroup and cgroup2 mounts matter here; parsing the host's other mounts (every container's overlay
    # on a busy host) would cost the init ≈ 5 µs a line. Fields never hold a space (mountinfo escapes it as \040).
    text = _read_text(MOUNTINFO_PATH)
    mountinfo = parse_mountinfo("\n".join(line for line in text.splitlines() if " - cgroup" in line))
    dest = secure_join(ctx.rootfs, entry.destination)
    _check_proc(ctx.rootfs, dest, "cgroup", where)
    flags = opts.flags & ~(c.MS_BIND | c.MS_REC)
    if any(m.mountpoint == CGROUP_ROOT and m.fstype == "cgroup2" for m in mountinfo):
        make_dirs(dest)
        try:
            sys.mount("cgroup2", dest, "cgroup2", flags, None)
        except SyscallError as err:
            if err.errno not in (errno.EPERM, errno.EBUSY):
                raise described(err, f"mount `cgroup2` (cgroup2) onto `{dest}`") from err
            _bind(ctx, CGROUP_ROOT, entry.destination, replace(opts, is_recursive=True), sys, is_dir=True, where=where)
        return
    tmpfs = c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC
    make_dirs(dest)
    mount(sys, "tmpfs", dest, "tmpfs", tmpfs, "mode=755")
    _propagate(dest, opts, sys)
    bind_opts = replace(opts, is_bind=True, is_recursive=True)
    # why: inside a cgroup namespace a host hierarchy mounted above our namespace root shows its root as `/..`,
    # and /proc/self/cgroup says `/`: a bind would expose the host's cgroup, not ours. Mount such a hierarchy
    # afresh instead; its root is then our namespace root (runc's mountCgroupV1 does so with a cgroupns).
    outside = [m for m in mountinfo if m.fstype == "cgroup" and (m.root == "/.." or m.root.startswith("/../"))]
    for info in outside:
        name = os.path.basename(info.mountpoint)
        target = secure_join(ctx.rootfs, os.path.join(entry.destination, name))
        make_dirs(target)
        data = ",".join(o for o in info.super_options if o not in ("rw", "ro") and not o.startswith("release_agent="))
        source = "systemd" if "name=systemd" in info.super_options else "cgroup"
        mount(sys, source, target, "cgroup", flags | tmpfs, data)
    proc_cgroup = _read_text(PROC_CGROUP_PATH)
    if ctx.cgroup_view is not None:
        proc_cgroup = ctx.cgroup_view(proc_cgroup)
    binds = cgroup_v1_binds([m for m in mountinfo if m not in outside], proc_cgroup)
    for source, name in binds:
        _bind(ctx, source, os.path.join(entry.destination, name), bind_opts, sys, is_dir=True, where=where)
    for name in [os.path.basename(m.mountpoint) for m in outside] + [name for _, name in binds]:
        if "," in name:  # why: merged hierarchies (cpu,cpuacct) get a link per controller, as runc makes
            for controller in name.split(","):
                _symlink(name, os.path.join(dest, controller))
    if opts.flags & c.MS_RDONLY:
        mount(sys, None, dest, None, c.MS_REMOUNT | c.MS_BIND | c.MS_RDONLY | tmpfs, None)


def _symlink(target: str, path: str) -> None:
    try:
        os.symlink(target, path)
    except FileExistsError:
        pass
    except OSError as err:
        raise os_error("symlink", path, err) from err


def _pivot_root(rootfs: str, sys: Syscalls) -> None:
    # why: pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then drops it, so
    # no put_old directory is needed (runc's pivotRoot, and pivot_root(2) NOTES)
    try:
        old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise os_error("open", rootfs, err) from err
    try:
        os.fchdir(new_root)
        try:
            sys.pivot_root(".", ".")
        except SyscallError as err:
            raise described(err, f"pivot_root `{rootfs}`") from err
        os.fchdir(old_root)
        # why: rslave first, so that unmounting the old root cannot propagate to the host's mounts
        mount(sys, None, ".", None, c.MS_SLAVE | c.MS_REC, None)
        try:
            sys.umount2(".", c.MNT_DETACH)
        except SyscallError as err:
            raise described(err, "unmount the old root") from err
        os.chdir("/")
    finally:
        os.close(old_root)
        os.close(new_root)


def finalize_rootfs(spec: Spec, sys: Syscalls, *, root: str = "/") -> None:
    """After pivot_root (and hostname, sysctl): readonlyPaths, maskedPaths, the read-only remount of tmpfs and
    /dev mounts that asked for "ro", and a read-only "/" for root.readonly. `root` is for tests only."""
    linux = spec.linux
    for path in linux.readonly_paths if linux else ():
        _readonly_path(root, path, sys)
    for path in linux.masked_paths if linux else ():
        _mask_path(root, path, sys)
    for index, entry in enumerate(spec.mounts):
        opts = check_mount(entry, index)
        if opts.flags & c.MS_RDONLY and not opts.is_bind and (entry.type == "tmpfs" or _is(entry, "/dev")):
            target = secure_join(root, entry.destination)
            flags = c.MS_REMOUNT | c.MS_BIND | c.MS_RDONLY | (opts.flags & BIND_REMOUNT_FLAGS)
            mount(sys, None, target, None, flags, None)
    if spec.root is not None and spec.root.readonly:
        mount(sys, None, root, None, c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | _kept_flags(root), None)


def _statvfs_flags(path: str) -> int:
    try:
        return os.statvfs(path).f_flag
    except OSError as err:
        raise os_error("statvfs", path, err) from err


def _kept_flags(path: str) -> int:
    """The mount flags of the mount holding `path` that a bind remount of it must repeat."""
    f_flag = _statvfs_flags(path)
    return sum(ms for st, ms in _KEPT_FLAGS if f_flag & st)


def _readonly_path(root: str, path: str, sys: Syscalls) -> None:
    target = secure_join(root, path)
    if not os.path.lexists(target):
        return
    mount(sys, target, target, "bind", c.MS_BIND | c.MS_REC, None)
    # why: keep nosuid/nodev/noexec/atime; a user namespace refuses a remount that drops locked flags
    mount(sys, None, target, None, c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | _kept_flags(target), None)


def _mask_path(root: str, path: str, sys: Syscalls) -> None:
    target = secure_join(root, path)
    if not os.path.lexists(target):
        return
    if os.path.isdir(target):
        mount(sys, "tmpfs", target, "tmpfs", c.MS_RDONLY, None)  # an empty read-only directory (runc)
    else:
        mount(sys, "/dev/null", target, "bind", c.MS_BIND, None)
