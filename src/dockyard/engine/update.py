"""`docker update`: change a container's resources (memory, memory+swap, CPUs, CPU shares, pids) and restart
policy — persisted in its record and, while it runs, written live to its cgroup (v1 or v2).

The cgroup is the one the engine's spec names (/dockyard/<id>); values and write order follow runc's cgroupfs
driver (v1: memory.memsw first when it grows past the old value). Validation messages are Docker's.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.engine import events
from dockyard.engine.records import HostConfig, RestartPolicy
from dockyard.engine.stats import CGROUP_ROOT, v1_dir
from dockyard.errors import Conflict, InvalidArgument, SyscallError
from dockyard.oci.model import replace

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.records import ContainerRecord

CPU_PERIOD = 100_000
MIN_MEMORY = 6 * 1024 * 1024
POLICIES = ("no", "always", "on-failure", "unless-stopped")


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRequest:
    """None: leave as is."""

    memory: int | None = None
    memory_swap: int | None = None
    nano_cpus: int | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    restart_policy: RestartPolicy | None = None
    memory_reservation: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    blkio_weight: int | None = None


def merged(hc: HostConfig, req: UpdateRequest) -> HostConfig:
    """The new HostConfig, checked as moby's update does."""
    memory = hc.memory if req.memory is None else req.memory
    swap = hc.memory_swap if req.memory_swap is None else req.memory_swap
    if memory and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    current_swap = hc.memory_swap or hc.memory * 2
    if req.memory is not None and req.memory_swap is None and current_swap > 0 and memory > current_swap:
        raise InvalidArgument(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        )
    if swap > 0 and memory and swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if swap > 0 and not memory:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if req.nano_cpus is not None and req.nano_cpus < 0:
        raise InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available")
    out = replace(hc, memory=memory, memory_swap=swap)
    if req.nano_cpus is not None:
        out = replace(out, nano_cpus=req.nano_cpus)
    if req.cpu_shares is not None:
        out = replace(out, cpu_shares=req.cpu_shares)
    if req.pids_limit is not None:
        out = replace(out, pids_limit=req.pids_limit)
    out = _merge_resources(out, req)
    if req.restart_policy is not None:
        policy = req.restart_policy
        if policy.name not in POLICIES and policy.name != "":
            raise InvalidArgument(f"invalid restart policy '{policy.name}'")
        if policy.name not in ("on-failure",) and policy.maximum_retry_count:
            raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{policy.name}'")
        if hc.auto_remove and policy.name not in ("", "no"):
            raise InvalidArgument("Restart policy cannot be updated because AutoRemove is enabled for the container")
        out = replace(out, restart_policy=replace(policy, name=policy.name or "no"))
    return out


def _merge_resources(hc: HostConfig, req: UpdateRequest) -> HostConfig:
    """--memory-reservation, --cpuset-*, --cpu-period/--cpu-quota, --blkio-weight (moby's checks)."""
    changes = {name: getattr(req, name) for name in ("memory_reservation", "cpuset_cpus", "cpuset_mems",
               "cpu_period", "cpu_quota", "blkio_weight") if getattr(req, name) is not None}  # fmt: skip
    out = replace(hc, **changes)
    if out.memory and out.memory_reservation and out.memory < out.memory_reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if out.cpu_period and not 1000 <= out.cpu_period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if out.cpu_quota and 0 < out.cpu_quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if out.nano_cpus and (out.cpu_period or out.cpu_quota):
        what = "Period" if out.cpu_period else "Quota"
        raise InvalidArgument(f"Conflicting options: Nano CPUs and CPU {what} cannot both be set")
    if out.blkio_weight and not 10 <= out.blkio_weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    return out


def update(containers: Containers, ref: str, req: UpdateRequest) -> ContainerRecord:
    record = containers.get(ref)
    if record.state.status in ("removing", "dead"):
        raise Conflict(f"Cannot update container {record.id}: container is marked for removal and cannot be updated")
    new_hc = merged(record.host_config, req)
    if record.state.status in ("running", "paused", "restarting") and record.state.pid:
        try:
            apply_live(record.id, record.host_config, new_hc)
        except SyscallError as err:
            raise InvalidArgument(f"Cannot update container {record.id}: {err.message}") from err
    updated = containers.records.update(record.id, lambda r: replace(r, host_config=new_hc))
    events.emit_container(containers.paths, updated, "update")
    return updated


def _write(directory: str, name: str, value: str) -> None:
    path = os.path.join(directory, name)
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(value)
    except OSError as err:
        raise SyscallError("write", f"{path}` `{value}", err.errno or errno.EIO) from err


