"""Unit tests for runtime/mounts.py: the option table, per-mount validation, mountinfo parsing, error wording."""

from __future__ import annotations

import errno

import pytest

from dockyard.errors import SpecError, SyscallError
from dockyard.oci.runtime_spec import Mount
from dockyard.runtime.linux import consts as c
from dockyard.runtime.linux.recording import RecordingSyscalls
from dockyard.runtime.mounts import (
    MountOptions,
    cgroup_v1_binds,
    check_mount,
    describe_flags,
    mount,
    parse_mount_options,
    parse_mountinfo,
    propagation_flag,
)

SET = [
    ("ro", c.MS_RDONLY), ("nosuid", c.MS_NOSUID), ("nodev", c.MS_NODEV), ("noexec", c.MS_NOEXEC),
    ("sync", c.MS_SYNCHRONOUS), ("dirsync", c.MS_DIRSYNC), ("remount", c.MS_REMOUNT), ("mand", c.MS_MANDLOCK),
    ("noatime", c.MS_NOATIME), ("nodiratime", c.MS_NODIRATIME), ("relatime", c.MS_RELATIME),
    ("strictatime", c.MS_STRICTATIME), ("bind", c.MS_BIND), ("rbind", c.MS_BIND | c.MS_REC),
    ("nosymfollow", c.MS_NOSYMFOLLOW), ("lazytime", c.MS_LAZYTIME), ("acl", c.MS_POSIXACL),
    ("silent", c.MS_SILENT), ("iversion", 1 << 23),
]  # fmt: skip
CLEAR = [
    ("rw", c.MS_RDONLY), ("suid", c.MS_NOSUID), ("dev", c.MS_NODEV), ("exec", c.MS_NOEXEC),
    ("async", c.MS_SYNCHRONOUS), ("nomand", c.MS_MANDLOCK), ("atime", c.MS_NOATIME),
    ("diratime", c.MS_NODIRATIME), ("norelatime", c.MS_RELATIME), ("nostrictatime", c.MS_STRICTATIME),
    ("symfollow", c.MS_NOSYMFOLLOW), ("nolazytime", c.MS_LAZYTIME), ("noacl", c.MS_POSIXACL),
    ("loud", c.MS_SILENT), ("noiversion", 1 << 23),
]  # fmt: skip
PROPAGATION = [
    ("private", c.MS_PRIVATE), ("rprivate", c.MS_PRIVATE | c.MS_REC), ("shared", c.MS_SHARED),
    ("rshared", c.MS_SHARED | c.MS_REC), ("slave", c.MS_SLAVE), ("rslave", c.MS_SLAVE | c.MS_REC),
    ("unbindable", c.MS_UNBINDABLE), ("runbindable", c.MS_UNBINDABLE | c.MS_REC),
]  # fmt: skip


@pytest.mark.parametrize(("option", "flag"), SET)
def test_setting_options(option: str, flag: int) -> None:
    opts = parse_mount_options([option])
    assert (opts.flags, opts.clear_flags, opts.propagation_flags, opts.data) == (flag, 0, (), "")


@pytest.mark.parametrize(("option", "flag"), CLEAR)
def test_clearing_options_undo_an_earlier_set(option: str, flag: int) -> None:
    assert parse_mount_options([option]).clear_flags == flag
    undone = parse_mount_options(["nosuid", "nodev", "ro", "noatime", "sync", option])
    assert undone.flags == (c.MS_NOSUID | c.MS_NODEV | c.MS_RDONLY | c.MS_NOATIME | c.MS_SYNCHRONOUS) & ~flag


@pytest.mark.parametrize(("option", "flag"), PROPAGATION)
def test_propagation_options_are_separate(option: str, flag: int) -> None:
    assert parse_mount_options([option]) == MountOptions(propagation_flags=(flag,))
    assert propagation_flag(option) == flag


def test_later_option_wins() -> None:
    assert parse_mount_options(["ro", "rw"]) == MountOptions(clear_flags=c.MS_RDONLY)
    assert parse_mount_options(["rw", "ro"]) == MountOptions(flags=c.MS_RDONLY)


def test_defaults_is_a_no_op() -> None:
    assert parse_mount_options(["defaults"]) == MountOptions()


def test_unknown_options_become_data_in_order() -> None:
    opts = parse_mount_options(["nosuid", "strictatime", "mode=755", "size=65536k", "rprivate", "shared"])
    assert opts.flags == c.MS_NOSUID | c.MS_STRICTATIME
    assert opts.data == "mode=755,size=65536k"
    assert opts.propagation_flags == (c.MS_PRIVATE | c.MS_REC, c.MS_SHARED)


def test_bind_and_rbind() -> None:
    assert (parse_mount_options(["bind"]).is_bind, parse_mount_options(["bind"]).is_recursive) == (True, False)
    assert (parse_mount_options(["rbind"]).is_bind, parse_mount_options(["rbind"]).is_recursive) == (True, True)
    assert not parse_mount_options(["nosuid"]).is_bind


