"""Unit tests for cgroups/v1.py against a temporary directory laid out like this host's v1 hierarchies."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.oci.runtime_spec import (
    BlockIO,
    Cpu,
    DeviceRule,
    HugepageLimit,
    Memory,
    Pids,
    Resources,
    ThrottleDevice,
    WeightDevice,
)
from dockyard.runtime.cgroups import files, open_manager, v1

UNLIMITED = "9223372036854771712"
# the files the kernel puts in a new cgroup, per controller (a subset: what the manager reads or writes)
KERNEL_FILES = {
    "cpu": {"cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.stat": "",
            "cpu.rt_period_us": "1000000", "cpu.rt_runtime_us": "0", "cpu.cfs_burst_us": "0", "cpu.idle": "0"},
    "cpuacct": {"cpuacct.usage": "0", "cpuacct.usage_percpu": "0 0"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "memory": {"memory.limit_in_bytes": UNLIMITED, "memory.memsw.limit_in_bytes": UNLIMITED,
               "memory.soft_limit_in_bytes": UNLIMITED, "memory.swappiness": "60", "memory.oom_control": "",
               "memory.usage_in_bytes": "0", "memory.max_usage_in_bytes": "0", "memory.stat": "",
               "memory.kmem.tcp.limit_in_bytes": UNLIMITED},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "blkio": {"blkio.bfq.weight": "100", "blkio.bfq.weight_device": "", "blkio.throttle.read_bps_device": "",
              "blkio.throttle.write_bps_device": "", "blkio.throttle.read_iops_device": "",
              "blkio.throttle.write_iops_device": ""},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
    "freezer": {"freezer.state": "THAWED"},
    "systemd": {},  # a named hierarchy without a controller: joined, never written to but cgroup.procs
}  # fmt: skip


def kernel_mkdir(root: Path, path: str, controllers: tuple[str, ...] = tuple(KERNEL_FILES)) -> None:
    """What the kernel does on mkdir (-p) in each hierarchy: the directories, each with its control files."""
    parts = [p for p in path.split("/") if p]
    for controller in controllers:
        for depth in range(len(parts) + 1):
            directory = root.joinpath(controller, *parts[:depth])
            directory.mkdir(parents=True, exist_ok=True)
            for name, value in {"cgroup.procs": "", **KERNEL_FILES[controller]}.items():
                if not (directory / name).exists():
                    (directory / name).write_text(value)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    kernel_mkdir(tmp_path, "/")
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (tmp_path / "cpuset" / "cpuset.mems").write_text("0\n")
    return tmp_path


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[tuple[str, str, str]]:
    """Every write the manager makes, as (directory relative to root, file, value), in order."""
    log: list[tuple[str, str, str]] = []
    real = files.write

    def recording(directory: str, name: str, value: str) -> None:
        log.append((os.path.relpath(directory, os.path.realpath(root)), name, value))
        real(directory, name, value)

    monkeypatch.setattr(files, "write", recording)
    return log


def manager(root: Path, path: str = "/dockyard/abc") -> v1.V1Manager:
    kernel_mkdir(root, path)
    m = open_manager(path, "abc", root=str(root))
    assert isinstance(m, v1.V1Manager)
    m.create()
    return m


def read(root: Path, controller: str, name: str, path: str = "dockyard/abc") -> str:
    return (root / controller / path / name).read_text().strip()


def test_create_copies_cpuset_down_the_tree_and_is_idempotent(root: Path) -> None:
    kernel_mkdir(root, "/dockyard/abc")
    (root / "cpuset" / "dockyard" / "cpuset.cpus").write_text("1")  # already set: must be kept
    m = open_manager("/dockyard/abc", "abc", root=str(root))
    m.create()
    m.create()
    assert read(root, "cpuset", "cpuset.cpus", "dockyard") == "1"
    assert read(root, "cpuset", "cpuset.mems", "dockyard") == "0"
    assert read(root, "cpuset", "cpuset.cpus") == "1"
    assert read(root, "cpuset", "cpuset.mems") == "0"
    assert m.exists() and m.path == "/dockyard/abc"


def test_create_makes_directories_in_every_hierarchy(tmp_path: Path) -> None:
    for controller in ("memory", "pids", "freezer"):
        (tmp_path / controller).mkdir()
    m = open_manager(None, "xyz", root=str(tmp_path))
    m.create()
    for controller in ("memory", "pids", "freezer"):
        assert (tmp_path / controller / "dockyard" / "xyz").is_dir()
    assert not (tmp_path / "cpuset" / "dockyard").exists()


def test_apply_writes_every_limit(root: Path) -> None:
    m = manager(root)
    m.apply(
        Resources(
            memory=Memory(limit=10 << 20, swap=20 << 20, reservation=5 << 20, swappiness=0, disable_oom_killer=True),
            cpu=Cpu(shares=512, quota=50000, period=100000, cpus="0-1", mems="0", realtime_runtime=1000),
            pids=Pids(limit=64),
            block_io=BlockIO(
                weight=300,
                weight_device=(WeightDevice(major=8, minor=0, weight=200),),
                throttle_read_bps_device=(ThrottleDevice(major=8, minor=0, rate=1048576),),
                throttle_write_iops_device=(ThrottleDevice(major=8, minor=0, rate=100),),
            ),
        )
    )
    expected = {
        ("memory", "memory.limit_in_bytes"): str(10 << 20),
        ("memory", "memory.memsw.limit_in_bytes"): str(20 << 20),
        ("memory", "memory.soft_limit_in_bytes"): str(5 << 20),
        ("memory", "memory.swappiness"): "0",
        ("memory", "memory.oom_control"): "1",
        ("cpu", "cpu.shares"): "512",
        ("cpu", "cpu.cfs_quota_us"): "50000",
        ("cpu", "cpu.cfs_period_us"): "100000",
        ("cpu", "cpu.rt_runtime_us"): "1000",
        ("cpuset", "cpuset.cpus"): "0-1",
        ("cpuset", "cpuset.mems"): "0",
        ("pids", "pids.max"): "64",
        ("blkio", "blkio.bfq.weight"): "300",
        ("blkio", "blkio.bfq.weight_device"): "8:0 200",
        ("blkio", "blkio.throttle.read_bps_device"): "8:0 1048576",
        ("blkio", "blkio.throttle.write_iops_device"): "8:0 100",
    }
    assert {k: read(root, *k) for k in expected} == expected


def test_apply_none_and_unset_fields_write_nothing(root: Path, writes: list[tuple[str, str, str]]) -> None:
    m = manager(root)
    writes.clear()
    m.apply(None)
    m.apply(Resources(memory=Memory(), cpu=Cpu(), pids=Pids(limit=0)))
    assert writes == []


def memory_writes(log: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for _, name, value in log if name.startswith("memory.") and "limit" in name]


def test_memory_limit_is_written_before_swap_when_shrinking(root: Path, writes: list[tuple[str, str, str]]) -> None:
    m = manager(root)
    m.apply(Resources(memory=Memory(limit=10 << 20, swap=20 << 20)))
    assert memory_writes(writes) == [
        ("memory.limit_in_bytes", str(10 << 20)),
        ("memory.memsw.limit_in_bytes", str(20 << 20)),
    ]


def test_swap_is_raised_before_the_limit_when_growing(root: Path, writes: list[tuple[str, str, str]]) -> None:
    m = manager(root)
    (root / "memory/dockyard/abc/memory.limit_in_bytes").write_text(str(10 << 20))
    m.apply(Resources(memory=Memory(limit=30 << 20, swap=40 << 20)))
    assert memory_writes(writes) == [
        ("memory.memsw.limit_in_bytes", str(40 << 20)),
        ("memory.limit_in_bytes", str(30 << 20)),
    ]


def test_unlimited_memory_also_lifts_swap(root: Path, writes: list[tuple[str, str, str]]) -> None:
    m = manager(root)
    (root / "memory/dockyard/abc/memory.limit_in_bytes").write_text(str(10 << 20))
    m.apply(Resources(memory=Memory(limit=-1)))
    assert memory_writes(writes) == [("memory.memsw.limit_in_bytes", "-1"), ("memory.limit_in_bytes", "-1")]


def test_swap_without_swap_accounting_is_refused(root: Path) -> None:
    m = manager(root)
    (root / "memory/dockyard/abc/memory.memsw.limit_in_bytes").unlink()
    with pytest.raises(Unsupported, match=r"^cgroup `memory.memsw.limit_in_bytes`: swap accounting is not enabled"):
        m.apply(Resources(memory=Memory(limit=10 << 20, swap=20 << 20)))


def test_a_refused_value_names_file_and_value(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = manager(root)

    def refuse(fd: int, data: bytes) -> int:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(files.os, "write", refuse)
    with pytest.raises(files.CgroupValueError) as info:
        m.apply(Resources(memory=Memory(limit=-5)))
    assert str(info.value) == "cgroup `memory.limit_in_bytes` = `-5`: invalid argument"
    assert isinstance(info.value, InvalidArgument)


def test_cpu_period_goes_before_quota(root: Path, writes: list[tuple[str, str, str]]) -> None:
    m = manager(root)
    m.apply(Resources(cpu=Cpu(quota=20000, period=50000)))
    assert [(n, v) for _, n, v in writes if n.startswith("cpu.cfs")] == [
        ("cpu.cfs_period_us", "50000"),
        ("cpu.cfs_quota_us", "20000"),
    ]


def test_pids_negative_limit_means_max(root: Path) -> None:
    m = manager(root)
    (root / "pids/dockyard/abc/pids.max").write_text("10")
    m.apply(Resources(pids=Pids(limit=-1)))
    assert read(root, "pids", "pids.max") == "max"


def test_blkio_weight_prefers_cfq_file_when_present(root: Path) -> None:
    m = manager(root)
    (root / "blkio/dockyard/abc/blkio.weight").write_text("500")
    m.apply(Resources(block_io=BlockIO(weight=700)))
    assert read(root, "blkio", "blkio.weight") == "700"
    assert read(root, "blkio", "blkio.bfq.weight") == "100"


def test_unified_on_v1_is_refused_before_any_write(root: Path, writes: list[tuple[str, str, str]]) -> None:
    m = manager(root)
    writes.clear()
    with pytest.raises(Unsupported, match=r"^cgroup `unified`: needs cgroup v2, this host uses cgroup v1$"):
        m.apply(Resources(unified={"memory.high": "1M"}))
    assert writes == []


def test_missing_controller_is_skipped_unless_asked_for(root: Path) -> None:
    m = manager(root)
    m.apply(Resources(pids=Pids(limit=5)))  # hugetlb is absent, nothing asks for it
    with pytest.raises(Unsupported, match=r"^cgroup hugepageLimits: the v1 controller `hugetlb` is not mounted$"):
        m.apply(Resources(hugepage_limits=(HugepageLimit(page_size="2MB", limit=1 << 21),)))


def test_unknown_hugepage_size(root: Path) -> None:
    (root / "hugetlb").mkdir()
    m = manager(root)
    (root / "hugetlb/dockyard/abc/hugetlb.2MB.limit_in_bytes").write_text("0")
    m.apply(Resources(hugepage_limits=(HugepageLimit(page_size="2MB", limit=4 << 20),)))
    assert read(root, "hugetlb", "hugetlb.2MB.limit_in_bytes") == str(4 << 20)
    with pytest.raises(InvalidArgument, match=r"hugepage size `3MB` is not supported$"):
        m.apply(Resources(hugepage_limits=(HugepageLimit(page_size="3MB", limit=1),)))


def test_devices_start_from_deny_all_and_keep_rule_order(root: Path, writes: list[tuple[str, str, str]]) -> None:
    m = manager(root)
    rules = (
        DeviceRule(allow=False, access="rwm"),
        DeviceRule(allow=True, type="c", major=1, minor=3, access="rwm"),
        DeviceRule(allow=True, type="c", major=136, access="rw"),
        DeviceRule(allow=False, type="c", major=1, minor=3, access="m"),
    )
    m.apply(Resources(devices=rules))
    assert [(n, v) for _, n, v in writes if n.startswith("devices")] == [
        ("devices.deny", "a"),
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"),
        ("devices.allow", "c 136:* rw"),
        ("devices.deny", "c 1:3 m"),
    ]


def test_device_rule_for_all_types_with_partial_access_is_split() -> None:
    rules = (DeviceRule(allow=True), DeviceRule(allow=False, type="a", access="w"))
    assert v1.device_writes(rules) == [
        ("devices.deny", "a"),
        ("devices.allow", "a"),
        ("devices.deny", "c *:* w"),
        ("devices.deny", "b *:* w"),
    ]


def test_freeze_thaw_and_frozen(root: Path) -> None:
    m = manager(root)
    assert not m.frozen()
    m.freeze()
    assert read(root, "freezer", "freezer.state") == "FROZEN" and m.frozen()
    m.thaw()
    assert read(root, "freezer", "freezer.state") == "THAWED" and not m.frozen()


def test_freeze_timeout_thaws_and_names_the_cgroup(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = manager(root)
    monkeypatch.setattr(v1, "FREEZE_TIMEOUT", 0.01)
    real = files.write

    def stuck(directory: str, name: str, value: str) -> None:
        real(directory, name, "FREEZING" if value == "FROZEN" else value)

    monkeypatch.setattr(files, "write", stuck)
    with pytest.raises(Exception, match=r"^freeze cgroup `/dockyard/abc`: timed out$"):
        m.freeze()
    assert read(root, "freezer", "freezer.state") == "THAWED"


def test_without_freezer(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    m = open_manager("/c", "c", root=str(tmp_path))
    m.create()
    assert not m.frozen()
    with pytest.raises(Unsupported, match=r"^cgroup freeze: the v1 controller `freezer` is not mounted$"):
        m.freeze()


def test_add_process_and_pids(root: Path) -> None:
    m = manager(root)
    m.add_process(4242)
    assert m.pids() == [4242]
    for controller in KERNEL_FILES:
        assert read(root, controller, "cgroup.procs") == "4242"


def test_co_mounted_controllers_share_one_directory(root: Path, writes: list[tuple[str, str, str]]) -> None:
    co = root / "co"
    (co / "cpu,cpuacct").mkdir(parents=True)
    (co / "cpu").symlink_to("cpu,cpuacct")
    (co / "cpuacct").symlink_to("cpu,cpuacct")
    (co / "pids").mkdir()
    m = open_manager("/c", "c", root=str(co))
    m.create()
    for d in ("cpu,cpuacct/c", "pids/c"):
        (co / d / "cgroup.procs").write_text("")
    m.add_process(7)
    assert sorted(d for d, n, _ in writes if n == "cgroup.procs") == ["co/cpu,cpuacct/c", "co/pids/c"]


def test_stats(root: Path) -> None:
    m = manager(root)
    base = root / "memory/dockyard/abc"
    (base / "memory.usage_in_bytes").write_text("1000\n")
    (base / "memory.max_usage_in_bytes").write_text("2000\n")
    (base / "memory.stat").write_text("cache 300\nrss 700\n")
    (root / "cpuacct/dockyard/abc/cpuacct.usage").write_text("5000\n")
    (root / "cpuacct/dockyard/abc/cpuacct.usage_percpu").write_text("3000 2000 \n")
    (root / "cpu/dockyard/abc/cpu.stat").write_text("nr_periods 10\nnr_throttled 2\nthrottled_time 900\n")
    (root / "pids/dockyard/abc/pids.current").write_text("3\n")
    (root / "blkio/dockyard/abc/blkio.throttle.io_service_bytes_recursive").write_text(
        "8:0 Read 4096\n8:0 Write 8192\n8:16 Read 1\n8:0 Total 12288\nTotal 12289\n"
    )
    (root / "blkio/dockyard/abc/blkio.throttle.io_serviced_recursive").write_text("8:0 Read 1\n8:0 Write 2\n")
    s = m.stats()
    assert (s.memory_usage, s.memory_limit, s.memory_max_usage, s.memory_cache) == (1000, None, 2000, 300)
    assert (s.cpu_usage_ns, s.cpu_per_cpu_ns) == (5000, (3000, 2000))
    assert (s.cpu_periods, s.cpu_throttled_periods, s.cpu_throttled_ns) == (10, 2, 900)
    assert (s.pids_current, s.pids_limit) == (3, None)
    assert (s.blkio_read_bytes, s.blkio_write_bytes, s.blkio_read_ops, s.blkio_write_ops) == (4097, 8192, 1, 2)


def fake_rmdir(path: str) -> None:
    """rmdir as cgroupfs does it: the control files go with the directory."""
    for entry in os.scandir(path):
        if entry.is_file():
            os.unlink(entry.path)
    os.rmdir(path)


def test_destroy_removes_children_and_tolerates_a_missing_cgroup(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_rmdir", fake_rmdir)
    m = manager(root)
    kernel_mkdir(root, "/dockyard/abc/sub", ("memory",))
    m.destroy()
    for controller in KERNEL_FILES:
        assert not (root / controller / "dockyard" / "abc").exists()
        assert (root / controller / "dockyard").is_dir()
    assert not m.exists() and m.pids() == []
    m.destroy()
    m.kill_all(signal.SIGKILL)  # a missing cgroup has nothing to signal


def test_kill_all_signals_every_pid_and_leaves_it_thawed(root: Path) -> None:
    m = manager(root)
    child = subprocess.Popen(["sleep", "30"])
    try:
        m.add_process(child.pid)
        m.kill_all(signal.SIGTERM)
        assert child.wait(timeout=10) == -signal.SIGTERM
        assert read(root, "freezer", "freezer.state") == "THAWED"
    finally:
        child.kill()
        child.wait()


def test_kill_all_keeps_a_paused_cgroup_frozen_except_for_sigkill(root: Path) -> None:
    m = manager(root)
    m.freeze()
    m.kill_all(signal.SIGUSR1)  # no pids: nothing is signalled
    assert m.frozen()
    m.kill_all(signal.SIGKILL)
    assert not m.frozen()
