"""Unit tests for cgroups/v2.py: runc's conversions and the files written in a mimicked unified hierarchy."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from dockyard.errors import DockyardError, InvalidArgument, Unsupported
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
from dockyard.runtime.cgroups import files, open_manager, v2

CONTROLLERS = "cpuset cpu io memory pids"
KERNEL_FILES = {
    "cgroup.procs": "", "cgroup.controllers": CONTROLLERS, "cgroup.subtree_control": "", "cgroup.freeze": "0",
    "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.kill": "", "memory.max": "max", "memory.low": "0",
    "memory.swap.max": "max", "memory.high": "max", "cpu.weight": "100", "cpu.max": "max 100000",
    "cpuset.cpus": "", "cpuset.mems": "", "pids.max": "max", "io.weight": "default 100", "io.max": "",
}  # fmt: skip


def kernel_mkdir(root: Path, path: str) -> None:
    parts = [p for p in path.split("/") if p]
    for depth in range(1, len(parts) + 1):
        directory = root.joinpath(*parts[:depth])
        directory.mkdir(exist_ok=True)
        for name, value in KERNEL_FILES.items():
            if not (directory / name).exists():
                (directory / name).write_text(value)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text(CONTROLLERS + " hugetlb\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory\n")
    (tmp_path / "cgroup.procs").write_text("1\n")
    return tmp_path


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[tuple[str, str, str]]:
    log: list[tuple[str, str, str]] = []
    real = files.write

    def recording(directory: str, name: str, value: str) -> None:
        log.append((os.path.relpath(directory, root), name, value))
        real(directory, name, value)

    monkeypatch.setattr(files, "write", recording)
    return log


def manager(root: Path, path: str = "/dockyard/abc") -> v2.V2Manager:
    kernel_mkdir(root, path)
    m = open_manager(path, "abc", root=str(root))
    assert isinstance(m, v2.V2Manager)
    m.create()
    return m


def read(root: Path, name: str, path: str = "dockyard/abc") -> str:
    return (root / path / name).read_text().strip()


@pytest.mark.parametrize(("shares", "weight"), [(0, 0), (2, 1), (1024, 39), (512, 20), (262144, 10000)])
def test_shares_to_weight_as_runc(shares: int, weight: int) -> None:
    assert v2.shares_to_weight(shares) == weight


@pytest.mark.parametrize(("blkio", "io"), [(0, 0), (10, 1), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight_as_runc(blkio: int, io: int) -> None:
    assert v2.blkio_to_io_weight(blkio) == io


@pytest.mark.parametrize(
    ("swap", "limit", "expected"),
    [(None, None, None), (None, 100, None), (300, 100, "200"), (100, 100, "0"), (-1, 100, "max"), (None, -1, "max")],
)
def test_swap_max_is_memsw_minus_limit(swap: int | None, limit: int | None, expected: str | None) -> None:
    assert v2.swap_max(swap, limit) == expected


def test_swap_max_bad_values() -> None:
    with pytest.raises(InvalidArgument, match=r"^cgroup `memory.swap.max`: a memory\+swap limit \(300\) needs"):
        v2.swap_max(300, None)
    with pytest.raises(InvalidArgument, match=r"memory\+swap limit 50 is below the memory limit 100$"):
        v2.swap_max(50, 100)


def test_create_enables_controllers_in_every_parent_once(root: Path, writes: list[tuple[str, str, str]]) -> None:
    kernel_mkdir(root, "/dockyard/abc")
    m = open_manager(None, "abc", root=str(root))
    m.create()
    assert writes == [
        (".", "cgroup.subtree_control", "+cpuset +cpu +io +pids +hugetlb"),
        ("dockyard", "cgroup.subtree_control", "+cpuset +cpu +io +memory +pids"),
    ]
    (root / "cgroup.subtree_control").write_text(CONTROLLERS + " hugetlb")
    (root / "dockyard/cgroup.subtree_control").write_text(CONTROLLERS)
    writes.clear()
    m.create()
    assert writes == []
    assert m.exists() and m.version == 2 and m.enforces_devices


def test_create_enables_one_by_one_when_the_batch_is_refused(
    root: Path, writes: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel_mkdir(root, "/c")
    recording = files.write

    def picky(directory: str, name: str, value: str) -> None:
        recording(directory, name, value)
        if value.count("+") > 1 or value == "+cpuset":
            raise files.CgroupValueError(name, value, 16)

    monkeypatch.setattr(files, "write", picky)
    open_manager("/c", "c", root=str(root)).create()
    batch = "+cpuset +cpu +io +pids +hugetlb"
    assert [v for _, _, v in writes] == [batch, "+cpuset", "+cpu", "+io", "+pids", "+hugetlb"]


def test_apply_writes_every_limit(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.runtime import devicefilter

    attached: list[tuple[str, tuple[DeviceRule, ...]]] = []
    monkeypatch.setattr(devicefilter, "attach", lambda directory, rules: attached.append((directory, rules)))
    m = manager(root)
    m.apply(
        Resources(
            memory=Memory(limit=10 << 20, swap=30 << 20, reservation=5 << 20, swappiness=10),
            cpu=Cpu(shares=1024, quota=50000, period=100000, cpus="0-1", mems="0"),
            pids=Pids(limit=-1),
            block_io=BlockIO(weight=500),
            devices=(DeviceRule(allow=False, access="rwm"),),
        )
    )
    expected = {
        "memory.max": str(10 << 20),
        "memory.swap.max": str(20 << 20),
        "memory.low": str(5 << 20),
        "cpu.weight": "39",
        "cpu.max": "50000 100000",
        "cpuset.cpus": "0-1",
        "cpuset.mems": "0",
        "pids.max": "max",
        "io.weight": "4950",
    }
    assert {k: read(root, k) for k in expected} == expected
    assert attached == [(m._dir, (DeviceRule(allow=False, access="rwm"),))]  # the eBPF filter (runtime/devicefilter)


@pytest.mark.parametrize(
    ("cpu", "value"),
    [(Cpu(quota=-1, period=100000), "max 100000"), (Cpu(quota=20000), "20000"), (Cpu(period=5000), "max 5000")],
)
def test_cpu_max(root: Path, cpu: Cpu, value: str) -> None:
    m = manager(root)
    m.apply(Resources(cpu=cpu))
    assert read(root, "cpu.max") == value


def test_io_bfq_weight_and_throttles(root: Path, writes: list[tuple[str, str, str]]) -> None:
    m = manager(root)
    (root / "dockyard/abc/io.bfq.weight").write_text("default 100")
    m.apply(
        Resources(
            block_io=BlockIO(
                weight=300,
                weight_device=(WeightDevice(major=8, minor=0, weight=200),),
                throttle_read_bps_device=(ThrottleDevice(major=8, minor=0, rate=1048576),),
                throttle_write_iops_device=(ThrottleDevice(major=8, minor=16, rate=0),),
            )
        )
    )
    assert [(n, v) for _, n, v in writes if n.startswith("io.")] == [
        ("io.bfq.weight", "300"),
        ("io.bfq.weight", "8:0 200"),
        ("io.max", "8:0 rbps=1048576"),
        ("io.max", "8:16 wiops=max"),
    ]


def test_unified_is_written_last_and_verbatim(root: Path, writes: list[tuple[str, str, str]]) -> None:
    m = manager(root)
    writes.clear()
    m.apply(Resources(memory=Memory(limit=1 << 20), unified={"memory.max": "max", "memory.high": "2M"}))
    assert [(n, v) for _, n, v in writes] == [("memory.max", "1048576"), ("memory.max", "max"), ("memory.high", "2M")]


@pytest.mark.parametrize("key", ["../cgroup.procs", "a/b", "", ".."])
def test_unified_key_must_be_a_file_name(root: Path, writes: list[tuple[str, str, str]], key: str) -> None:
    m = manager(root)
    writes.clear()
    with pytest.raises(InvalidArgument, match=rf"^cgroup unified key `{key}`: must be a file name without `/`$"):
        m.apply(Resources(pids=Pids(limit=5), unified={key: "1"}))
    assert writes == []


def test_unified_key_of_a_disabled_controller_or_unknown_file(root: Path) -> None:
    m = manager(root)
    with pytest.raises(Unsupported, match=r"^cgroup unified key `rdma.max`: the v2 controller `rdma` is not enabled$"):
        m.apply(Resources(unified={"rdma.max": "x"}))
    with pytest.raises(InvalidArgument, match=r"^cgroup unified key `memory.bogus`: no such cgroup file$"):
        m.apply(Resources(unified={"memory.bogus": "1"}))


def test_missing_controller_and_realtime_are_refused(root: Path) -> None:
    m = manager(root)
    (root / "dockyard/abc/cgroup.controllers").write_text("cpu pids")
    with pytest.raises(Unsupported, match=r"^cgroup `/dockyard/abc`: the v2 controller `memory` is not enabled$"):
        m.apply(Resources(memory=Memory(limit=1 << 20)))
    with pytest.raises(Unsupported, match=r"realtime cpu limits need cgroup v1$"):
        m.apply(Resources(cpu=Cpu(realtime_runtime=1000)))
    with pytest.raises(Unsupported, match=r"the v2 controller `hugetlb` is not enabled$"):
        m.apply(Resources(hugepage_limits=(HugepageLimit(page_size="2MB", limit=1),)))


def test_swap_without_swap_accounting(root: Path) -> None:
    m = manager(root)
    (root / "dockyard/abc/memory.swap.max").unlink()
    m.apply(Resources(memory=Memory(limit=1 << 20, swap=1 << 20)))  # "0": nothing to do without swap
    with pytest.raises(Unsupported, match=r"^cgroup `memory.swap.max`: swap accounting is not enabled"):
        m.apply(Resources(memory=Memory(limit=1 << 20, swap=2 << 20)))


def test_freeze_and_thaw_wait_for_cgroup_events(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = manager(root)
    events = root / "dockyard/abc/cgroup.events"
    events.write_text("populated 1\nfrozen 1\n")
    m.freeze()
    assert read(root, "cgroup.freeze") == "1" and m.frozen()
    monkeypatch.setattr(v2, "FREEZE_TIMEOUT", 0.01)
    with pytest.raises(DockyardError, match=r"^thaw cgroup `/dockyard/abc`: timed out$"):
        m.thaw()
    events.write_text("populated 1\nfrozen 0\n")
    m.thaw()
    assert read(root, "cgroup.freeze") == "0" and not m.frozen()
    with pytest.raises(DockyardError, match=r"^freeze cgroup `/dockyard/abc`: timed out$"):
        m.freeze()
    assert read(root, "cgroup.freeze") == "0"


def test_kill_all_with_sigkill_uses_cgroup_kill(root: Path) -> None:
    m = manager(root)
    m.kill_all(signal.SIGKILL)
    assert read(root, "cgroup.kill") == "1"


def test_stats(root: Path) -> None:
    m = manager(root)
    d = root / "dockyard/abc"
    (d / "memory.current").write_text("1000\n")
    (d / "memory.peak").write_text("4000\n")
    (d / "memory.max").write_text("2000\n")
    (d / "memory.stat").write_text("anon 700\nfile 300\n")
    (d / "cpu.stat").write_text("usage_usec 5\nnr_periods 4\nnr_throttled 1\nthrottled_usec 2\n")
    (d / "pids.current").write_text("2\n")
    (d / "io.stat").write_text(
        "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=5 wbytes=0 rios=1 wios=0\n"
    )
    s = m.stats()
    assert (s.memory_usage, s.memory_limit, s.memory_max_usage, s.memory_cache) == (1000, 2000, 4000, 300)
    assert (s.cpu_usage_ns, s.cpu_per_cpu_ns, s.cpu_periods, s.cpu_throttled_periods, s.cpu_throttled_ns) == (
        5000,
        None,
        4,
        1,
        2000,
    )
    assert (s.pids_current, s.pids_limit) == (2, None)
    assert (s.blkio_read_bytes, s.blkio_write_bytes, s.blkio_read_ops, s.blkio_write_ops) == (15, 20, 2, 2)


def test_destroy_and_missing_cgroup(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_rmdir(path: str) -> None:
        for entry in os.scandir(path):
            os.unlink(entry.path)
        os.rmdir(path)

    monkeypatch.setattr(files, "_rmdir", fake_rmdir)
    m = manager(root)
    m.add_process(99)
    assert m.pids() == [99]
    m.destroy()
    assert not (root / "dockyard/abc").exists() and (root / "dockyard").is_dir()
    m.destroy()
    assert m.pids() == [] and not m.frozen()
