"""setup_rootfs + finalize_rootfs for real: a forked child unshares its mount and UTS namespaces, builds a busybox
container filesystem, pivots into it and runs a shell script whose output the parent checks."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.oci.runtime_spec import Spec
from dockyard.runtime.linux import consts as c
from dockyard.runtime.linux.syscalls import LinuxSyscalls
from dockyard.runtime.mounts import parse_mountinfo
from dockyard.runtime.rootfs import finalize_rootfs, setup_rootfs

APPLETS = ("sh", "cat", "ls", "touch", "stat", "readlink", "grep", "wc", "sort", "tr")

MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]  # fmt: skip
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# Each line is `key=value`; the parent asserts on them.
SCRIPT = r"""
echo "keys_bytes=$(cat /proc/keys | wc -c)"
echo "timer_list_bytes=$(cat /proc/timer_list | wc -c)"
echo "acpi_entries=$(ls -A /proc/acpi | wc -l)"
echo "firmware_entries=$(ls -A /sys/firmware | wc -l)"
echo "proc_sys_write=$( (echo x > /proc/sys/kernel/domainname) 2>&1)"
echo "root_write=$(touch /x 2>&1)"
echo "data_write=$(touch /data/y 2>&1)"
echo "data_read=$(cat /data/hello)"
echo "cgroup_write=$(touch /sys/fs/cgroup/x 2>&1)"
echo "cgroup_dirs=$(ls /sys/fs/cgroup | grep -c -e '^memory$' -e '^cpu$')"
echo "dev=$(ls -A /dev | sort | tr '\n' ' ')"
for d in null zero full random urandom tty; do echo "dev_$d=$(stat -c '%F %t %T %a' /dev/$d)"; done
echo "fd=$(readlink /dev/fd) $(readlink /dev/stdin) $(readlink /dev/stderr)"
echo "ptmx=$(readlink /dev/ptmx)"
echo "console=$(stat -c '%t' /dev/console)"
echo "tmp_mode=$(stat -c '%a' /tmp)"
echo "tmp_mount=$(grep ' /tmp ' /proc/self/mountinfo)"
echo "tmp_write=$(touch /tmp/ok 2>&1 && echo ok)"
"""


def require(condition: bool, why: str) -> None:
    """Skip when a host feature is missing, but fail when CI demands privileged tests (tests/conftest.py)."""
    if condition:
        return
    if os.environ.get("DOCKYARD_REQUIRE_PRIVILEGED") == "1":
        pytest.fail(f"privileged test required (DOCKYARD_REQUIRE_PRIVILEGED=1) but {why}")
    pytest.skip(why)


def mnt(destination: str, kind: str, source: str, *options: str) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


def config(extra_mounts: list[dict[str, Any]]) -> Spec:
    """The mounts of `runc spec`, plus `extra_mounts`."""
    mounts = [
        mnt("/proc", "proc", "proc"),
        mnt("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        mnt("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
        mnt("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        mnt("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        mnt("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
        mnt("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
        *extra_mounts,
    ]
    return Spec.from_json(
        {
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": True},
            "mounts": mounts,
            "linux": {
                "namespaces": [{"type": "mount"}, {"type": "uts"}],
                "maskedPaths": MASKED,
                "readonlyPaths": READONLY,
            },
        }
    )


@pytest.fixture
def bundle() -> Iterator[Path]:
    busybox = shutil.which("busybox")
    require(busybox is not None, "busybox is not installed")
    assert busybox is not None
    with tempfile.TemporaryDirectory(prefix="dockyard-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        (root / "bin").mkdir(parents=True)
        shutil.copy2(busybox, root / "bin" / "busybox")
        for applet in APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        (Path(tmp) / "shared").mkdir()
        (Path(tmp) / "shared" / "hello").write_text("hi\n")
        yield Path(tmp)


def run_in_container(spec: Spec, bundle: Path, console: str | None) -> tuple[int, str]:
    """Fork; the child builds the container filesystem and execs the script; returns (status, output)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            os.dup2(write_end, 1)
            os.dup2(write_end, 2)
            sys = LinuxSyscalls()
            sys.unshare(c.CLONE_NEWNS | c.CLONE_NEWUTS)
            setup_rootfs(spec, str(bundle), sys, console_path=console)
            finalize_rootfs(spec, sys)
            os.execve("/bin/sh", ["sh", "-c", SCRIPT], {"PATH": "/bin"})
        except BaseException as err:
            os.write(2, f"setup failed: {err}\n".encode())
        finally:
            os._exit(127)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        output = f.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


def mountinfo() -> str:
    return Path("/proc/self/mountinfo").read_text()


@pytest.mark.privileged
def test_busybox_container_filesystem(bundle: Path) -> None:
    extra = [
        mnt("/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "size=1m", "mode=1750"),
        mnt("/data", "bind", "shared", "rbind", "ro"),
    ]
    master, slave = os.openpty()
    before = mountinfo()
    try:
        status, output = run_in_container(config(extra), bundle, os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)
    assert status == 0, output
    out = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    assert out["keys_bytes"] == "0" and out["timer_list_bytes"] == "0", output  # files masked by /dev/null
    assert out["acpi_entries"] == "0" and out["firmware_entries"] == "0"  # directories masked by a tmpfs
    assert "Read-only file system" in out["proc_sys_write"]
    assert out["root_write"] == "touch: /x: Read-only file system"
    assert out["data_write"] == "touch: /data/y: Read-only file system"
    assert out["data_read"] == "hi"
    assert "Read-only file system" in out["cgroup_write"]
    assert out["cgroup_dirs"] == "2"
    devs = "console fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero"
    devs += "" if not os.path.exists("/proc/kcore") else " core"
    assert sorted(out["dev"].split()) == sorted(devs.split())
    numbers = {"null": "1 3", "zero": "1 5", "full": "1 7", "random": "1 8", "urandom": "1 9", "tty": "5 0"}
    for name, majmin in numbers.items():
        assert out[f"dev_{name}"] == f"character special file {majmin} 666"
    assert out["fd"] == "/proc/self/fd /proc/self/fd/0 /proc/self/fd/2"
    assert out["ptmx"] == "pts/ptmx"
    assert out["console"] == "88"  # the pty slave's major, 136
    assert out["tmp_mode"] == "1750"
    (tmp,) = parse_mountinfo(out["tmp_mount"])
    assert tmp.fstype == "tmpfs" and {"rw", "nosuid", "nodev"} <= set(tmp.options)
    assert {"size=1024k", "mode=1750"} <= set(tmp.super_options)
    assert out["tmp_write"] == "ok"
    assert mountinfo() == before  # nothing leaked into the host's mount table


@pytest.mark.privileged
def test_real_mount_error_names_the_mount(bundle: Path) -> None:
    spec = config([mnt("/weird", "nosuchfs", "none")])
    before = mountinfo()
    status, output = run_in_container(spec, bundle, None)
    assert status == 127
    assert output.strip() == f"setup failed: mount `none` (nosuchfs) onto `{bundle}/rootfs/weird`: no such device"
    assert mountinfo() == before
