"""`docker stats` readings: one sample of a container's cgroup counters (v1 or v2), the host's CPU time and the
container's network counters (/proc/<pid>/net/dev, which shows the pid's network namespace).

Reads files only (as containerd-shim reads cgroupfs); the cgroup is the one the engine's spec names
(/dockyard/<id>). Docker's JSON and the percentage math live in api/ and cli/.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

CGROUP_ROOT = "/sys/fs/cgroup"
UNLIMITED = 1 << 62


@dataclass(frozen=True, slots=True, kw_only=True)
class NetCounters:
    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BlkioEntry:
    major: int
    minor: int
    op: str  # Read | Write | Sync | Async | Discard | Total
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    read_ns: int
    cpu_total_ns: int = 0
    cpu_percpu_ns: tuple[int, ...] = ()
    cpu_kernel_ns: int = 0
    cpu_user_ns: int = 0
    system_cpu_ns: int = 0
    online_cpus: int = 0
    throttling: tuple[int, int, int] = (0, 0, 0)  # periods, throttled periods, throttled ns
    memory_usage: int = 0
    memory_max_usage: int = 0
    memory_limit: int = 0
    memory_stat: dict[str, int] = field(default_factory=dict)
    pids_current: int = 0
    pids_limit: int = 0
    blkio: tuple[BlkioEntry, ...] = ()
    networks: dict[str, NetCounters] = field(default_factory=dict)
    cgroup_version: int = 1


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _int(path: str) -> int:
    text = _read(path)
    if text is None or text == "max":
        return 0
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return 0


def _keyed(path: str) -> dict[str, int]:
    out = {}
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def v1_dir(controller: str, cgroup: str, root: str = CGROUP_ROOT) -> str | None:
    """The directory of `cgroup` in the v1 hierarchy holding `controller` (co-mounted names such as cpu,cpuacct)."""
    try:
        entries = os.listdir(root)
    except OSError:
        return None
    for entry in entries:
        if controller in entry.split(",") and os.path.isdir(os.path.join(root, entry)):
            return os.path.join(root, entry, cgroup.lstrip("/"))
    return None


def host_cpu_ns() -> int:
    """Docker's system_cpu_usage: the first line of /proc/stat (user…steal) in nanoseconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    for line in (_read("/proc/stat") or "").splitlines():
        if line.startswith("cpu "):
            return sum(int(v) for v in line.split()[1:8]) * 1_000_000_000 // ticks
    return 0


def host_memory() -> int:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def network(pid: int) -> dict[str, NetCounters]:
    """Counters of every interface but `lo` in the network namespace of `pid`."""
    out = {}
    for line in (_read(f"/proc/{pid}/net/dev") or "").splitlines()[2:]:
        name, _, rest = line.partition(":")
        values = [int(v) for v in rest.split()]
        if name.strip() == "lo" or len(values) < 12:
            continue
        out[name.strip()] = NetCounters(rx_bytes=values[0], rx_packets=values[1], rx_errors=values[2],
                                        rx_dropped=values[3], tx_bytes=values[8], tx_packets=values[9],
                                        tx_errors=values[10], tx_dropped=values[11])  # fmt: skip
    return out


def sample(container_id: str, pid: int, root: str = CGROUP_ROOT) -> Sample:
    """One reading of the container `container_id` whose init is `pid` (0: stopped, zero counters)."""
    now = time.time_ns()
    if not pid:
        return Sample(read_ns=now)
    cgroup = f"/dockyard/{container_id}"
    common = {"read_ns": now, "system_cpu_ns": host_cpu_ns(), "online_cpus": os.sysconf("SC_NPROCESSORS_ONLN"),
              "networks": network(pid)}  # fmt: skip
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return _v2(os.path.join(root, cgroup.lstrip("/")), common)
    return _v1(cgroup, root, common)


