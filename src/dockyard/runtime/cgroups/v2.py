"""The cgroup v2 (unified) manager and runc's v1 → v2 value conversions; does not detect layouts.

Device rules on v2 are an eBPF program attached to the cgroup (runtime/devicefilter.py builds and attaches it,
as runc does). Ignored on v2, as runc 1.1 does: memory.swappiness, disableOOMKiller, kernel memory.
"""

from __future__ import annotations

import os

from dockyard.errors import DockyardError, InvalidArgument, SyscallError, Unsupported
from dockyard.oci.runtime_spec import BlockIO, Cpu, Memory, Resources
from dockyard.runtime.cgroups import files
from dockyard.runtime.cgroups.base import CgroupStats, signal_frozen

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    import signal
else:
    import _signal as signal  # why: signal.py wraps these in IntEnums; enum costs ~3 ms of each runtime start

FREEZE_TIMEOUT = 5.0


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) → cpu.weight (1..10000), runc's ConvertCPUSharesToCgroupV2Value; 0 stays 0."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) → io.weight (1..10000), runc's ConvertBlkIOToIOWeightValue; 0 stays 0."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def swap_max(swap: int | None, limit: int | None) -> str | None:
    """The memory.swap.max value for OCI's memory+swap `swap`: swap minus limit (runc's conversion).

    None: leave the file alone. 0 means unset for both inputs, as in runc.
    """
    swap, limit = swap or 0, limit or 0
    if swap == -1 or (limit == -1 and swap == 0):
        return "max"
    if swap == 0:
        return None
    if limit in (0, -1):
        raise InvalidArgument(f"cgroup `memory.swap.max`: a memory+swap limit ({swap}) needs a memory limit")
    if swap < limit:
        raise InvalidArgument(f"cgroup `memory.swap.max`: memory+swap limit {swap} is below the memory limit {limit}")
    return str(swap - limit)


def _num(value: int | None) -> str | None:
    """runc's numToStr: None/0 → unset, negative → "max"."""
    if not value:
        return None
    return "max" if value < 0 else str(value)


def check_unified_key(key: str) -> None:
    if not key or "/" in key or key in (".", ".."):
        raise InvalidArgument(f"cgroup unified key `{key}`: must be a file name without `/`")


