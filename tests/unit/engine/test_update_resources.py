"""engine/update.py: the --memory-reservation/--cpuset-*/--cpu-period/--cpu-quota/--blkio-weight part of update."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine.records import HostConfig
from dockyard.engine.update import UpdateRequest, apply_live, merged
from dockyard.errors import InvalidArgument

CID = "c" * 64


def test_merge_keeps_unset_fields() -> None:
    hc = HostConfig(memory=64 << 20, cpuset_cpus="0", cpu_quota=20000)
    out = merged(hc, UpdateRequest(memory_reservation=32 << 20, cpu_period=50000))
    assert (out.cpuset_cpus, out.cpu_quota, out.cpu_period, out.memory_reservation) == ("0", 20000, 50000, 32 << 20)


@pytest.mark.parametrize(
    ("hc", "req", "message"),
    [
        (HostConfig(memory=64 << 20), UpdateRequest(memory_reservation=128 << 20),
         "Minimum memory limit can not be less than memory reservation limit, see usage"),
        (HostConfig(), UpdateRequest(cpu_period=10),
         "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
        (HostConfig(), UpdateRequest(cpu_quota=999), "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        (HostConfig(nano_cpus=10**9), UpdateRequest(cpu_quota=5000),
         "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        (HostConfig(), UpdateRequest(blkio_weight=5), "Range of blkio weight is from 10 to 1000"),
    ],
)  # fmt: skip
def test_refusals(hc: HostConfig, req: UpdateRequest, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        merged(hc, req)
    assert str(err.value) == message


def test_live_v1_files(tmp_path: Path) -> None:
    dirs = {c: tmp_path / c / "dockyard" / CID for c in ("memory", "cpu,cpuacct", "cpuset", "blkio", "pids")}
    for d in dirs.values():
        d.mkdir(parents=True)
    old = HostConfig()
    new = HostConfig(memory_reservation=1 << 20, cpuset_cpus="1", cpuset_mems="0", cpu_period=50000,
                     cpu_quota=25000, blkio_weight=300)  # fmt: skip
    apply_live(CID, old, new, root=str(tmp_path))
    assert (dirs["memory"] / "memory.soft_limit_in_bytes").read_text() == str(1 << 20)
    assert (dirs["cpuset"] / "cpuset.cpus").read_text() == "1"
    assert (dirs["cpuset"] / "cpuset.mems").read_text() == "0"
    assert (dirs["cpu,cpuacct"] / "cpu.cfs_period_us").read_text() == "50000"
    assert (dirs["cpu,cpuacct"] / "cpu.cfs_quota_us").read_text() == "25000"
    assert (dirs["blkio"] / "blkio.weight").read_text() == "300"
    apply_live(CID, new, HostConfig(cpuset_cpus="1"), root=str(tmp_path))  # back to unset: the kernel's defaults
    assert (dirs["memory"] / "memory.soft_limit_in_bytes").read_text() == "-1"
    assert (dirs["cpu,cpuacct"] / "cpu.cfs_quota_us").read_text() == "-1"
