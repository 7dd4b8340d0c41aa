"""The cgroup v1 manager: one directory per mounted controller hierarchy; does not detect layouts or parse specs.

Controllers are pure functions of (resources, directory) writing through `files`. Kernel memory
(`memory.kernel`) is ignored: kernels since 5.16 refuse memory.kmem.limit_in_bytes and runc 1.1 ignores it too.
As in runc, 0 means "unset" for memory, cpu shares/quota/period and the pids limit. An empty devices list leaves
the devices cgroup as inherited (runc would deny everything). Applying device rules starts from "deny all",
so a running container briefly sees every device denied while rules are re-applied (runc computes the
minimal transition instead).
"""

from __future__ import annotations

import errno
import os

from dockyard.errors import DockyardError, InvalidArgument, SyscallError, Unsupported
from dockyard.oci.runtime_spec import BlockIO, Cpu, DeviceRule, Memory, Resources
from dockyard.runtime.cgroups import files
from dockyard.runtime.cgroups.base import CgroupStats, signal_each, signal_frozen

CONTROLLERS = (
    "cpuset", "cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer", "hugetlb", "net_cls",
    "net_prio", "perf_event", "rdma", "misc",
)  # fmt: skip

FREEZE_TIMEOUT = 5.0
UNLIMITED_FLOOR = 1 << 62  # v1 reports "no limit" as PAGE_COUNTER_MAX pages, i.e. just under 2**63


# Hierarchies without a controller that a container still joins, as runc does: systemd's named hierarchy and,
# on a hybrid host, the cgroup2 mount. Joining them keeps /proc/<pid>/cgroup pointing at the container.
NAMED_HIERARCHIES = {"systemd": "name=systemd", "unified": "unified"}


def find_hierarchies(root: str) -> dict[str, str]:
    """controller → its hierarchy's directory under `root` (co-mounted "cpu,cpuacct" and symlinks resolved)."""
    found: dict[str, str] = {}
    # why: realpath costs an lstat per path component; a directory entry's own type (d_type) says whether it needs
    # one (start and delete look the hierarchies up on every call)
    base = os.path.realpath(root)
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if not entry.is_dir():
            continue
        full = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(base, entry.name)
        if entry.name in NAMED_HIERARCHIES:
            found.setdefault(NAMED_HIERARCHIES[entry.name], full)
        for name in entry.name.split(","):
            if name in CONTROLLERS:
                found.setdefault(name, full)
    return found