class V2Manager:
    """CgroupManager for the unified hierarchy (see base.CgroupManager for the contract)."""

    version = 2
    enforces_devices = True

    def __init__(self, path: str, root: str) -> None:
        self.path = path
        self._root = root
        self._dir = os.path.join(root, path.lstrip("/"))

    def create(self) -> None:
        try:
            os.makedirs(self._dir, exist_ok=True)
        except OSError as err:
            raise SyscallError("mkdir", self._dir, err.errno or 0) from err
        current = self._root
        for part in [p for p in self.path.split("/") if p]:
            _enable_controllers(current)
            current = os.path.join(current, part)

    def add_process(self, pid: int) -> None:
        files.write(self._dir, "cgroup.procs", str(pid))

    def membership(self, proc_cgroup: str) -> str:
        lines = [f"0::{self.path}" if line.startswith("0::") else line for line in proc_cgroup.splitlines()]
        return "\n".join(lines) + "\n"

    def _controllers(self) -> set[str]:
        return set((files.read_optional(self._dir, "cgroup.controllers") or "").split())

    def _need(self, controller: str, available: set[str]) -> str:
        if controller not in available:
            raise Unsupported(f"cgroup `{self.path}`: the v2 controller `{controller}` is not enabled")
        return self._dir

    def apply(self, resources: Resources | None) -> None:
        if resources is None:
            return
        unified = resources.unified or {}
        for key in unified:
            check_unified_key(key)
        have = self._controllers()
        if resources.devices:
            from dockyard.runtime import devicefilter  # lazy: ctypes and struct only when there are rules

            devicefilter.attach(self._dir, resources.devices)
        cpu = resources.cpu
        if cpu is not None and (cpu.realtime_period or cpu.realtime_runtime):
            raise Unsupported("cgroup `cpu.rt_runtime_us`: realtime cpu limits need cgroup v1")
        if cpu is not None and (cpu.cpus or cpu.mems):
            d = self._need("cpuset", have)
            if cpu.cpus:
                files.write(d, "cpuset.cpus", cpu.cpus)
            if cpu.mems:
                files.write(d, "cpuset.mems", cpu.mems)
        if cpu is not None and any(v is not None for v in (cpu.shares, cpu.quota, cpu.period, cpu.burst, cpu.idle)):
            apply_cpu(cpu, self._need("cpu", have))
        if resources.memory is not None:
            apply_memory(resources.memory, self._need("memory", have))
        if resources.pids is not None and resources.pids.limit != 0:
            files.write(self._need("pids", have), "pids.max", _num(resources.pids.limit) or "max")
        if resources.block_io is not None:
            apply_io(resources.block_io, self._need("io", have))
        for hp in resources.hugepage_limits:
            name = f"hugetlb.{hp.page_size}.max"
            if not files.exists(self._need("hugetlb", have), name):
                raise InvalidArgument(f"cgroup `{name}`: hugepage size `{hp.page_size}` is not supported")
            files.write(self._dir, name, str(hp.limit))
        for key, value in unified.items():  # last, so they override the typed fields (as runc)
            prefix = key.split(".", 1)[0]
            if prefix != "cgroup" and prefix not in have:
                raise Unsupported(f"cgroup unified key `{key}`: the v2 controller `{prefix}` is not enabled")
            if not files.exists(self._dir, key):
                raise InvalidArgument(f"cgroup unified key `{key}`: no such cgroup file")
            files.write(self._dir, key, value)

    def _frozen_event(self) -> bool:
        return files.read_keyed(self._dir, "cgroup.events").get("frozen") == 1

    def freeze(self) -> None:
        files.write(self._dir, "cgroup.freeze", "1")
        try:
            files.wait_for("freeze cgroup", self.path, self._frozen_event, FREEZE_TIMEOUT)
        except DockyardError:
            files.write(self._dir, "cgroup.freeze", "0")
            raise

    def thaw(self) -> None:
        files.write(self._dir, "cgroup.freeze", "0")
        files.wait_for("thaw cgroup", self.path, lambda: not self._frozen_event(), FREEZE_TIMEOUT)

    def frozen(self) -> bool:
        return files.read_optional(self._dir, "cgroup.freeze") == "1" and self._frozen_event()

    def pids(self) -> list[int]:
        return files.procs(self._dir)

    def exists(self) -> bool:
        return os.path.isdir(self._dir)

    def kill_all(self, sig: int) -> None:
        if not self.exists():
            return
        if sig == signal.SIGKILL and files.exists(self._dir, "cgroup.kill"):
            files.write(self._dir, "cgroup.kill", "1")  # kernel ≥ 5.14: kills the whole subtree atomically
            return
        signal_frozen(self, sig)

    def destroy(self) -> None:
        files.remove_tree(self._dir)

    def stats(self) -> CgroupStats:
        d = self._dir
        cpu = files.read_keyed(d, "cpu.stat")
        io = _io_totals(files.read_optional(d, "io.stat"))

        def ns(key: str) -> int | None:
            return cpu[key] * 1000 if key in cpu else None

        return CgroupStats(
            memory_usage=files.read_int(d, "memory.current"),
            memory_limit=files.read_int(d, "memory.max"),
            memory_max_usage=files.read_int(d, "memory.peak"),
            memory_cache=files.read_keyed(d, "memory.stat").get("file"),
            cpu_usage_ns=ns("usage_usec"),
            cpu_periods=cpu.get("nr_periods"),
            cpu_throttled_periods=cpu.get("nr_throttled"),
            cpu_throttled_ns=ns("throttled_usec"),
            pids_current=files.read_int(d, "pids.current"),
            pids_limit=files.read_int(d, "pids.max"),
            blkio_read_bytes=io.get("rbytes") if io is not None else None,
            blkio_write_bytes=io.get("wbytes") if io is not None else None,
            blkio_read_ops=io.get("rios") if io is not None else None,
            blkio_write_ops=io.get("wios") if io is not None else None,
        )


