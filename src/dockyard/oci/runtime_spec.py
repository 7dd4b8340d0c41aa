"""The OCI runtime-spec 1.1 config.json as frozen dataclasses, validated on load (`Spec.from_json`).

Field names are Python's; JSON names are in `field(json=…)`. Every invalid field raises SpecError naming its
JSON path (e.g. `linux.namespaces[2].type`). Pure data: no I/O except `load_bundle_config`.
"""

from __future__ import annotations

import os

from dockyard.errors import SpecError
from dockyard.oci.jsonmodel import decode, encode
from dockyard.oci.model import Model, field

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

# Every capability the kernel headers name, in number order (capability.h); index = capability number.
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip

RLIMITS = (
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
)  # fmt: skip

SECCOMP_ACTIONS = (
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
)  # fmt: skip
SECCOMP_OPERATORS = (
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)  # fmt: skip

ROOTFS_PROPAGATIONS = ("", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")


def _require_absolute(path: str, value: str) -> None:
    if not value.startswith("/"):
        raise SpecError(path, f"`{value}` is not an absolute path")


def _require_one_of(path: str, value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise SpecError(path, f"unknown {what} `{value}`")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Root(Model):
    path: str
    readonly: bool = False

    def _check(self, path: str) -> None:
        if not self.path:
            raise SpecError(_join(path, "path"), "must not be empty")


class IdMapping(Model):
    container_id: int = field(json="containerID")
    host_id: int = field(json="hostID")
    size: int

    def _check(self, path: str) -> None:
        if self.size <= 0 or self.container_id < 0 or self.host_id < 0:
            raise SpecError(path, "ids must be non-negative and size positive")


class Mount(Model):
    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()
    uid_mappings: tuple[IdMapping, ...] = field(json="uidMappings", default=())
    gid_mappings: tuple[IdMapping, ...] = field(json="gidMappings", default=())

    def _check(self, path: str) -> None:
        _require_absolute(_join(path, "destination"), self.destination)


class ConsoleSize(Model):
    height: int
    width: int


class User(Model):
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = field(json="additionalGids", default=())
    username: str | None = None

    def _check(self, path: str) -> None:
        if self.uid < 0 or self.gid < 0 or any(g < 0 for g in self.additional_gids):
            raise SpecError(path, "ids must be non-negative")


class Capabilities(Model):
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()

    def _check(self, path: str) -> None:
        for kind in ("bounding", "effective", "inheritable", "permitted", "ambient"):
            for i, name in enumerate(getattr(self, kind)):
                _require_one_of(f"{_join(path, kind)}[{i}]", name, CAPABILITIES, "capability")


class Rlimit(Model):
    type: str
    hard: int
    soft: int

    def _check(self, path: str) -> None:
        _require_one_of(_join(path, "type"), self.type, RLIMITS, "rlimit")
        if self.soft < 0 or self.hard < 0:
            raise SpecError(path, "limits must be non-negative")
        if self.soft > self.hard:
            raise SpecError(path, f"soft limit {self.soft} exceeds hard limit {self.hard}")


class Process(Model):
    cwd: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    terminal: bool = False
    console_size: ConsoleSize | None = field(json="consoleSize", default=None)
    user: User = field(default=User())
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = field(json="noNewPrivileges", default=False)
    apparmor_profile: str | None = field(json="apparmorProfile", default=None)
    oom_score_adj: int | None = field(json="oomScoreAdj", default=None)
    selinux_label: str | None = field(json="selinuxLabel", default=None)

    def _check(self, path: str) -> None:
        _require_absolute(_join(path, "cwd"), self.cwd)
        if self.oom_score_adj is not None and not -1000 <= self.oom_score_adj <= 1000:
            raise SpecError(_join(path, "oomScoreAdj"), f"{self.oom_score_adj} is outside -1000..1000")
        seen: set[str] = set()
        for i, rl in enumerate(self.rlimits):
            if rl.type in seen:
                raise SpecError(f"{_join(path, 'rlimits')}[{i}].type", f"duplicate rlimit `{rl.type}`")
            seen.add(rl.type)


class Hook(Model):
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None

    def _check(self, path: str) -> None:
        _require_absolute(_join(path, "path"), self.path)
        if self.timeout is not None and self.timeout <= 0:
            raise SpecError(_join(path, "timeout"), "must be positive")


class Hooks(Model):
    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = field(json="createRuntime", default=())
    create_container: tuple[Hook, ...] = field(json="createContainer", default=())
    start_container: tuple[Hook, ...] = field(json="startContainer", default=())
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


class Namespace(Model):
    type: str
    path: str | None = None

    def _check(self, path: str) -> None:
        _require_one_of(_join(path, "type"), self.type, NAMESPACE_TYPES, "namespace type")
        if self.path:
            _require_absolute(_join(path, "path"), self.path)


class Device(Model):
    path: str
    type: str
    major: int | None = None
    minor: int | None = None
    file_mode: int | None = field(json="fileMode", default=None)
    uid: int | None = None
    gid: int | None = None

    def _check(self, path: str) -> None:
        _require_absolute(_join(path, "path"), self.path)
        _require_one_of(_join(path, "type"), self.type, ("c", "b", "u", "p"), "device type")
        if self.type != "p" and (self.major is None or self.minor is None):
            raise SpecError(path, "major and minor are required for a character or block device")


class DeviceRule(Model):
    allow: bool
    type: str | None = None
    major: int | None = None
    minor: int | None = None
    access: str | None = None

    def _check(self, path: str) -> None:
        if self.type is not None:
            _require_one_of(_join(path, "type"), self.type, ("a", "c", "b"), "device rule type")
        if self.access is not None and (not self.access or set(self.access) - set("rwm")):
            raise SpecError(_join(path, "access"), f"`{self.access}` is not a combination of r, w and m")


class Memory(Model):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    kernel_tcp: int | None = field(json="kernelTCP", default=None)
    swappiness: int | None = None
    disable_oom_killer: bool | None = field(json="disableOOMKiller", default=None)
    use_hierarchy: bool | None = field(json="useHierarchy", default=None)

    def _check(self, path: str) -> None:
        if self.swappiness is not None and not 0 <= self.swappiness <= 100:
            raise SpecError(_join(path, "swappiness"), f"{self.swappiness} is outside 0..100")
        if self.limit is not None and self.swap is not None and self.swap != -1 and self.limit != -1:
            if self.swap < self.limit:
                raise SpecError(_join(path, "swap"), "memory+swap limit must not be below the memory limit")


class Cpu(Model):
    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = field(json="realtimeRuntime", default=None)
    realtime_period: int | None = field(json="realtimePeriod", default=None)
    cpus: str | None = None
    mems: str | None = None
    idle: int | None = None


class Pids(Model):
    limit: int


class WeightDevice(Model):
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = field(json="leafWeight", default=None)


class ThrottleDevice(Model):
    major: int
    minor: int
    rate: int


class BlockIO(Model):
    weight: int | None = None
    leaf_weight: int | None = field(json="leafWeight", default=None)
    weight_device: tuple[WeightDevice, ...] = field(json="weightDevice", default=())
    throttle_read_bps_device: tuple[ThrottleDevice, ...] = field(json="throttleReadBpsDevice", default=())
    throttle_write_bps_device: tuple[ThrottleDevice, ...] = field(json="throttleWriteBpsDevice", default=())
    throttle_read_iops_device: tuple[ThrottleDevice, ...] = field(json="throttleReadIOPSDevice", default=())
    throttle_write_iops_device: tuple[ThrottleDevice, ...] = field(json="throttleWriteIOPSDevice", default=())

    def _check(self, path: str) -> None:
        if self.weight is not None and self.weight != 0 and not 10 <= self.weight <= 1000:
            raise SpecError(_join(path, "weight"), f"{self.weight} is outside 10..1000")


class HugepageLimit(Model):
    page_size: str = field(json="pageSize")
    limit: int


class Resources(Model):
    devices: tuple[DeviceRule, ...] = ()
    memory: Memory | None = None
    cpu: Cpu | None = None
    pids: Pids | None = None
    block_io: BlockIO | None = field(json="blockIO", default=None)
    hugepage_limits: tuple[HugepageLimit, ...] = field(json="hugepageLimits", default=())
    unified: dict[str, str] | None = None


class SeccompArg(Model):
    index: int
    value: int
    op: str
    value_two: int = field(json="valueTwo", default=0)

    def _check(self, path: str) -> None:
        _require_one_of(_join(path, "op"), self.op, SECCOMP_OPERATORS, "seccomp operator")
        if not 0 <= self.index <= 5:
            raise SpecError(_join(path, "index"), f"{self.index} is outside 0..5")


class SyscallRule(Model):
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = field(json="errnoRet", default=None)
    args: tuple[SeccompArg, ...] = ()

    def _check(self, path: str) -> None:
        _require_one_of(_join(path, "action"), self.action, SECCOMP_ACTIONS, "seccomp action")


class Seccomp(Model):
    default_action: str = field(json="defaultAction")
    default_errno_ret: int | None = field(json="defaultErrnoRet", default=None)
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str | None = field(json="listenerPath", default=None)
    syscalls: tuple[SyscallRule, ...] = ()

    def _check(self, path: str) -> None:
        _require_one_of(_join(path, "defaultAction"), self.default_action, SECCOMP_ACTIONS, "seccomp action")


class Linux(Model):
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IdMapping, ...] = field(json="uidMappings", default=())
    gid_mappings: tuple[IdMapping, ...] = field(json="gidMappings", default=())
    devices: tuple[Device, ...] = ()
    cgroups_path: str | None = field(json="cgroupsPath", default=None)
    resources: Resources | None = None
    sysctl: dict[str, str] | None = None
    seccomp: Seccomp | None = None
    rootfs_propagation: str | None = field(json="rootfsPropagation", default=None)
    masked_paths: tuple[str, ...] = field(json="maskedPaths", default=())
    readonly_paths: tuple[str, ...] = field(json="readonlyPaths", default=())
    mount_label: str | None = field(json="mountLabel", default=None)

    def _check(self, path: str) -> None:
        seen: set[str] = set()
        for i, ns in enumerate(self.namespaces):
            if ns.type in seen:
                raise SpecError(f"{_join(path, 'namespaces')}[{i}].type", f"duplicate namespace `{ns.type}`")
            seen.add(ns.type)
        if (self.uid_mappings or self.gid_mappings) and "user" not in seen:
            raise SpecError(_join(path, "uidMappings"), "id mappings need a user namespace")
        if "user" in seen and not any(ns.type == "user" and ns.path for ns in self.namespaces):
            if not self.uid_mappings or not self.gid_mappings:
                raise SpecError(_join(path, "uidMappings"), "a new user namespace needs uid and gid mappings")
        if self.rootfs_propagation is not None:
            _require_one_of(
                _join(path, "rootfsPropagation"), self.rootfs_propagation, ROOTFS_PROPAGATIONS, "propagation"
            )
        for key in ("masked_paths", "readonly_paths"):
            json_key = "maskedPaths" if key == "masked_paths" else "readonlyPaths"
            for i, p in enumerate(getattr(self, key)):
                _require_absolute(f"{_join(path, json_key)}[{i}]", p)

    def namespace(self, kind: str) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.type == kind), None)


class Spec(Model):
    oci_version: str = field(json="ociVersion")
    root: Root | None = None
    process: Process | None = None
    hostname: str | None = None
    domainname: str | None = None
    mounts: tuple[Mount, ...] = ()
    hooks: Hooks | None = None
    annotations: dict[str, str] | None = None
    linux: Linux | None = None

    def _check(self, path: str) -> None:
        if not self.oci_version.startswith("1."):
            raise SpecError("ociVersion", f"unsupported version `{self.oci_version}`")
        if self.hostname and (self.linux is None or self.linux.namespace("uts") is None):
            raise SpecError("hostname", "setting the hostname needs a uts namespace")

    @classmethod
    def from_json(cls, data: Any) -> Spec:
        return decode(cls, data)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = encode(self)
        return out


def load_bundle_config(bundle: str) -> Spec:
    """Read and validate `<bundle>/config.json`; a missing or unreadable file is a SpecError too."""
    import json  # lazy: the runtime parses config.json through its own loader

    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except FileNotFoundError as err:
        raise SpecError("config.json", f"`{path}` does not exist") from err
    except (OSError, ValueError) as err:
        raise SpecError("config.json", f"cannot read `{path}`: {err}") from err
    return Spec.from_json(data)
