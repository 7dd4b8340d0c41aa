"""Create-time warnings with moby's wording (daemon_unix.go verifyPlatformContainerResources and
verifyPlatformContainerSettings): settings this host's cgroups cannot apply are dropped with a warning, as Docker
does, instead of failing at start. Reads which cgroup files exist (`HostFeatures.probe`); changes nothing.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from dockyard.engine.records import HostConfig
from dockyard.oci.model import replace

CGROUP_ROOT = "/sys/fs/cgroup"

SWAP = "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
MEMORY = "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded."
SWAPPINESS = ("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. "
              "Memory swappiness discarded.")  # fmt: skip
RESERVATION = ("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. "
               "Limitation discarded.")  # fmt: skip
OOM_UNSUPPORTED = "Your kernel does not support OomKillDisable. OomKillDisable discarded."
OOM_NO_MEMORY = ("OOM killer is disabled for the container, but no memory limit is set, this can result in the "
                 "system running out of resources.")  # fmt: skip
PIDS = "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded."
CPU_SHARES = "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded."
CPU_CFS = "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded."
CPUSET = "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."
BLKIO_WEIGHT = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
HOST_PORTS = "Published ports are discarded when using host network mode"


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFeatures:
    """What this host's cgroups can limit (moby's sysinfo.SysInfo, the fields the checks read)."""

    memory_limit: bool = True
    swap_limit: bool = True
    memory_swappiness: bool = True
    memory_reservation: bool = True
    oom_kill_disable: bool = True
    pids_limit: bool = True
    cpu_shares: bool = True
    cpu_cfs: bool = True
    cpuset: bool = True
    blkio_weight: bool = True

    @staticmethod
    @functools.cache
    def probe(root: str = CGROUP_ROOT) -> HostFeatures:
        """Read once per process: v2 when `root/cgroup.controllers` exists, else the v1 controller directories."""
        try:
            with open(os.path.join(root, "cgroup.controllers"), encoding="ascii") as f:
                controllers = set(f.read().split())
        except OSError:
            return _probe_v1(root)
        memory = "memory" in controllers
        return HostFeatures(
            memory_limit=memory, swap_limit=memory, memory_swappiness=False, memory_reservation=memory,
            oom_kill_disable=False, pids_limit="pids" in controllers, cpu_shares="cpu" in controllers,
            cpu_cfs="cpu" in controllers, cpuset="cpuset" in controllers, blkio_weight="io" in controllers,
        )  # fmt: skip


def _probe_v1(root: str) -> HostFeatures:
    def has(controller: str, *files: str) -> bool:
        return any(os.path.exists(os.path.join(root, controller, name)) for name in files)

    return HostFeatures(
        memory_limit=has("memory", "memory.limit_in_bytes"), swap_limit=has("memory", "memory.memsw.limit_in_bytes"),
        memory_swappiness=has("memory", "memory.swappiness"),
        memory_reservation=has("memory", "memory.soft_limit_in_bytes"),
        # the root of the pids hierarchy has no pids.max: moby only asks whether it is mounted
        oom_kill_disable=has("memory", "memory.oom_control"), pids_limit=has("pids", "cgroup.procs"),
        cpu_shares=has("cpu", "cpu.shares"), cpu_cfs=has("cpu", "cpu.cfs_quota_us"),
        cpuset=has("cpuset", "cpuset.cpus"),
        blkio_weight=has("blkio", "blkio.weight", "blkio.bfq.weight"),
    )  # fmt: skip


def create_warnings(hc: HostConfig, host: HostFeatures) -> tuple[HostConfig, list[str]]:
    """The HostConfig to create with (what the host cannot apply dropped) and Docker's warnings, in moby's order."""
    hc, warnings = _memory(hc, host)
    if hc.pids_limit > 0 and not host.pids_limit:
        hc, warnings = replace(hc, pids_limit=0), [*warnings, PIDS]
    if hc.cpu_shares > 0 and not host.cpu_shares:
        hc, warnings = replace(hc, cpu_shares=0), [*warnings, CPU_SHARES]
    if (hc.cpu_period or hc.cpu_quota) and not host.cpu_cfs:
        hc, warnings = replace(hc, cpu_period=0, cpu_quota=0), [*warnings, CPU_CFS]
    if (hc.cpuset_cpus or hc.cpuset_mems) and not host.cpuset:
        hc, warnings = replace(hc, cpuset_cpus="", cpuset_mems=""), [*warnings, CPUSET]
    if hc.blkio_weight > 0 and not host.blkio_weight:
        hc, warnings = replace(hc, blkio_weight=0), [*warnings, BLKIO_WEIGHT]
    if hc.network_mode == "host" and hc.port_bindings:
        warnings.append(HOST_PORTS)
    return hc, warnings


def _memory(hc: HostConfig, host: HostFeatures) -> tuple[HostConfig, list[str]]:
    warnings: list[str] = []
    if hc.memory > 0 and not host.memory_limit:
        hc, warnings = replace(hc, memory=0, memory_swap=-1), [*warnings, MEMORY]
    if hc.memory > 0 and hc.memory_swap != -1 and not host.swap_limit:
        hc, warnings = replace(hc, memory_swap=-1), [*warnings, SWAP]
    if hc.memory_swappiness != -1 and not host.memory_swappiness:
        hc, warnings = replace(hc, memory_swappiness=-1), [*warnings, SWAPPINESS]
    if hc.memory_reservation > 0 and not host.memory_reservation:
        hc, warnings = replace(hc, memory_reservation=0), [*warnings, RESERVATION]
    if hc.oom_kill_disable and not host.oom_kill_disable:
        hc, warnings = replace(hc, oom_kill_disable=False), [*warnings, OOM_UNSUPPORTED]
    if hc.oom_kill_disable and hc.memory == 0:
        warnings.append(OOM_NO_MEMORY)
    return hc, warnings