def _v1(cgroup: str, root: str, common: dict[str, object]) -> Sample:
    mem = v1_dir("memory", cgroup, root) or ""
    acct = v1_dir("cpuacct", cgroup, root) or ""
    cpu = v1_dir("cpu", cgroup, root) or ""
    pids = v1_dir("pids", cgroup, root) or ""
    blkio = v1_dir("blkio", cgroup, root) or ""
    ticks_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    acct_stat = _keyed(os.path.join(acct, "cpuacct.stat"))
    throttle = _keyed(os.path.join(cpu, "cpu.stat"))
    limit = _int(os.path.join(mem, "memory.limit_in_bytes"))
    return Sample(
        cpu_total_ns=_int(os.path.join(acct, "cpuacct.usage")),
        cpu_percpu_ns=tuple(int(v) for v in (_read(os.path.join(acct, "cpuacct.usage_percpu")) or "").split()),
        cpu_kernel_ns=acct_stat.get("system", 0) * ticks_ns,
        cpu_user_ns=acct_stat.get("user", 0) * ticks_ns,
        throttling=(throttle.get("nr_periods", 0), throttle.get("nr_throttled", 0), throttle.get("throttled_time", 0)),
        memory_usage=_int(os.path.join(mem, "memory.usage_in_bytes")),
        memory_max_usage=_int(os.path.join(mem, "memory.max_usage_in_bytes")),
        memory_limit=_limit(limit),
        memory_stat=_keyed(os.path.join(mem, "memory.stat")),
        pids_current=_int(os.path.join(pids, "pids.current")),
        pids_limit=_int(os.path.join(pids, "pids.max")),
        blkio=_blkio_v1(blkio),
        cgroup_version=1,
        **common,  # type: ignore[arg-type]
    )


def _limit(limit: int) -> int:
    total = host_memory()
    return total if not limit or limit >= UNLIMITED or (total and limit > total) else limit


def _blkio_v1(directory: str) -> tuple[BlkioEntry, ...]:
    for name in ("blkio.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive",
                 "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes"):  # fmt: skip
        entries = []
        for line in (_read(os.path.join(directory, name)) or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":")
                entries.append(BlkioEntry(major=int(major), minor=int(minor), op=parts[1], value=int(parts[2])))
        if entries:
            return tuple(entries)
    return ()


def _v2(directory: str, common: dict[str, object]) -> Sample:
    cpu = _keyed(os.path.join(directory, "cpu.stat"))
    blkio = []
    for line in (_read(os.path.join(directory, "io.stat")) or "").splitlines():
        dev, *pairs = line.split()
        major, _, minor = dev.partition(":")
        values = dict(p.split("=", 1) for p in pairs if "=" in p)
        for key, op in (("rbytes", "read"), ("wbytes", "write")):
            if key in values and major.isdigit() and minor.isdigit():
                blkio.append(BlkioEntry(major=int(major), minor=int(minor), op=op, value=int(values[key])))
    return Sample(
        cpu_total_ns=cpu.get("usage_usec", 0) * 1000,
        cpu_kernel_ns=cpu.get("system_usec", 0) * 1000,
        cpu_user_ns=cpu.get("user_usec", 0) * 1000,
        throttling=(cpu.get("nr_periods", 0), cpu.get("nr_throttled", 0), cpu.get("throttled_usec", 0) * 1000),
        memory_usage=_int(os.path.join(directory, "memory.current")),
        memory_max_usage=_int(os.path.join(directory, "memory.peak")),
        memory_limit=_limit(_int(os.path.join(directory, "memory.max"))),
        memory_stat=_keyed(os.path.join(directory, "memory.stat")),
        pids_current=_int(os.path.join(directory, "pids.current")),
        pids_limit=_int(os.path.join(directory, "pids.max")),
        blkio=tuple(blkio),
        cgroup_version=2,
        **common,  # type: ignore[arg-type]
    )


# ---- the numbers docker stats shows (cli/ computes them the same way from Docker's JSON) ----------------------


def cpu_percent(prev_total: int, prev_system: int, total: int, system: int, online_cpus: int) -> float:
    """docker's calculateCPUPercentUnix: container CPU delta over host CPU delta, times the online CPUs."""
    cpu_delta = total - prev_total
    system_delta = system - prev_system
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * online_cpus * 100.0
    return 0.0


def memory_used(usage: int, stat: dict[str, int], cgroup_version: int = 1) -> int:
    """docker's calculateMemUsageUnixNoCache: usage minus inactive file pages (total_inactive_file on v1)."""
    key = "total_inactive_file" if "total_inactive_file" in stat else "inactive_file"
    inactive = stat.get(key, 0)
    return usage - inactive if inactive < usage else usage
