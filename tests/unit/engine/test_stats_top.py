"""engine.stats (cgroup v1/v2 readings, docker's CPU and memory math) and engine.top (moby's ps parsing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.engine import stats
from dockyard.engine.top import parse_ps
from dockyard.errors import InvalidArgument


def test_cpu_percent_is_docker_formula() -> None:
    # 0.5 s of container CPU over 2 s of host CPU on 4 CPUs → 100%
    assert stats.cpu_percent(1_000_000_000, 10_000_000_000, 1_500_000_000, 12_000_000_000, 4) == 100.0
    assert stats.cpu_percent(5, 10, 5, 20, 4) == 0.0  # no container CPU
    assert stats.cpu_percent(5, 10, 9, 10, 4) == 0.0  # no host delta


def test_memory_used_subtracts_inactive_file() -> None:
    assert stats.memory_used(1000, {"total_inactive_file": 300}) == 700
    assert stats.memory_used(1000, {"inactive_file": 200}, 2) == 800
    assert stats.memory_used(100, {"total_inactive_file": 300}) == 100


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_v1_sample_reads_each_controller(tmp_path: Path) -> None:
    cg = "dockyard/abc"
    _write(tmp_path / "memory" / cg / "memory.usage_in_bytes", "4096\n")
    _write(tmp_path / "memory" / cg / "memory.max_usage_in_bytes", "8192\n")
    _write(tmp_path / "memory" / cg / "memory.limit_in_bytes", "67108864\n")
    _write(tmp_path / "memory" / cg / "memory.stat", "cache 10\ntotal_inactive_file 1024\n")
    _write(tmp_path / "cpu,cpuacct" / cg / "cpuacct.usage", "123456789\n")
    _write(tmp_path / "cpu,cpuacct" / cg / "cpuacct.usage_percpu", "100 200 \n")
    _write(tmp_path / "cpu,cpuacct" / cg / "cpu.stat", "nr_periods 3\nnr_throttled 1\nthrottled_time 9\n")
    _write(tmp_path / "pids" / cg / "pids.current", "2\n")
    _write(tmp_path / "pids" / cg / "pids.max", "max\n")
    _write(
        tmp_path / "blkio" / cg / "blkio.throttle.io_service_bytes_recursive", "8:0 Read 512\n8:0 Write 64\nTotal 576\n"
    )
    s = stats.sample("abc", os.getpid(), root=str(tmp_path))
    assert (s.memory_usage, s.memory_max_usage, s.memory_limit) == (4096, 8192, 67108864)
    assert s.memory_stat["total_inactive_file"] == 1024
    assert (s.cpu_total_ns, s.cpu_percpu_ns, s.throttling) == (123456789, (100, 200), (3, 1, 9))
    assert (s.pids_current, s.pids_limit) == (2, 0)
    assert [(e.op, e.value) for e in s.blkio] == [("Read", 512), ("Write", 64)]
    assert s.system_cpu_ns > 0 and s.online_cpus >= 1


def test_unlimited_memory_reports_the_hosts(tmp_path: Path) -> None:
    _write(tmp_path / "memory" / "dockyard/abc" / "memory.limit_in_bytes", str(9223372036854771712))
    assert stats.sample("abc", os.getpid(), root=str(tmp_path)).memory_limit == stats.host_memory()


def test_stopped_container_gives_zero_counters() -> None:
    s = stats.sample("abc", 0)
    assert (s.cpu_total_ns, s.memory_usage, s.pids_current, s.networks) == (0, 0, 0, {})


def test_network_skips_loopback() -> None:
    assert "lo" not in stats.network(os.getpid())


PS = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         300     200  0 10:01 ?        00:00:00 sh -c sleep 1000; echo done
root         301     300  0 10:01 ?        00:00:00 sleep 1000
"""


def test_parse_ps_keeps_the_containers_pids_and_joins_the_last_column() -> None:
    result = parse_ps(PS, [300, 301])
    assert result.titles == ("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")
    assert result.processes == (
        ("root", "300", "200", "0", "10:01", "?", "00:00:00", "sh -c sleep 1000; echo done"),
        ("root", "301", "300", "0", "10:01", "?", "00:00:00", "sleep 1000"),
    )


def test_parse_ps_needs_a_pid_column() -> None:
    with pytest.raises(InvalidArgument, match="Couldn't find PID field in ps output"):
        parse_ps("USER COMMAND\nroot x\n", [1])
