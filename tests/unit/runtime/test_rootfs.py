"""Unit tests for runtime/rootfs.py with RecordingSyscalls on a temp rootfs: the exact mount(2) calls, symlink
escapes resolved inside the rootfs, masked and read-only paths. No root needed."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import SpecError, SyscallError
from dockyard.oci.runtime_spec import Spec
from dockyard.runtime import rootfs as rootfs_module
from dockyard.runtime.linux import consts as c
from dockyard.runtime.linux.recording import Call, RecordingSyscalls
from dockyard.runtime.rootfs import finalize_rootfs, setup_rootfs

MOUNTINFO_V1 = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 27 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PROC_CGROUP = "4:memory:/box/c1\n2:cpu,cpuacct:/\n0::/\n"
NS = c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC
PIVOT = [
    Call("pivot_root", (".", ".")),
    Call("mount", (None, ".", None, c.MS_SLAVE | c.MS_REC, None)),
    Call("umount2", (".", c.MNT_DETACH)),
]


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # setup_rootfs ends with chdir("/"): give the test its cwd back
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "mountinfo").write_text(MOUNTINFO_V1)
    (tmp_path / "cgroup").write_text(PROC_CGROUP)
    monkeypatch.setattr(rootfs_module, "MOUNTINFO_PATH", str(tmp_path / "mountinfo"))
    monkeypatch.setattr(rootfs_module, "PROC_CGROUP_PATH", str(tmp_path / "cgroup"))
    return tmp_path


def make_spec(mounts: list[dict[str, Any]] | None = None, **linux: Any) -> Spec:
    return Spec.from_json(
        {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "mounts": mounts or [], "linux": linux or {}}
    )


def mounts_of(sys: RecordingSyscalls) -> list[tuple[object, ...]]:
    return [call.args for call in sys.named("mount")]


def run_setup(spec: Spec, bundle: Path, sys: RecordingSyscalls | None = None, **kw: Any) -> RecordingSyscalls:
    sys = sys or RecordingSyscalls()
    setup_rootfs(spec, str(bundle), sys, **kw)
    return sys


def test_runc_spec_default_config(bundle: Path) -> None:
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = Spec.from_json(json.loads((bundle / "config.json").read_text()))
    sys = run_setup(spec, bundle)
    r = str(bundle / "rootfs")
    cg = f"{r}/sys/fs/cgroup"
    cg_flags = c.MS_REMOUNT | c.MS_BIND | NS | c.MS_RELATIME | c.MS_RDONLY
    assert mounts_of(sys) == [
        (None, "/", None, c.MS_SLAVE | c.MS_REC, None),
        (r, r, "bind", c.MS_BIND | c.MS_REC, None),
        ("proc", f"{r}/proc", "proc", 0, None),
        ("tmpfs", f"{r}/dev", "tmpfs", c.MS_NOSUID | c.MS_STRICTATIME, "mode=755,size=65536k"),
        ("devpts", f"{r}/dev/pts", "devpts", c.MS_NOSUID | c.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ("shm", f"{r}/dev/shm", "tmpfs", NS, "mode=1777,size=65536k"),
        ("mqueue", f"{r}/dev/mqueue", "mqueue", NS, None),
        ("sysfs", f"{r}/sys", "sysfs", NS | c.MS_RDONLY, None),
        ("tmpfs", cg, "tmpfs", NS, "mode=755"),
        ("/sys/fs/cgroup/cpu,cpuacct", f"{cg}/cpu,cpuacct", "bind", c.MS_BIND | c.MS_REC, None),
        (None, f"{cg}/cpu,cpuacct", None, cg_flags, None),
        ("/sys/fs/cgroup/memory/box/c1", f"{cg}/memory", "bind", c.MS_BIND | c.MS_REC, None),
        (None, f"{cg}/memory", None, cg_flags, None),
        (None, cg, None, c.MS_REMOUNT | c.MS_BIND | c.MS_RDONLY | NS, None),
        PIVOT[1].args,
    ]
    assert os.readlink(f"{cg}/cpu") == "cpu,cpuacct" and os.readlink(f"{cg}/cpuacct") == "cpu,cpuacct"
    char = stat.S_IFCHR | 0o666
    assert [call.args for call in sys.named("mknod")] == [
        (f"{r}/dev/null", char, os.makedev(1, 3)),
        (f"{r}/dev/zero", char, os.makedev(1, 5)),
        (f"{r}/dev/full", char, os.makedev(1, 7)),
        (f"{r}/dev/random", char, os.makedev(1, 8)),
        (f"{r}/dev/urandom", char, os.makedev(1, 9)),
        (f"{r}/dev/tty", char, os.makedev(5, 0)),
    ]
    assert sys.calls[-3:] == PIVOT
    names = [n for n in os.listdir(f"{r}/dev") if os.path.islink(f"{r}/dev/{n}")]
    links = {name: os.readlink(f"{r}/dev/{name}") for name in names}
    expected = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1"}
    expected |= {"stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
    expected |= {"core": "/proc/kcore"} if os.path.exists("/proc/kcore") else {}
    assert links == expected
    assert os.getcwd() == "/"

    r_path = bundle / "rootfs"
    for f in ("proc/kcore", "proc/keys", "proc/sysrq-trigger"):
        (r_path / f).touch()
    for d in ("proc/acpi", "proc/sys", "sys/firmware"):
        (r_path / d).mkdir(parents=True, exist_ok=True)
    sys = RecordingSyscalls()
    finalize_rootfs(spec, sys, root=r)
    kept = rootfs_module._kept_flags(r)
    ro = c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | kept
    assert mounts_of(sys) == [
        (f"{r}/proc/sys", f"{r}/proc/sys", "bind", c.MS_BIND | c.MS_REC, None),
        (None, f"{r}/proc/sys", None, ro, None),
        (f"{r}/proc/sysrq-trigger", f"{r}/proc/sysrq-trigger", "bind", c.MS_BIND | c.MS_REC, None),
        (None, f"{r}/proc/sysrq-trigger", None, ro, None),
        ("tmpfs", f"{r}/proc/acpi", "tmpfs", c.MS_RDONLY, None),
        ("/dev/null", f"{r}/proc/kcore", "bind", c.MS_BIND, None),
        ("/dev/null", f"{r}/proc/keys", "bind", c.MS_BIND, None),
        ("tmpfs", f"{r}/sys/firmware", "tmpfs", c.MS_RDONLY, None),
        (None, r, None, ro, None),  # root.readonly is true in `runc spec`
    ]


def test_cgroup_v1_binds_the_cgroups_the_view_names(bundle: Path) -> None:
    # the init may not be in the container's cgroup yet: the view says where it will be
    cgroup = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid"]}
    seen: list[str] = []

    def view(text: str) -> str:
        seen.append(text)
        return "4:memory:/dockyard/c2\n2:cpu,cpuacct:/dockyard/c2\n0::/dockyard/c2\n"

    sys = run_setup(make_spec([cgroup]), bundle, cgroup_view=view)
    cg = f"{bundle / 'rootfs'}/sys/fs/cgroup"
    binds = [m[:2] for m in mounts_of(sys) if m[2] == "bind" and str(m[1]).startswith(cg)]
    assert seen == [PROC_CGROUP]
    assert binds == [
        ("/sys/fs/cgroup/cpu,cpuacct/dockyard/c2", f"{cg}/cpu,cpuacct"),
        ("/sys/fs/cgroup/memory/dockyard/c2", f"{cg}/memory"),
    ]


def test_ro_bind_remount_and_propagation_sequence(bundle: Path) -> None:
    (bundle / "data").mkdir()
    (bundle / "data.conf").write_text("x")
    spec = make_spec(
        [
            {
                "destination": "/data",
                "type": "bind",
                "source": "data",
                "options": ["rbind", "ro", "nosuid", "rprivate"],
            },
            {"destination": "/etc/app.conf", "source": str(bundle / "data.conf"), "options": ["bind", "shared"]},
        ]
    )
    sys = run_setup(spec, bundle)
    r = str(bundle / "rootfs")
    assert mounts_of(sys)[2:6] == [
        (str(bundle / "data"), f"{r}/data", "bind", c.MS_BIND | c.MS_REC, None),
        (None, f"{r}/data", None, c.MS_REMOUNT | c.MS_BIND | c.MS_RDONLY | c.MS_NOSUID, None),
        (None, f"{r}/data", None, c.MS_PRIVATE | c.MS_REC, None),
        (str(bundle / "data.conf"), f"{r}/etc/app.conf", "bind", c.MS_BIND, None),  # no flags: no remount
    ]
    assert mounts_of(sys)[6] == (None, f"{r}/etc/app.conf", None, c.MS_SHARED, None)
    assert os.path.isdir(f"{r}/data") and os.path.isfile(f"{r}/etc/app.conf")


@dataclass
class RemountFailsOnce(RecordingSyscalls):
    failed: bool = False

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
        super().mount(source, target, fstype, flags, data)
        if flags & c.MS_REMOUNT and not self.failed:
            self.failed = True
            raise SyscallError("mount", target, errno.EPERM)


def test_bind_remount_retries_with_the_source_locked_flags(bundle: Path) -> None:
    (bundle / "data").mkdir()
    spec = make_spec([{"destination": "/data", "source": "data", "options": ["rbind", "noexec"]}])
    sys = run_setup(spec, bundle, RemountFailsOnce())
    source = str(bundle / "data")
    locked = rootfs_module._kept_flags(source) | (c.MS_RDONLY if os.statvfs(source).f_flag & os.ST_RDONLY else 0)
    remounts = [m for m in mounts_of(sys) if m[3] & c.MS_REMOUNT]  # type: ignore[operator]
    target = str(bundle / "rootfs" / "data")
    base = c.MS_REMOUNT | c.MS_BIND | c.MS_NOEXEC
    assert remounts == [(None, target, None, base, None), (None, target, None, base | locked, None)]


def test_missing_bind_source_is_a_spec_error(bundle: Path) -> None:
    spec = make_spec([{"destination": "/data", "source": "nope", "options": ["rbind"]}])
    with pytest.raises(SpecError) as info:
        run_setup(spec, bundle)
    assert str(info.value) == f"invalid config `mounts[0].source`: bind source `{bundle}/nope` does not exist"


def test_missing_rootfs_is_a_spec_error(bundle: Path) -> None:
    spec = Spec.from_json({"ociVersion": "1.0.2", "root": {"path": "absent"}})
    with pytest.raises(SpecError, match=r"`root.path`: `.*/absent` is not a directory"):
        run_setup(spec, bundle)


def test_tmpfs_ro_is_mounted_rw_then_remounted_ro_by_finalize(bundle: Path) -> None:
    spec = make_spec(
        [{"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "nodev", "mode=700"]}]
    )
    r = str(bundle / "rootfs")
    sys = run_setup(spec, bundle)
    assert mounts_of(sys)[2] == ("tmpfs", f"{r}/run", "tmpfs", c.MS_NODEV, "mode=700")
    sys = RecordingSyscalls()
    finalize_rootfs(spec, sys, root=r)
    assert mounts_of(sys) == [(None, f"{r}/run", None, c.MS_REMOUNT | c.MS_BIND | c.MS_RDONLY | c.MS_NODEV, None)]


def test_tmpfs_keeps_the_mode_of_the_directory_it_covers_unless_mode_is_given(bundle: Path) -> None:
    (bundle / "rootfs" / "tmp").mkdir(mode=0o700)
    os.chmod(bundle / "rootfs" / "tmp", 0o1777)
    run_setup(make_spec([{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]), bundle)
    assert stat.S_IMODE(os.stat(bundle / "rootfs" / "tmp").st_mode) == 0o1777


def test_mount_failure_names_source_type_and_target(bundle: Path) -> None:
    spec = make_spec([{"destination": "/proc", "type": "proc", "source": "proc"}])
    sys = RecordingSyscalls()
    sys.fail["mount"] = errno.EPERM
    with pytest.raises(SyscallError) as info:
        run_setup(spec, bundle, sys)
    assert str(info.value) == "set propagation rec,slave of `/`: operation not permitted"


@dataclass
class FailsOn(RecordingSyscalls):
    fstype: str = ""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
        super().mount(source, target, fstype, flags, data)
        if fstype == self.fstype:
            raise SyscallError("mount", target, errno.EPERM)


def test_fs_mount_failure_message(bundle: Path) -> None:
    spec = make_spec([{"destination": "/proc", "type": "proc", "source": "proc"}])
    with pytest.raises(SyscallError) as info:
        run_setup(spec, bundle, FailsOn(fstype="proc"))
    assert str(info.value) == f"mount `proc` (proc) onto `{bundle}/rootfs/proc`: operation not permitted"


def test_pivot_root_failure_message(bundle: Path) -> None:
    sys = RecordingSyscalls(fail={"pivot_root": errno.EINVAL})
    with pytest.raises(SyscallError) as info:
        run_setup(make_spec(), bundle, sys)
    assert str(info.value) == f"pivot_root `{bundle}/rootfs`: invalid argument"
    assert os.getcwd() == str(bundle / "rootfs")


def test_relative_symlink_cannot_lead_a_mount_out(bundle: Path) -> None:
    evil = f"evil-{uuid.uuid4().hex}"
    os.symlink("../../../../../../../../tmp", bundle / "rootfs" / "a")
    sys = run_setup(make_spec([{"destination": f"/a/{evil}", "type": "tmpfs", "source": "tmpfs"}]), bundle)
    inside = f"{bundle}/rootfs/tmp/{evil}"
    assert mounts_of(sys)[2] == ("tmpfs", inside, "tmpfs", 0, None)
    assert os.path.isdir(inside) and not os.path.exists(f"/tmp/{evil}")


def test_absolute_symlink_is_rooted_at_the_rootfs(bundle: Path) -> None:
    host = bundle / f"host-{uuid.uuid4().hex}"
    host.mkdir()
    os.symlink(str(host), bundle / "rootfs" / "etc")  # rootfs/etc → an absolute host path
    os.symlink("/../../..", bundle / "rootfs" / "up")
    spec = make_spec(
        [
            {"destination": "/etc/x", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/up/y", "type": "tmpfs", "source": "tmpfs"},
        ]
    )
    sys = run_setup(spec, bundle)
    r = f"{bundle}/rootfs"
    assert [m[1] for m in mounts_of(sys)[2:4]] == [f"{r}{host}/x", f"{r}/y"]
    assert not (host / "x").exists()


def test_symlink_loop_is_an_error(bundle: Path) -> None:
    os.symlink("loop", bundle / "rootfs" / "loop")
    with pytest.raises(SyscallError) as info:
        run_setup(make_spec([{"destination": "/loop/x", "type": "tmpfs", "source": "tmpfs"}]), bundle)
    assert str(info.value) == f"resolve `{bundle}/rootfs/loop/x`: too many levels of symbolic links"


def test_proc_on_a_symlink_is_refused(bundle: Path) -> None:
    (bundle / "rootfs" / "etc").mkdir()
    os.symlink("/etc", bundle / "rootfs" / "proc")
    with pytest.raises(SpecError) as info:
        run_setup(make_spec([{"destination": "/proc", "type": "proc", "source": "proc"}]), bundle)
    assert str(info.value) == "invalid config `mounts[0].destination`: proc must be mounted on an ordinary directory"


def test_mounts_inside_proc_are_refused_except_lxcfs_files(bundle: Path) -> None:
    (bundle / "meminfo").write_text("MemTotal: 1 kB\n")
    ok = {"destination": "/proc/meminfo", "source": "meminfo", "options": ["bind"]}
    bad = {"destination": "/proc/sys/kernel/core_pattern", "source": "meminfo", "options": ["bind"]}
    over = {"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}
    sys = run_setup(make_spec([ok]), bundle)
    assert mounts_of(sys)[2][1] == f"{bundle}/rootfs/proc/meminfo"
    with pytest.raises(SpecError) as info:
        run_setup(make_spec([ok, bad]), bundle)
    assert str(info.value) == (
        "invalid config `mounts[1].destination`: `/proc/sys/kernel/core_pattern` is inside /proc "
        "and cannot be a mount point"
    )
    with pytest.raises(SpecError, match=r"`mounts\[0\].destination`: only a proc filesystem may be mounted on"):
        run_setup(make_spec([over]), bundle)


def test_root_propagation_private_makes_a_shared_parent_private(bundle: Path) -> None:
    parent = os.path.dirname(os.path.realpath(bundle / "rootfs"))
    lines = ["27 1 254:0 / / rw shared:1 - ext4 /dev/vda rw", f"28 27 0:5 / {parent} rw shared:7 - tmpfs t rw"]
    (bundle / "mountinfo").write_text("\n".join(lines) + "\n")
    sys = run_setup(make_spec(rootfsPropagation="private"), bundle)
    r = str(bundle / "rootfs")
    assert mounts_of(sys)[:3] == [
        (None, "/", None, c.MS_PRIVATE, None),
        (None, parent, None, c.MS_PRIVATE, None),
        (r, r, "bind", c.MS_BIND | c.MS_REC, None),
    ]


def test_root_propagation_rprivate_needs_no_mountinfo(bundle: Path) -> None:
    (bundle / "mountinfo").unlink()
    sys = run_setup(make_spec(rootfsPropagation="rprivate"), bundle)
    assert mounts_of(sys)[0] == (None, "/", None, c.MS_PRIVATE | c.MS_REC, None)


def test_cgroup_v2_mounts_cgroup2_and_falls_back_to_a_bind(bundle: Path) -> None:
    lines = ["27 1 254:0 / / rw - ext4 /dev/vda rw", "30 27 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw"]
    (bundle / "mountinfo").write_text("\n".join(lines) + "\n")
    cgroup = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "ro"]}
    r = str(bundle / "rootfs")
    sys = run_setup(make_spec([cgroup]), bundle)
    assert mounts_of(sys)[2] == ("cgroup2", f"{r}/sys/fs/cgroup", "cgroup2", c.MS_NOSUID | c.MS_RDONLY, None)
    sys = run_setup(make_spec([cgroup]), bundle, FailsOn(fstype="cgroup2"))
    assert mounts_of(sys)[3:5] == [
        ("/sys/fs/cgroup", f"{r}/sys/fs/cgroup", "bind", c.MS_BIND | c.MS_REC, None),
        (None, f"{r}/sys/fs/cgroup", None, c.MS_REMOUNT | c.MS_BIND | c.MS_NOSUID | c.MS_RDONLY, None),
    ]


USERNS: dict[str, Any] = {
    "namespaces": [{"type": "mount"}, {"type": "user"}],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
}


def test_sysfs_in_a_user_namespace_without_netns_is_a_bind_of_sys(bundle: Path) -> None:
    sysfs = {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]}
    r = str(bundle / "rootfs")
    sys = run_setup(make_spec([sysfs], **USERNS), bundle)
    assert mounts_of(sys)[2:4] == [
        ("/sys", f"{r}/sys", "bind", c.MS_BIND | c.MS_REC, None),
        (None, f"{r}/sys", None, c.MS_REMOUNT | c.MS_BIND | c.MS_NOSUID | c.MS_RDONLY, None),
    ]
    with_netns = dict(USERNS, namespaces=[*USERNS["namespaces"], {"type": "network"}])
    sys = run_setup(make_spec([sysfs], **with_netns), bundle)
    assert mounts_of(sys)[2] == ("sysfs", f"{r}/sys", "sysfs", c.MS_NOSUID | c.MS_RDONLY, None)


def test_user_namespace_binds_device_nodes_instead_of_mknod(bundle: Path) -> None:
    sys = run_setup(make_spec(**USERNS), bundle)
    r = str(bundle / "rootfs")
    assert sys.named("mknod") == []
    binds = [m for m in mounts_of(sys) if m[2] == "bind" and m[0] != r]
    assert binds[0] == ("/dev/null", f"{r}/dev/null", "bind", c.MS_BIND, None)
    assert [b[0] for b in binds] == [f"/dev/{n}" for n in ("null", "zero", "full", "random", "urandom", "tty")]
    assert stat.S_IMODE(os.stat(f"{r}/dev/null").st_mode) == 0o666


def test_bind_mounted_dev_gets_no_devices_and_console_is_bound(bundle: Path) -> None:
    spec = make_spec([{"destination": "/dev", "type": "bind", "source": "/dev"}])
    sys = run_setup(spec, bundle, console_path="/dev/pts/7")
    r = str(bundle / "rootfs")
    assert sys.named("mknod") == []
    assert not os.path.lexists(f"{r}/dev/fd")
    assert mounts_of(sys)[-2] == ("/dev/pts/7", f"{r}/dev/console", "bind", c.MS_BIND, None)
    assert os.path.isfile(f"{r}/dev/console")


def test_finalize_skips_missing_paths_and_follows_symlinks_inside_root(bundle: Path) -> None:
    r = bundle / "rootfs"
    (r / "real").mkdir()
    os.symlink("/real", r / "link")
    spec = make_spec(readonlyPaths=["/missing", "/link"], maskedPaths=["/gone", "/link"])
    sys = RecordingSyscalls()
    finalize_rootfs(spec, sys, root=str(r))
    assert [m[:3] for m in mounts_of(sys)] == [
        (f"{r}/real", f"{r}/real", "bind"),
        (None, f"{r}/real", None),
        ("tmpfs", f"{r}/real", "tmpfs"),
    ]