class V1Manager:
    """CgroupManager for cgroup v1 (see base.CgroupManager for the contract)."""

    version = 1
    enforces_devices = True

    def __init__(self, path: str, hierarchies: dict[str, str]) -> None:
        self.path = path
        self._mounts = dict(hierarchies)
        self._dirs = {c: os.path.join(m, path.lstrip("/")) for c, m in hierarchies.items()}

    def _need(self, controller: str, what: str) -> str:
        directory = self._dirs.get(controller)
        if directory is None:
            raise Unsupported(f"cgroup {what}: the v1 controller `{controller}` is not mounted")
        return directory

    def _unique_dirs(self) -> list[str]:
        return sorted(set(self._dirs.values()))

    def _primary(self) -> str | None:
        for controller in ("freezer", "pids", "memory", *sorted(self._dirs)):
            if controller in self._dirs:
                return self._dirs[controller]
        return None

    def create(self) -> None:
        for directory in self._unique_dirs():
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as err:
                raise SyscallError("mkdir", directory, err.errno or 0) from err
        if "cpuset" in self._mounts:
            _init_cpuset(self._mounts["cpuset"], self.path)

    def add_process(self, pid: int) -> None:
        for directory in self._unique_dirs():
            files.write(directory, "cgroup.procs", str(pid))

    def membership(self, proc_cgroup: str) -> str:
        lines = []
        for line in proc_cgroup.splitlines():
            hierarchy, _, rest = line.partition(":")
            controllers, _, _path = rest.partition(":")
            names = ["unified"] if hierarchy == "0" else controllers.split(",")
            if any(name in self._dirs for name in names):
                line = f"{hierarchy}:{controllers}:{self.path}"
            lines.append(line)
        return "\n".join(lines) + "\n"

    def apply(self, resources: Resources | None) -> None:
        if resources is None:
            return
        if resources.unified:
            raise Unsupported("cgroup `unified`: needs cgroup v2, this host uses cgroup v1")
        cpu = resources.cpu
        if cpu is not None and (cpu.cpus or cpu.mems):
            apply_cpuset(cpu, self._need("cpuset", "cpuset"))
        if cpu is not None and _has_cpu_fields(cpu):
            apply_cpu(cpu, self._need("cpu", "cpu"))
        if resources.memory is not None:
            apply_memory(resources.memory, self._need("memory", "memory"))
        if resources.pids is not None and resources.pids.limit != 0:
            limit = resources.pids.limit
            files.write(self._need("pids", "pids"), "pids.max", "max" if limit < 0 else str(limit))
        if resources.block_io is not None:
            apply_blkio(resources.block_io, self._need("blkio", "blockIO"))
        for hp in resources.hugepage_limits:
            directory = self._need("hugetlb", "hugepageLimits")
            name = f"hugetlb.{hp.page_size}.limit_in_bytes"
            if not files.exists(directory, name):
                raise InvalidArgument(f"cgroup `{name}`: hugepage size `{hp.page_size}` is not supported")
            files.write(directory, name, str(hp.limit))
        if resources.devices:
            directory = self._need("devices", "devices")
            for name, line in device_writes(resources.devices):
                files.write(directory, name, line)

    def freeze(self) -> None:
        directory = self._need("freezer", "freeze")

        def settled() -> bool:
            # why: a cgroup can stick in FREEZING while a task is in an uninterruptible sleep; writing FROZEN
            # again retries the freeze (runc's freezer loop does the same)
            files.write(directory, "freezer.state", "FROZEN")
            return files.read(directory, "freezer.state") == "FROZEN"

        try:
            files.wait_for("freeze cgroup", self.path, settled, FREEZE_TIMEOUT)
        except DockyardError:
            files.write(directory, "freezer.state", "THAWED")
            raise

    def thaw(self) -> None:
        directory = self._need("freezer", "thaw")
        files.write(directory, "freezer.state", "THAWED")

        def thawed() -> bool:
            return files.read(directory, "freezer.state") == "THAWED"

        files.wait_for("thaw cgroup", self.path, thawed, FREEZE_TIMEOUT)

    def frozen(self) -> bool:
        directory = self._dirs.get("freezer")
        return directory is not None and files.read_optional(directory, "freezer.state") == "FROZEN"

    def pids(self) -> list[int]:
        primary = self._primary()
        return files.procs(primary) if primary else []

    def exists(self) -> bool:
        primary = self._primary()
        return primary is not None and os.path.isdir(primary)

    def kill_all(self, sig: int) -> None:
        if not self.exists():
            return
        if "freezer" in self._dirs:
            signal_frozen(self, sig)
        else:
            signal_each(self.pids(), sig)

    def destroy(self) -> None:
        for directory in self._unique_dirs():
            files.remove_tree(directory)

    def stats(self) -> CgroupStats:
        mem, acct, cpu = self._dirs.get("memory"), self._dirs.get("cpuacct"), self._dirs.get("cpu")
        pids, blkio = self._dirs.get("pids"), self._dirs.get("blkio")
        throttling = files.read_keyed(cpu, "cpu.stat") if cpu else {}
        percpu = files.read_optional(acct, "cpuacct.usage_percpu") if acct else None
        limit = files.read_int(mem, "memory.limit_in_bytes") if mem else None
        io = _blkio_totals(blkio) if blkio else None
        return CgroupStats(
            memory_usage=files.read_int(mem, "memory.usage_in_bytes") if mem else None,
            memory_limit=None if limit is None or limit >= UNLIMITED_FLOOR else limit,
            memory_max_usage=files.read_int(mem, "memory.max_usage_in_bytes") if mem else None,
            memory_cache=files.read_keyed(mem, "memory.stat").get("cache") if mem else None,
            cpu_usage_ns=files.read_int(acct, "cpuacct.usage") if acct else None,
            cpu_per_cpu_ns=tuple(int(v) for v in percpu.split()) if percpu is not None else None,
            cpu_periods=throttling.get("nr_periods"),
            cpu_throttled_periods=throttling.get("nr_throttled"),
            cpu_throttled_ns=throttling.get("throttled_time"),
            pids_current=files.read_int(pids, "pids.current") if pids else None,
            pids_limit=files.read_int(pids, "pids.max") if pids else None,
            blkio_read_bytes=io[0] if io else None,
            blkio_write_bytes=io[1] if io else None,
            blkio_read_ops=io[2] if io else None,
            blkio_write_ops=io[3] if io else None,
        )