def _enable_controllers(directory: str) -> None:
    """Enable in `directory`'s cgroup.subtree_control every controller it has that is not enabled yet.

    why: a v2 child only gets the controllers its parent delegates. Writing them all at once fails as a whole
    if one is refused (e.g. EBUSY under the no-internal-processes rule), so fall back to one at a time and
    skip those refused, as runc does; `apply` then reports a controller that a limit needs but is missing.
    """
    available = (files.read_optional(directory, "cgroup.controllers") or "").split()
    enabled = set((files.read_optional(directory, "cgroup.subtree_control") or "").split())
    missing = [c for c in available if c not in enabled]
    if not missing:
        return
    try:
        files.write(directory, "cgroup.subtree_control", " ".join("+" + c for c in missing))
    except DockyardError:
        for controller in missing:
            try:
                files.write(directory, "cgroup.subtree_control", "+" + controller)
            except DockyardError:
                pass


def apply_cpu(cpu: Cpu, directory: str) -> None:
    if cpu.shares:
        files.write(directory, "cpu.weight", str(shares_to_weight(cpu.shares)))
    if cpu.quota or cpu.period:
        value = str(cpu.quota) if cpu.quota and cpu.quota > 0 else "max"
        if cpu.period:
            value += f" {cpu.period}"  # no period: the kernel keeps the current one (runc writes quota alone)
        files.write(directory, "cpu.max", value)
    if cpu.burst is not None:
        files.write(directory, "cpu.max.burst", str(cpu.burst))
    if cpu.idle is not None:
        files.write(directory, "cpu.idle", str(cpu.idle))


def apply_memory(memory: Memory, directory: str) -> None:
    swap = swap_max(memory.swap, memory.limit)
    if swap is not None:
        if files.exists(directory, "memory.swap.max"):
            files.write(directory, "memory.swap.max", swap)
        elif swap not in ("max", "0"):  # no swap accounting: "unlimited" or "none" need no file (runc)
            raise Unsupported("cgroup `memory.swap.max`: swap accounting is not enabled in this kernel")
    limit = _num(memory.limit)
    if limit is not None:
        files.write(directory, "memory.max", limit)
    reservation = _num(memory.reservation)
    if reservation is not None:
        files.write(directory, "memory.low", reservation)


def apply_io(bio: BlockIO, directory: str) -> None:
    # why: io.bfq.weight takes blkio's 10..1000 scale unchanged; io.weight needs runc's conversion
    bfq = files.exists(directory, "io.bfq.weight")
    if bio.weight:
        if bfq:
            files.write(directory, "io.bfq.weight", str(bio.weight))
        else:
            files.write(directory, "io.weight", str(blkio_to_io_weight(bio.weight)))
    for dev in bio.weight_device:
        if dev.weight is not None:
            name, weight = ("io.bfq.weight", dev.weight) if bfq else ("io.weight", blkio_to_io_weight(dev.weight))
            files.write(directory, name, f"{dev.major}:{dev.minor} {weight}")
    throttles = (
        ("rbps", bio.throttle_read_bps_device),
        ("wbps", bio.throttle_write_bps_device),
        ("riops", bio.throttle_read_iops_device),
        ("wiops", bio.throttle_write_iops_device),
    )
    for key, devices in throttles:
        for t in devices:
            rate = str(t.rate) if t.rate > 0 else "max"  # v1's "0 removes the limit" is v2's "max"
            files.write(directory, "io.max", f"{t.major}:{t.minor} {key}={rate}")


def _io_totals(text: str | None) -> dict[str, int] | None:
    """Sum io.stat's "MAJ:MIN rbytes=N wbytes=N rios=N wios=N …" lines over devices; None when absent."""
    if text is None:
        return None
    totals = {"rbytes": 0, "wbytes": 0, "rios": 0, "wios": 0}
    for line in text.splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if key in totals and value.isdigit():
                totals[key] += int(value)
    return totals
