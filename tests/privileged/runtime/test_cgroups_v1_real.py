"""Privileged tests of the cgroup v1 manager on this host's real hierarchies: limits, freezer, OOM, pids.max."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import BlockIO, Cpu, DeviceRule, Memory, Pids, Resources
from dockyard.runtime.cgroups import CgroupManager, CgroupValueError, detect_version, open_manager

ROOT = "/sys/fs/cgroup"
BUSYBOX = "/bin/busybox"
NEEDED = ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer")

pytestmark = pytest.mark.privileged


def require(condition: bool, why: str) -> None:
    """Skip when a host feature is missing, or fail when CI requires privileged tests (tests/conftest.py)."""
    if condition:
        return
    if os.environ.get("DOCKYARD_REQUIRE_PRIVILEGED") == "1":
        pytest.fail(f"privileged test required (DOCKYARD_REQUIRE_PRIVILEGED=1) but {why}")
    pytest.skip(why)


@pytest.fixture
def cg() -> Iterator[CgroupManager]:
    require(os.path.isdir(ROOT) and detect_version(ROOT) == 1, "needs a cgroup v1 (or hybrid) layout")
    require(all(os.path.isdir(os.path.join(ROOT, c)) for c in NEEDED), f"needs v1 controllers {NEEDED}")
    require(os.path.exists(f"{ROOT}/memory/memory.memsw.limit_in_bytes"), "needs swap accounting (memsw)")
    require(os.path.exists(BUSYBOX), "needs busybox-static")
    parent = f"dockyard-test-{uuid.uuid4().hex[:12]}"
    manager = open_manager(f"/{parent}/ctr", "ctr")
    manager.create()
    try:
        yield manager
    finally:
        manager.kill_all(signal.SIGKILL)
        manager.destroy()
        for hierarchy in os.listdir(ROOT):
            if os.path.isdir(os.path.join(ROOT, hierarchy, parent)):
                os.rmdir(os.path.join(ROOT, hierarchy, parent))
        leftovers = [c for c in os.listdir(ROOT) if os.path.exists(os.path.join(ROOT, c, parent))]
        assert leftovers == [], "cgroups left behind"


def spawn(manager: CgroupManager, *argv: str) -> subprocess.Popen[bytes]:
    """Start argv inside the cgroup: the child joins it before exec."""
    return subprocess.Popen(
        argv,
        preexec_fn=lambda: manager.add_process(os.getpid()),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def cgfile(controller: str, manager: CgroupManager, name: str) -> str:
    with open(os.path.join(ROOT, controller, manager.path.lstrip("/"), name)) as f:
        return f.read().strip()


def test_limits_read_back_from_cgroupfs(cg: CgroupManager) -> None:
    cg.apply(
        Resources(
            memory=Memory(limit=64 << 20, swap=96 << 20),
            cpu=Cpu(shares=512, quota=50000, period=100000, cpus="0", mems="0"),
            pids=Pids(limit=20),
            block_io=BlockIO(weight=300),
            devices=(
                DeviceRule(allow=False, access="rwm"),
                DeviceRule(allow=True, type="c", major=1, minor=3, access="rwm"),
                DeviceRule(allow=True, type="c", major=136, access="rw"),
            ),
        )
    )
    proc = spawn(cg, BUSYBOX, "sleep", "30")
    try:
        assert cg.pids() == [proc.pid]
        with open(f"/proc/{proc.pid}/cgroup") as f:
            assert f"memory:{cg.path}\n" in f.read()
        assert cgfile("memory", cg, "memory.limit_in_bytes") == str(64 << 20)
        assert cgfile("memory", cg, "memory.memsw.limit_in_bytes") == str(96 << 20)
        assert cgfile("cpu", cg, "cpu.shares") == "512"
        assert cgfile("cpu", cg, "cpu.cfs_quota_us") == "50000"
        assert cgfile("cpu", cg, "cpu.cfs_period_us") == "100000"
        assert cgfile("cpuset", cg, "cpuset.cpus") == "0"
        assert cgfile("pids", cg, "pids.max") == "20"
        weight_file = "blkio.weight" if os.path.exists(f"{ROOT}/blkio/blkio.weight") else "blkio.bfq.weight"
        assert cgfile("blkio", cg, weight_file).split()[-1] == "300"
        assert cgfile("devices", cg, "devices.list").splitlines() == ["c 1:3 rwm", "c 136:* rw"]
        stats = cg.stats()
        assert stats.memory_limit == 64 << 20 and stats.pids_limit == 20 and stats.pids_current == 1
        assert stats.memory_usage is not None and stats.memory_usage > 0
        assert stats.cpu_usage_ns is not None and stats.cpu_per_cpu_ns is not None
        assert stats.blkio_read_bytes is not None
    finally:
        proc.kill()
        proc.wait()


def test_changing_limits_in_both_directions_respects_the_memsw_order(cg: CgroupManager) -> None:
    cg.apply(Resources(memory=Memory(limit=16 << 20, swap=16 << 20)))
    cg.apply(Resources(memory=Memory(limit=64 << 20, swap=128 << 20)))  # grow: memsw must go first
    assert cgfile("memory", cg, "memory.limit_in_bytes") == str(64 << 20)
    cg.apply(Resources(memory=Memory(limit=8 << 20, swap=8 << 20)))  # shrink: the limit must go first
    assert cgfile("memory", cg, "memory.memsw.limit_in_bytes") == str(8 << 20)


def test_kernel_refusal_names_file_and_value(cg: CgroupManager) -> None:
    with pytest.raises(CgroupValueError) as info:
        cg.apply(Resources(memory=Memory(limit=-5)))
    assert str(info.value) == "cgroup `memory.limit_in_bytes` = `-5`: invalid argument"
    assert isinstance(info.value, InvalidArgument)


def test_freeze_thaw_kill_all_and_destroy(cg: CgroupManager) -> None:
    proc = spawn(cg, BUSYBOX, "sleep", "30")
    try:
        cg.freeze()
        assert cg.frozen() and cgfile("freezer", cg, "freezer.state") == "FROZEN"
        with open(f"/proc/{proc.pid}/status") as f:
            state = next(line for line in f if line.startswith("State:")).split()[1]
        assert state in ("D", "T")  # the v1 freezer parks tasks in an uninterruptible (or stopped) state
        cg.thaw()
        assert not cg.frozen() and cgfile("freezer", cg, "freezer.state") == "THAWED"
        cg.kill_all(signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    cg.destroy()
    assert not cg.exists()
    assert not any(os.path.exists(os.path.join(ROOT, c, cg.path.lstrip("/"))) for c in NEEDED)
    cg.destroy()  # already gone: fine


def test_memory_hog_is_oom_killed(cg: CgroupManager) -> None:
    cg.apply(Resources(memory=Memory(limit=10 << 20, swap=10 << 20)))
    script = 'x=$(head -c 50000000 /dev/zero | tr "\\0" a); echo survived'
    proc = spawn(cg, BUSYBOX, "sh", "-c", script)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert b"survived" not in out
    oom = dict(line.split() for line in cgfile("memory", cg, "memory.oom_control").splitlines())
    assert int(oom["oom_kill"]) >= 1


def test_fork_refused_past_pids_max(cg: CgroupManager) -> None:
    cg.apply(Resources(pids=Pids(limit=3)))
    script = "for i in 1 2 3 4 5; do sleep 30 </dev/null >/dev/null 2>&1 & done; echo spawned"
    proc = spawn(cg, BUSYBOX, "sh", "-c", script)
    _, err = proc.communicate(timeout=30)
    assert b"can't fork" in err
    assert proc.returncode != 0
    assert len(cg.pids()) == 2  # the two sleeps that fit next to the shell
    cg.kill_all(signal.SIGKILL)