def _init_cpuset(mount: str, path: str) -> None:
    """Copy cpuset.cpus and cpuset.mems down from each parent where they are still empty.

    why: a new v1 cpuset cgroup starts with both empty, and the kernel refuses to move a task into it
    (ENOSPC) until they are set; runc's cpuset ensureParent walks the tree the same way.
    """
    current = mount
    for part in [p for p in path.split("/") if p]:
        child = os.path.join(current, part)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if files.read(child, name) == "":
                files.write(child, name, files.read(current, name))
        current = child


def _has_cpu_fields(cpu: Cpu) -> bool:
    values = (cpu.shares, cpu.quota, cpu.period, cpu.burst, cpu.realtime_runtime, cpu.realtime_period, cpu.idle)
    return any(v is not None for v in values)


def apply_cpuset(cpu: Cpu, directory: str) -> None:
    if cpu.cpus:
        files.write(directory, "cpuset.cpus", cpu.cpus)
    if cpu.mems:
        files.write(directory, "cpuset.mems", cpu.mems)


def apply_cpu(cpu: Cpu, directory: str) -> None:
    # why: the realtime period must be in place before the runtime that fits in it (runc's SetRtSched order)
    if cpu.realtime_period is not None:
        files.write(directory, "cpu.rt_period_us", str(cpu.realtime_period))
    if cpu.realtime_runtime is not None:
        files.write(directory, "cpu.rt_runtime_us", str(cpu.realtime_runtime))
    if cpu.shares:
        files.write(directory, "cpu.shares", str(cpu.shares))
        actual = files.read(directory, "cpu.shares")
        if actual != str(cpu.shares):  # the kernel clamps to 2..262144 silently; runc reports it
            raise InvalidArgument(f"cgroup `cpu.shares` = `{cpu.shares}`: out of range, the kernel used {actual}")
    _apply_cfs(cpu, directory)
    if cpu.burst is not None:
        files.write(directory, "cpu.cfs_burst_us", str(cpu.burst))
    if cpu.idle is not None:
        files.write(directory, "cpu.idle", str(cpu.idle))


def _apply_cfs(cpu: Cpu, directory: str) -> None:
    period_pending = False
    if cpu.period:
        try:
            files.write(directory, "cpu.cfs_period_us", str(cpu.period))
        except files.CgroupValueError as err:
            # why: a shorter period can be refused (EINVAL) while the old quota/new period ratio exceeds the
            # parent's; runc retries the period after writing the quota
            if err.errno != errno.EINVAL or not cpu.quota:
                raise
            period_pending = True
    if cpu.quota:
        files.write(directory, "cpu.cfs_quota_us", str(cpu.quota))
        if period_pending:
            files.write(directory, "cpu.cfs_period_us", str(cpu.period))


def apply_memory(memory: Memory, directory: str) -> None:
    limit, swap = memory.limit or None, memory.swap or None
    memsw = "memory.memsw.limit_in_bytes"
    has_memsw = files.exists(directory, memsw)
    if limit == -1 and swap is None and has_memsw:
        swap = -1  # runc: "unlimited memory" also lifts the memory+swap limit unless swap is given
    if swap is not None and not has_memsw:
        if swap != -1:
            raise Unsupported(f"cgroup `{memsw}`: swap accounting is not enabled in this kernel")
        swap = None
    if limit is not None and swap is not None:
        # why: the kernel keeps memory.limit <= memsw.limit at every write; raise memsw first when growing,
        # shrink the limit first otherwise (runc's setMemoryAndSwap order)
        current = int(files.read(directory, "memory.limit_in_bytes"))
        if swap == -1 or current < swap:
            files.write(directory, memsw, str(swap))
            _write_limit(directory, limit)
        else:
            _write_limit(directory, limit)
            files.write(directory, memsw, str(swap))
    elif limit is not None:
        _write_limit(directory, limit)
    elif swap is not None:
        files.write(directory, memsw, str(swap))
    if memory.reservation:
        files.write(directory, "memory.soft_limit_in_bytes", str(memory.reservation))
    if memory.kernel_tcp is not None:
        files.write(directory, "memory.kmem.tcp.limit_in_bytes", str(memory.kernel_tcp))
    if memory.swappiness is not None:
        files.write(directory, "memory.swappiness", str(memory.swappiness))
    if memory.disable_oom_killer is not None:
        files.write(directory, "memory.oom_control", "1" if memory.disable_oom_killer else "0")