def apply_live(container_id: str, old: HostConfig, new: HostConfig, root: str = CGROUP_ROOT) -> None:
    """Write what changed between `old` and `new` into the container's cgroup."""
    cgroup = f"/dockyard/{container_id}"
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        _apply_v2(os.path.join(root, cgroup.lstrip("/")), old, new)
        return
    mem, cpu, pids = v1_dir("memory", cgroup, root), v1_dir("cpu", cgroup, root), v1_dir("pids", cgroup, root)
    if mem and (new.memory, new.memory_swap) != (old.memory, old.memory_swap):
        limit = str(new.memory) if new.memory else "-1"
        swap = new.memory_swap or (new.memory * 2 if new.memory else -1)
        memsw = "-1" if swap < 0 else str(swap)
        has_memsw = os.path.exists(os.path.join(mem, "memory.memsw.limit_in_bytes"))
        current = _read_int(os.path.join(mem, "memory.memsw.limit_in_bytes")) if has_memsw else 0
        # why: the kernel refuses memory.limit_in_bytes above memory.memsw.limit_in_bytes (and memsw below the
        # memory limit), so the one that grows is written first (runc cgroups/fs/memory.go setMemoryAndSwap)
        if has_memsw and (memsw == "-1" or int(memsw) > current):
            _write(mem, "memory.memsw.limit_in_bytes", memsw)
            _write(mem, "memory.limit_in_bytes", limit)
        else:
            _write(mem, "memory.limit_in_bytes", limit)
            if has_memsw:
                _write(mem, "memory.memsw.limit_in_bytes", memsw)
    if cpu and new.nano_cpus != old.nano_cpus:
        _write(cpu, "cpu.cfs_period_us", str(CPU_PERIOD))
        _write(cpu, "cpu.cfs_quota_us", str(new.nano_cpus * CPU_PERIOD // 1_000_000_000) if new.nano_cpus else "-1")
    if cpu and new.cpu_shares != old.cpu_shares:
        _write(cpu, "cpu.shares", str(new.cpu_shares or 1024))
    if pids and new.pids_limit != old.pids_limit:
        _write(pids, "pids.max", str(new.pids_limit) if new.pids_limit > 0 else "max")
    _apply_v1_resources(cgroup, root, old, new)


def _apply_v1_resources(cgroup: str, root: str, old: HostConfig, new: HostConfig) -> None:
    """The cgroup v1 files of the fields _merge_resources owns (runc's fs drivers; empty/0 restore defaults)."""
    mem, cpu = v1_dir("memory", cgroup, root), v1_dir("cpu", cgroup, root)
    cpuset, blkio = v1_dir("cpuset", cgroup, root), v1_dir("blkio", cgroup, root)
    if mem and new.memory_reservation != old.memory_reservation:
        _write(mem, "memory.soft_limit_in_bytes", str(new.memory_reservation or -1))
    if cpuset and new.cpuset_cpus and new.cpuset_cpus != old.cpuset_cpus:
        _write(cpuset, "cpuset.cpus", new.cpuset_cpus)
    if cpuset and new.cpuset_mems and new.cpuset_mems != old.cpuset_mems:
        _write(cpuset, "cpuset.mems", new.cpuset_mems)
    if cpu and new.cpu_period and new.cpu_period != old.cpu_period:
        _write(cpu, "cpu.cfs_period_us", str(new.cpu_period))
    if cpu and new.cpu_quota != old.cpu_quota:
        _write(cpu, "cpu.cfs_quota_us", str(new.cpu_quota or -1))
    if blkio and new.blkio_weight and new.blkio_weight != old.blkio_weight:
        _write(blkio, "blkio.weight", str(new.blkio_weight))


def _read_int(path: str) -> int:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def _apply_v2(directory: str, old: HostConfig, new: HostConfig) -> None:
    if (new.memory, new.memory_swap) != (old.memory, old.memory_swap):
        _write(directory, "memory.max", str(new.memory) if new.memory else "max")
        swap = new.memory_swap or (new.memory * 2 if new.memory else -1)
        if os.path.exists(os.path.join(directory, "memory.swap.max")):
            _write(directory, "memory.swap.max", "max" if swap < 0 else str(max(swap - new.memory, 0)))
    if new.nano_cpus != old.nano_cpus:
        quota = str(new.nano_cpus * CPU_PERIOD // 1_000_000_000) if new.nano_cpus else "max"
        _write(directory, "cpu.max", f"{quota} {CPU_PERIOD}")
    if new.cpu_shares != old.cpu_shares:
        shares = new.cpu_shares or 1024
        _write(directory, "cpu.weight", str(1 + ((shares - 2) * 9999) // 262142))
    if new.pids_limit != old.pids_limit:
        _write(directory, "pids.max", str(new.pids_limit) if new.pids_limit > 0 else "max")


def rename(containers: Containers, ref: str, new_name: str) -> ContainerRecord:
    """`docker rename`: a new unique name; the record changes under the names lock so two renames cannot race."""
    from dockyard.engine.names import validate_name

    if not ref or not new_name:
        raise InvalidArgument("Neither old nor new names may be empty")
    record = containers.get(ref)
    name = validate_name(new_name.removeprefix("/"))
    old = record.name
    if name == old:
        raise InvalidArgument("Renaming a container with the same name as its current name")
    with containers._names_lock():
        owner = containers.records.name_in_use(name)
        if owner is not None:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container "{owner}". '
                "You have to remove (or rename) that container to be able to reuse that name."
            )
        updated = containers.records.update(record.id, lambda r: replace(r, name=name))
    events.emit_container(containers.paths, updated, "rename", oldName=f"/{old}")
    return updated
