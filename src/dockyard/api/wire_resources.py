"""Docker's resource, limit, device and namespace HostConfig fields of a create body → HostConfig record fields
(MemorySwap, CpuShares, Cpuset*, Ulimits, Sysctls, Devices, IpcMode, PidMode, ShmSize, GroupAdd, …). Validates
as moby's daemon does, with its messages. No I/O.
"""

from __future__ import annotations

from typing import Any

from dockyard.errors import InvalidArgument

_INTS = (("MemorySwap", "memory_swap"), ("MemoryReservation", "memory_reservation"), ("OomScoreAdj", "oom_score_adj"),
         ("CpuShares", "cpu_shares"), ("CpuPeriod", "cpu_period"), ("CpuQuota", "cpu_quota"),
         ("BlkioWeight", "blkio_weight"), ("ShmSize", "shm_size"))  # fmt: skip
_STRS = (("CpusetCpus", "cpuset_cpus"), ("CpusetMems", "cpuset_mems"), ("IpcMode", "ipc_mode"),
         ("PidMode", "pid_mode"), ("UTSMode", "uts_mode"), ("CgroupParent", "cgroup_parent"),
         ("CgroupnsMode", "cgroupns_mode"), ("Runtime", "runtime"))  # fmt: skip
RUNTIMES = ("", "runc", "dockyard-runtime")  # names the engine answers for with its configured runtime


def _value(hc: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = hc.get(key)
    if value is None:
        return None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidArgument(f"invalid field `{key}`: expected {what}")
    return value


def _objects(hc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = hc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidArgument(f"invalid field `{key}`: expected an array of objects")
    return value


def host_config_fields(hc: dict[str, Any]) -> dict[str, Any]:
    """The HostConfig record fields this module owns, validated."""
    from dockyard.engine.records import DeviceMapping, Ulimit

    out: dict[str, Any] = {}
    for key, name in _INTS:
        value = _value(hc, key, int, "an integer")
        if value is not None:
            out[name] = value
    for key, name in _STRS:
        value = _value(hc, key, str, "a string")
        if value is not None:
            out[name] = value
    swappiness = _value(hc, "MemorySwappiness", int, "an integer")
    out["memory_swappiness"] = -1 if swappiness is None else swappiness
    out["oom_kill_disable"] = bool(_value(hc, "OomKillDisable", bool, "a boolean"))
    try:
        out["ulimits"] = tuple(Ulimit(name=str(u["Name"]), soft=int(u["Soft"]), hard=int(u["Hard"]))
                               for u in _objects(hc, "Ulimits"))  # fmt: skip
        out["devices"] = tuple(
            DeviceMapping(path_on_host=str(d["PathOnHost"]), path_in_container=str(d.get("PathInContainer") or
                          d["PathOnHost"]), cgroup_permissions=str(d.get("CgroupPermissions") or "rwm"))
            for d in _objects(hc, "Devices")
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidArgument(f"invalid field `Ulimits`/`Devices`: missing or bad {err}") from err
    annotations = hc.get("Annotations")
    if annotations is not None:
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise InvalidArgument("invalid field `Annotations`: expected an object of strings")
        out["annotations"] = {str(k): v for k, v in annotations.items()} or None
    if hc.get("UsernsMode") not in (None, "", "host"):
        raise InvalidArgument(f"invalid USER mode: {hc['UsernsMode']}")
    sysctls = hc.get("Sysctls")
    if sysctls is not None:
        if not isinstance(sysctls, dict) or not all(isinstance(v, str) for v in sysctls.values()):
            raise InvalidArgument("invalid field `Sysctls`: expected an object of strings")
        out["sysctls"] = {str(k): v for k, v in sysctls.items()} or None
    for key, name in (("DeviceCgroupRules", "device_cgroup_rules"), ("GroupAdd", "group_add")):
        value = hc.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidArgument(f"invalid field `{key}`: expected an array of strings")
        out[name] = tuple(value)
    if hc.get("NanoCpus") and out.get("cpu_period"):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if hc.get("NanoCpus") and out.get("cpu_quota"):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    check(out, str(hc.get("NetworkMode") or ""), int(hc.get("Memory") or 0))
    return out


def check(f: dict[str, Any], network_mode: str, memory: int) -> None:
    """moby's verifyPlatformContainerSettings / verifyContainerResources checks (messages as moby's)."""
    swap, reservation = f.get("memory_swap", 0), f.get("memory_reservation", 0)
    if swap > 0 and memory == 0:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if memory and swap > 0 and swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory and reservation and memory < reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if reservation and reservation < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    adj = f.get("oom_score_adj", 0)
    if not -1000 <= adj <= 1000:
        raise InvalidArgument(f"Invalid value {adj}, range for oom score adj is [-1000, 1000]")
    if f.get("shm_size", 0) < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    swappiness = f["memory_swappiness"]
    if swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidArgument(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    weight = f.get("blkio_weight", 0)
    if weight and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if f.get("cpu_period", 0) and not 1000 <= f["cpu_period"] <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if f.get("cpu_quota", 0) and 0 < f["cpu_quota"] < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if network_mode == "host":
        for name in f.get("sysctls") or {}:
            if name.startswith("net."):
                raise InvalidArgument(f"sysctl '{name}' is not allowed in host network namespace")
    for kind in ("ipc_mode", "pid_mode"):
        mode = f.get(kind, "")
        valid = ("", "private", "shareable", "none", "host") if kind == "ipc_mode" else ("", "host")
        if mode not in valid and not (mode.startswith("container:") and len(mode) > 10):
            raise InvalidArgument(f"invalid {kind[:3].upper()} mode: {mode}")
    if f.get("cgroupns_mode", "") not in ("", "host", "private"):
        raise InvalidArgument(f"invalid cgroup namespace mode: {f['cgroupns_mode']}")
    if f.get("runtime", "") not in RUNTIMES:
        raise InvalidArgument(f"unknown or invalid runtime name: {f['runtime']}")
    if f.get("uts_mode", "") not in ("", "host"):
        raise InvalidArgument(f"invalid UTS mode: {f['uts_mode']}")
