"""engine/create_warnings: moby's create-time warnings and what each drops, for hosts with and without a feature,
and the probe of v1 and v2 cgroup layouts (pointed at temp directories)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine import create_warnings as cw
from dockyard.engine.records import HostConfig
from dockyard.oci.model import replace
from privileged_gate import require

FULL = cw.HostFeatures()
NOTHING = cw.HostFeatures(**{name: False for name in cw.HostFeatures.__dataclass_fields__})


def test_a_full_host_warns_only_about_settings_that_cannot_work() -> None:
    hc = HostConfig(memory=64 << 20, memory_swap=128 << 20, cpu_shares=512, cpu_quota=50000, blkio_weight=300,
                    pids_limit=10, cpuset_cpus="0", memory_swappiness=10, memory_reservation=32 << 20)  # fmt: skip
    assert cw.create_warnings(hc, FULL) == (hc, [])
    assert cw.create_warnings(HostConfig(oom_kill_disable=True), FULL)[1] == [cw.OOM_NO_MEMORY]
    assert cw.create_warnings(HostConfig(oom_kill_disable=True, memory=8 << 20), FULL)[1] == []
    assert cw.create_warnings(HostConfig(network_mode="host", port_bindings=(":80:80/tcp",)), FULL)[1] == [
        cw.HOST_PORTS
    ]
    assert cw.create_warnings(HostConfig(port_bindings=(":80:80/tcp",)), FULL)[1] == []


def test_no_swap_accounting_keeps_the_memory_limit_without_swap() -> None:
    host = replace(FULL, swap_limit=False)
    for swap in (0, 128 << 20):
        hc, warnings = cw.create_warnings(HostConfig(memory=64 << 20, memory_swap=swap), host)
        assert (hc.memory, hc.memory_swap, warnings) == (64 << 20, -1, [cw.SWAP])
    assert cw.create_warnings(HostConfig(memory=64 << 20, memory_swap=-1), host)[1] == []
    assert cw.SWAP == ("Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
                       "Memory limited without swap.")  # fmt: skip


def test_a_host_without_controllers_drops_each_setting_in_mobys_order() -> None:
    hc = HostConfig(memory=64 << 20, memory_swappiness=10, memory_reservation=32 << 20, oom_kill_disable=True,
                    pids_limit=10, cpu_shares=512, cpu_period=100000, cpu_quota=50000, cpuset_cpus="0",
                    cpuset_mems="0", blkio_weight=300)  # fmt: skip
    dropped, warnings = cw.create_warnings(hc, NOTHING)
    assert warnings == [cw.MEMORY, cw.SWAPPINESS, cw.RESERVATION, cw.OOM_UNSUPPORTED, cw.PIDS, cw.CPU_SHARES,
                        cw.CPU_CFS, cw.CPUSET, cw.BLKIO_WEIGHT]  # fmt: skip
    assert dropped == HostConfig(memory_swap=-1)


def test_oom_kill_disable_without_support_and_memory_warns_once() -> None:
    host = replace(FULL, oom_kill_disable=False)
    hc, warnings = cw.create_warnings(HostConfig(oom_kill_disable=True), host)
    assert (hc.oom_kill_disable, warnings) == (False, [cw.OOM_UNSUPPORTED])


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"memory/memory.limit_in_bytes", "memory/memory.oom_control", "cpu/cpu.shares", "blkio/blkio.bfq.weight"},
         {"memory_limit", "oom_kill_disable", "cpu_shares", "blkio_weight"}),
        ({"memory/memory.memsw.limit_in_bytes", "cpu/cpu.cfs_quota_us", "pids/cgroup.procs", "cpuset/cpuset.cpus"},
         {"swap_limit", "cpu_cfs", "pids_limit", "cpuset"}),
    ],
)  # fmt: skip
def test_probe_v1(tmp_path: Path, files: set[str], expected: set[str]) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    features = cw.HostFeatures.probe(str(tmp_path))
    assert {name for name in cw.HostFeatures.__dataclass_fields__ if getattr(features, name)} == expected


def test_probe_v2(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    features = cw.HostFeatures.probe(str(tmp_path))
    assert features == replace(FULL, memory_swappiness=False, oom_kill_disable=False)
    (tmp_path / "v2b").mkdir()
    (tmp_path / "v2b" / "cgroup.controllers").write_text("pids\n")
    assert cw.HostFeatures.probe(str(tmp_path / "v2b")) == replace(NOTHING, pids_limit=True)


@pytest.mark.privileged
def test_probe_of_this_hosts_v1_pids_hierarchy_root() -> None:
    root = Path("/sys/fs/cgroup")
    v1_pids = not (root / "cgroup.controllers").exists() and (root / "pids" / "cgroup.procs").exists()
    require(v1_pids, "not a v1/hybrid host with the pids hierarchy mounted")
    assert not (root / "pids" / "pids.max").exists()  # why the probe cannot look for pids.max
    assert cw.HostFeatures.probe.__wrapped__(str(root)).pids_limit
