"""The device nodes, standard symlinks and console of a container's /dev, created before pivot_root.

Device cgroup rules (what the container may open) are the cgroup managers' business, not this module's.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.errors import SyscallError
from dockyard.oci.runtime_spec import Device, Spec
from dockyard.runtime.linux import consts as c
from dockyard.runtime.linux.syscalls import Syscalls
from dockyard.runtime.mounts import mount
from dockyard.runtime.pathutil import make_dirs, os_error, secure_join, touch

# runc's default devices (libcontainer/specconv AllowedDevices), in the order of the OCI runtime spec's list.
DEFAULT_DEVICES: tuple[Device, ...] = (
    Device(path="/dev/null", type="c", major=1, minor=3, file_mode=0o666),
    Device(path="/dev/zero", type="c", major=1, minor=5, file_mode=0o666),
    Device(path="/dev/full", type="c", major=1, minor=7, file_mode=0o666),
    Device(path="/dev/random", type="c", major=1, minor=8, file_mode=0o666),
    Device(path="/dev/urandom", type="c", major=1, minor=9, file_mode=0o666),
    Device(path="/dev/tty", type="c", major=5, minor=0, file_mode=0o666),
)

_FILE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}

# (link target, name in /dev): runc's setupDevSymlinks
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
)


def container_devices(spec: Spec) -> tuple[Device, ...]:
    """The defaults, except those a `linux.devices` entry with the same path replaces, then `linux.devices`."""
    extra = spec.linux.devices if spec.linux else ()
    taken = {os.path.normpath(d.path) for d in extra}
    return tuple(d for d in DEFAULT_DEVICES if d.path not in taken) + tuple(extra)


def device_mode(device: Device) -> int:
    """st_mode for mknod: the file type of `device.type` with the permission bits of fileMode (default 0666)."""
    perms = 0o666 if device.file_mode is None else stat.S_IMODE(device.file_mode)
    return _FILE_TYPES[device.type] | perms


def create_devices(rootfs: str, devices: tuple[Device, ...], sys: Syscalls, *, bind: bool) -> None:
    """mknod each device under `rootfs`; with `bind` (a user namespace, where mknod(2) is refused), or when
    mknod fails with EPERM, bind-mount the host's node onto an empty file instead (runc's createDeviceNode)."""
    old = os.umask(0)  # why: the nodes must get exactly their fileMode
    try:
        for device in devices:
            if os.path.normpath(device.path) == "/dev/ptmx":
                continue  # why: ptmx is the symlink to pts/ptmx that create_dev_symlinks makes (runc does the same)
            _create_device(rootfs, device, sys, bind)
    finally:
        os.umask(old)


def _create_device(rootfs: str, device: Device, sys: Syscalls, bind: bool) -> None:
    dest = secure_join(rootfs, device.path)
    make_dirs(os.path.dirname(dest))
    if not bind:
        try:
            sys.mknod(dest, device_mode(device), os.makedev(device.major or 0, device.minor or 0))
        except SyscallError as err:
            if err.errno == errno.EEXIST:
                return  # why: the rootfs already has a node there; runc keeps it too
            if err.errno != errno.EPERM:
                raise
        else:
            if device.uid is not None or device.gid is not None:
                uid = -1 if device.uid is None else device.uid
                gid = -1 if device.gid is None else device.gid
                try:
                    os.chown(dest, uid, gid, follow_symlinks=False)
                except OSError as err:
                    raise os_error("chown", dest, err) from err
            return
    touch(dest, 0o666)
    mount(sys, device.path, dest, "bind", c.MS_BIND, None)


def create_dev_symlinks(rootfs: str, *, ptmx: bool) -> None:
    """/dev/fd, stdin, stdout, stderr, /dev/core when the kernel has /proc/kcore, and with `ptmx` (a devpts
    is mounted at /dev/pts) /dev/ptmx → pts/ptmx, replacing whatever was there."""
    dev = secure_join(rootfs, "/dev")
    links = list(DEV_SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "core"))
    for target, name in links:
        path = os.path.join(dev, name)
        try:
            os.symlink(target, path)
        except FileExistsError:
            continue
        except OSError as err:
            raise os_error("symlink", path, err) from err
    if ptmx:
        path = os.path.join(dev, "ptmx")
        try:
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink("pts/ptmx", path)
        except OSError as err:
            raise os_error("symlink", path, err) from err


def mount_console(rootfs: str, console_path: str, sys: Syscalls) -> None:
    """Bind-mount the pty slave `console_path` onto <rootfs>/dev/console (an empty 0666 file first)."""
    dest = secure_join(rootfs, "/dev/console")
    touch(dest, 0o666)
    mount(sys, console_path, dest, "bind", c.MS_BIND, None)
