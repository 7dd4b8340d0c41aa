"""The CgroupManager contract, the CgroupStats snapshot and helpers shared by v1 and v2; no cgroupfs I/O here."""

from __future__ import annotations

import os

from dockyard.oci.model import Model
from dockyard.oci.runtime_spec import Resources

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    import signal
    from typing import Protocol
else:
    import _signal as signal  # why: signal.py wraps these in IntEnums; enum costs ~3 ms of each runtime start

    Protocol = object  # why: at run time the contract is documentation; mypy checks it as a typing.Protocol


class CgroupStats(Model):
    """One reading of a cgroup's counters. None: the controller or file is absent, or the limit is unlimited.

    Units: bytes, nanoseconds, counts. `memory_cache` is v1's memory.stat `cache` or v2's `file`.
    `cpu_per_cpu_ns` exists on v1 only (cpuacct.usage_percpu).
    """

    memory_usage: int | None = None
    memory_limit: int | None = None
    memory_max_usage: int | None = None
    memory_cache: int | None = None
    cpu_usage_ns: int | None = None
    cpu_per_cpu_ns: tuple[int, ...] | None = None
    cpu_periods: int | None = None
    cpu_throttled_periods: int | None = None
    cpu_throttled_ns: int | None = None
    pids_current: int | None = None
    pids_limit: int | None = None
    blkio_read_bytes: int | None = None
    blkio_write_bytes: int | None = None
    blkio_read_ops: int | None = None
    blkio_write_ops: int | None = None


class CgroupManager(Protocol):
    """One container's cgroup, in every hierarchy it uses (v1) or in the unified hierarchy (v2).

    Construction touches nothing; two managers built from the same arguments (in different processes) address
    the same cgroup. Intended order: `create()`, `apply(resources)`, then `add_process(pid)` for the init
    (applying first matters for v1 cpu realtime and is harmless elsewhere).

    - `path`: the cgroup path relative to the hierarchy root, e.g. "/dockyard/abc".
    - `version`: 1 or 2.
    - `enforces_devices`: whether `apply` enforces `resources.devices` (v1: devices.allow/deny; v2: eBPF).
    - `create()`: mkdir -p in every hierarchy used; idempotent. v1 copies cpuset.cpus/mems down from the
      parents; v2 enables controllers in the parents' cgroup.subtree_control.
    - `add_process(pid)`: move a process (all its threads) into the cgroup.
    - `membership(proc_cgroup)`: what /proc/self/cgroup will say once `add_process` has moved the reader here,
      given what it says now ("id:controllers:path" lines; hierarchies the manager does not use are unchanged).
    - `apply(resources)`: write the limits; None writes nothing. A value the kernel refuses raises
      CgroupValueError (an InvalidArgument) naming the file and the value; a limit whose controller is absent
      raises Unsupported. Fields left None are not touched.
    - `freeze()`, `thaw()`: block until the kernel reports the state settled (Unavailable on timeout);
      `frozen()`: whether it is frozen now (False when the cgroup is gone).
    - `pids()`: the processes in the cgroup ([] when it does not exist); `exists()`.
    - `stats()`: a CgroupStats reading.
    - `kill_all(sig)`: signal every process, freezing first so that none forks past the signal; a cgroup that
      was frozen stays frozen unless the signal is SIGKILL.
    - `destroy()`: remove the cgroup (and child cgroups) everywhere, retrying EBUSY briefly while tasks exit;
      a cgroup already gone is fine. Processes still inside make it fail with a SyscallError (EBUSY).
    """

    path: str
    version: int
    enforces_devices: bool

    def create(self) -> None: ...

    def add_process(self, pid: int) -> None: ...

    def membership(self, proc_cgroup: str) -> str: ...

    def apply(self, resources: Resources | None) -> None: ...

    def freeze(self) -> None: ...

    def thaw(self) -> None: ...

    def frozen(self) -> bool: ...

    def pids(self) -> list[int]: ...

    def exists(self) -> bool: ...

    def stats(self) -> CgroupStats: ...

    def kill_all(self, sig: int) -> None: ...

    def destroy(self) -> None: ...


def signal_frozen(manager: CgroupManager, sig: int) -> None:
    """Freeze, signal every pid, thaw (unless it was frozen before and `sig` is not SIGKILL).

    why: a process forking while we walk cgroup.procs could escape the signal; runc's signalAllProcesses
    freezes for the same reason. A frozen task acts on SIGKILL only once thawed on v1, hence the thaw.
    """
    was_frozen = manager.frozen()
    manager.freeze()
    try:
        signal_each(manager.pids(), sig)
    finally:
        if not was_frozen or sig == signal.SIGKILL:
            manager.thaw()


def signal_each(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass  # exited meanwhile


def normalize_path(path: str) -> str:
    """'/a//b/' → '/a/b'; always absolute."""
    parts = [p for p in path.split("/") if p and p != "."]
    return "/" + "/".join(parts)