def test_check_mount_treats_type_bind_as_bind() -> None:
    opts = check_mount(Mount(destination="/x", type="bind", source="/y", options=("ro",)), 0)
    assert opts.is_bind and opts.flags == c.MS_BIND | c.MS_RDONLY and not opts.is_recursive


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        (
            Mount(destination="/x", source="/y", options=("rbind", "size=1m")),
            "invalid config `mounts[3].options[1]`: `size=1m` is not a valid option for a bind mount",
        ),
        (
            Mount(destination="/x", type="cgroup", source="cgroup", options=("ro", "cpu")),
            "invalid config `mounts[3].options[1]`: `cpu` is not a valid option for a cgroup mount",
        ),
        (
            Mount(destination="/x", source="/y", options=("rbind", "rro")),
            "invalid config `mounts[3].options[1]`: mount option `rro` is not supported",
        ),
        (
            Mount(destination="/x", type="tmpfs", options=("tmpcopyup",)),
            "invalid config `mounts[3].options[0]`: mount option `tmpcopyup` is not supported",
        ),
        (
            Mount(destination="/x", type="tmpfs", options=("nosuid", "")),
            "invalid config `mounts[3].options[1]`: empty mount option",
        ),
        (
            Mount(destination="/x", source="tmpfs", options=("nosuid",)),
            "invalid config `mounts[3].type`: a mount needs a type unless it is a bind mount",
        ),
        (
            Mount(destination="/x", type="none", options=("rbind",)),
            "invalid config `mounts[3].source`: a bind mount needs a source",
        ),
    ],
)
def test_check_mount_errors_name_the_field(mount: Mount, message: str) -> None:
    with pytest.raises(SpecError) as info:
        check_mount(mount, 3)
    assert str(info.value) == message


def test_propagation_flag_default_and_error() -> None:
    assert propagation_flag("") == c.MS_SLAVE | c.MS_REC
    with pytest.raises(SpecError, match=r"`linux.rootfsPropagation`: unknown propagation `sideways`"):
        propagation_flag("sideways")


def test_describe_flags() -> None:
    assert describe_flags(c.MS_RDONLY | c.MS_NOSUID | c.MS_BIND) == "ro,nosuid,bind"
    assert describe_flags(c.MS_SLAVE | c.MS_REC) == "rec,slave"
    assert describe_flags(0) == "defaults"


@pytest.mark.parametrize(
    ("source", "fstype", "flags", "message"),
    [
        ("proc", "proc", 0, "mount `proc` (proc) onto `/r/proc`: operation not permitted"),
        ("/h", "bind", c.MS_BIND, "bind-mount `/h` onto `/r/proc`: operation not permitted"),
        (None, None, c.MS_REMOUNT | c.MS_BIND | c.MS_RDONLY, "remount `/r/proc` ro,bind: operation not permitted"),
        (None, None, c.MS_PRIVATE, "set propagation private of `/r/proc`: operation not permitted"),
    ],
)
def test_mount_error_describes_the_mount(source: str | None, fstype: str | None, flags: int, message: str) -> None:
    sys = RecordingSyscalls(fail={"mount": errno.EPERM})
    with pytest.raises(SyscallError) as info:
        mount(sys, source, "/r/proc", fstype, flags, None)
    assert str(info.value) == message
    assert info.value.errno == errno.EPERM and info.value.call == "mount"


MOUNTINFO = """\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 27 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 master:2 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 /outer /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
37 31 0:33 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 27 0:40 / /mnt/with\\040space\\011tab rw - tmpfs none rw
bogus line
"""
PROC_CGROUP = """\
9:name=systemd:/user.slice
5:pids:/outer/inner
4:memory:/process_api/abc
2:cpu,cpuacct:/
0::/
"""


def test_parse_mountinfo() -> None:
    infos = parse_mountinfo(MOUNTINFO)
    assert len(infos) == 9
    assert infos[0].mountpoint == "/" and infos[0].optional == ("shared:1",) and infos[0].fstype == "ext4"
    assert infos[2].optional == ("shared:5", "master:2") and infos[2].super_options == ("rw", "cpu", "cpuacct")
    assert infos[4].root == "/outer"
    assert infos[8].mountpoint == "/mnt/with space\ttab" and infos[8].source == "none"


def test_cgroup_v1_binds_follow_our_own_cgroup() -> None:
    binds = cgroup_v1_binds(parse_mountinfo(MOUNTINFO), PROC_CGROUP)
    assert binds == [
        ("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct"),
        ("/sys/fs/cgroup/memory/process_api/abc", "memory"),
        ("/sys/fs/cgroup/pids/inner", "pids"),
        ("/sys/fs/cgroup/systemd/user.slice", "systemd"),
    ]  # blkio: no line in /proc/self/cgroup; unified: cgroup2 is not a v1 hierarchy