def _write_limit(directory: str, limit: int) -> None:
    try:
        files.write(directory, "memory.limit_in_bytes", str(limit))
    except files.CgroupValueError as err:
        if err.errno != errno.EBUSY:
            raise
        # EBUSY: the kernel could not reclaim down to the new limit; say how much is in use, as runc does
        usage = files.read_optional(directory, "memory.usage_in_bytes")
        detail = f" (current usage {usage} bytes)" if usage else ""
        raise files.CgroupValueError(err.name, err.value, err.errno, detail) from err


def apply_blkio(bio: BlockIO, directory: str) -> None:
    # why: with the bfq scheduler (cfq is gone since 5.0) the weights live in blkio.bfq.*; runc 1.1 picks bfq too
    prefix = "blkio." if files.exists(directory, "blkio.weight") else "blkio.bfq."
    if bio.weight:
        if not files.exists(directory, prefix + "weight"):
            raise Unsupported("cgroup `blkio.weight`: no io scheduler with weights (cfq or bfq) is available")
        files.write(directory, prefix + "weight", str(bio.weight))
    if bio.leaf_weight:
        files.write(directory, "blkio.leaf_weight", str(bio.leaf_weight))
    for dev in bio.weight_device:
        if dev.weight is not None:
            files.write(directory, prefix + "weight_device", f"{dev.major}:{dev.minor} {dev.weight}")
        if dev.leaf_weight is not None:
            files.write(directory, "blkio.leaf_weight_device", f"{dev.major}:{dev.minor} {dev.leaf_weight}")
    throttles = (
        ("read_bps_device", bio.throttle_read_bps_device),
        ("write_bps_device", bio.throttle_write_bps_device),
        ("read_iops_device", bio.throttle_read_iops_device),
        ("write_iops_device", bio.throttle_write_iops_device),
    )
    for name, devices in throttles:
        for t in devices:
            files.write(directory, f"blkio.throttle.{name}", f"{t.major}:{t.minor} {t.rate}")


def device_writes(rules: tuple[DeviceRule, ...]) -> list[tuple[str, str]]:
    """The (file, line) writes that make a v1 devices cgroup follow `rules`, later rules overriding earlier.

    Starts with "deny all" (a whitelist with no entries); each rule then goes to devices.allow or
    devices.deny in order, which the kernel applies as add/remove of whitelist (or blacklist) entries.
    """
    writes = [("devices.deny", "a")]
    for rule in rules:
        name = "devices.allow" if rule.allow else "devices.deny"
        kind, access = rule.type or "a", rule.access or "rwm"
        major = "*" if rule.major is None or rule.major < 0 else str(rule.major)
        minor = "*" if rule.minor is None or rule.minor < 0 else str(rule.minor)
        if kind == "a" and major == minor == "*" and set(access) == set("rwm"):
            writes.append((name, "a"))
        elif kind == "a":
            # why: the kernel reads a line starting with "a" as "every device, every access" and ignores the
            # rest; a narrower "all types" rule must be spelled once for char and once for block devices
            writes.append((name, f"c {major}:{minor} {access}"))
            writes.append((name, f"b {major}:{minor} {access}"))
        else:
            writes.append((name, f"{kind} {major}:{minor} {access}"))
    return writes


def _blkio_totals(directory: str) -> tuple[int, int, int, int] | None:
    """(read bytes, write bytes, read ops, write ops) from the first blkio stats file with data."""
    seen = False
    for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
        byte_text = files.read_optional(directory, prefix + "io_service_bytes_recursive")
        ops_text = files.read_optional(directory, prefix + "io_serviced_recursive")
        seen = seen or byte_text is not None
        rb, wb = _sum_rw(byte_text or "")
        ro, wo = _sum_rw(ops_text or "")
        if rb or wb or ro or wo:
            return rb, wb, ro, wo
    return (0, 0, 0, 0) if seen else None


def _sum_rw(text: str) -> tuple[int, int]:
    """Sum the "MAJ:MIN Read N" / "MAJ:MIN Write N" lines of a blkio stats file."""
    read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            if parts[1] == "Read":
                read += int(parts[2])
            elif parts[1] == "Write":
                write += int(parts[2])
    return read, write
