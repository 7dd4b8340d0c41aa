"""Docker's container documents: GET /containers/{id}/json (every field docker 20.10 prints, with its zero values)
and one entry of GET /containers/json. Pure converters from engine records; no I/O.

Fields the engine does not model yet carry Docker's zero value (`null`, `""`, `0`, `[]` exactly as Docker
prints them), so templates such as `{{.HostConfig.ShmSize}}` or `{{json .Mounts}}` work unchanged.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from dockyard.api.wire import parse_time
from dockyard.engine.security_defaults import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS
from dockyard.units import human_duration

if TYPE_CHECKING:
    from dockyard.engine.inspect import ContainerView
    from dockyard.engine.records import ContainerRecord, HostConfig, State

SHM_SIZE = 64 << 20


def _get(obj: Any, name: str, default: Any) -> Any:
    """A model field that a newer engine record may carry (restart policy, health…) or Docker's zero value."""
    return getattr(obj, name, default)


def paused(state: State) -> bool:
    return state.status == "paused" or bool(_get(state, "paused", False))


def running(state: State) -> bool:
    return state.status in ("running", "paused", "restarting")


def state_json(state: State) -> dict[str, Any]:
    status = "paused" if paused(state) else state.status
    out: dict[str, Any] = {
        "Status": status,
        "Running": running(state),
        "Paused": paused(state),
        "Restarting": state.status == "restarting" or bool(_get(state, "restarting", False)),
        "OOMKilled": bool(_get(state, "oom_killed", False)),
        "Dead": state.status == "dead",
        "Pid": state.pid,
        "ExitCode": state.exit_code,
        "Error": state.error,
        "StartedAt": state.started_at,
        "FinishedAt": state.finished_at,
    }
    health = _get(state, "health", None)
    if health is not None:
        out["Health"] = health_json(health)
    return out


def health_json(health: Any) -> dict[str, Any]:
    log = [
        {"Start": _get(r, "start", ""), "End": _get(r, "end", ""), "ExitCode": _get(r, "exit_code", 0),
         "Output": _get(r, "output", "")}
        for r in _get(health, "log", ())
    ]  # fmt: skip
    return {"Status": _get(health, "status", "none"), "FailingStreak": _get(health, "failing_streak", 0), "Log": log}


def restart_policy(hc: HostConfig) -> dict[str, Any]:
    policy = _get(hc, "restart_policy", None)
    if policy is None:
        return {"Name": "no", "MaximumRetryCount": 0}
    if isinstance(policy, str):
        name, _, count = policy.partition(":")
        return {"Name": name or "no", "MaximumRetryCount": int(count) if count.isdigit() else 0}
    return {"Name": _get(policy, "name", "no") or "no", "MaximumRetryCount": _get(policy, "maximum_retry_count", 0)}


def host_config_json(hc: HostConfig) -> dict[str, Any]:
    g = _get
    return {
        "Binds": list(g(hc, "binds", ())) or None, "ContainerIDFile": "",
        "LogConfig": {"Type": g(hc, "log_driver", "") or "json-file", "Config": dict(g(hc, "log_opts", None) or {})},
        "NetworkMode": g(hc, "network_mode", "") or "default", "PortBindings": {},
        "RestartPolicy": restart_policy(hc), "AutoRemove": hc.auto_remove, "VolumeDriver": "", "VolumesFrom": None,
        "CapAdd": list(hc.cap_add) or None, "CapDrop": list(hc.cap_drop) or None, "CgroupnsMode": g(hc,
        "cgroupns_mode", "") or "host",
        "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": list(g(hc,
        "group_add", ())) or None,
        "IpcMode": g(hc, "ipc_mode", "") or "private", "Cgroup": "", "Links": None, "OomScoreAdj": g(hc,
        "oom_score_adj", 0),
        "PidMode": g(hc, "pid_mode", ""), "Privileged": hc.privileged, "PublishAllPorts": False,
        "ReadonlyRootfs": hc.read_only, "SecurityOpt": list(hc.security_opt) or None, "UTSMode": g(hc, "uts_mode",
        ""), "UsernsMode": "",
        "ShmSize": g(hc, "shm_size", 0) or SHM_SIZE, "Runtime": g(hc, "runtime", "") or "runc", "Annotations": g(hc,
        "annotations", None), "ConsoleSize": [0, 0], "Isolation": "",
        "CpuShares": g(hc, "cpu_shares", 0), "Memory": hc.memory, "NanoCpus": hc.nano_cpus, "CgroupParent": g(hc,
        "cgroup_parent", ""),
        "BlkioWeight": g(hc, "blkio_weight", 0), "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": g(hc, "cpu_period", 0),
        "CpuQuota": g(hc, "cpu_quota", 0),
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": g(hc, "cpuset_cpus", ""), "CpusetMems": g(hc,
        "cpuset_mems", ""),
        "Devices": _devices(hc), "DeviceCgroupRules": list(g(hc, "device_cgroup_rules", ())) or None,
        "DeviceRequests": None, "KernelMemory": 0, "KernelMemoryTCP": 0,
        "MemoryReservation": g(hc, "memory_reservation", 0), "MemorySwap": memory_swap(hc),
        "MemorySwappiness": _swappiness(hc), "OomKillDisable": g(hc, "oom_kill_disable", False),
        "PidsLimit": hc.pids_limit or None, "Ulimits": [{"Name": u.name, "Hard": u.hard,
        "Soft": u.soft} for u in g(hc, "ulimits", ())],
        "Sysctls": dict(g(hc, "sysctls", None) or {}) or None, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": [] if hc.privileged else list(DEFAULT_MASKED_PATHS),
        "ReadonlyPaths": [] if hc.privileged else list(DEFAULT_READONLY_PATHS),
    }  # fmt: skip


def _devices(hc: HostConfig) -> list[dict[str, str]]:
    return [{"PathOnHost": d.path_on_host, "PathInContainer": d.path_in_container,
             "CgroupPermissions": d.cgroup_permissions} for d in _get(hc, "devices", ())]  # fmt: skip


def _swappiness(hc: HostConfig) -> int | None:
    value = int(_get(hc, "memory_swappiness", -1))
    return None if value == -1 else value


def memory_swap(hc: HostConfig) -> int:
    """Docker stores MemorySwap as given; with only --memory it is twice the memory (set at create)."""
    swap = int(_get(hc, "memory_swap", 0) or 0)
    if swap:
        return swap
    return hc.memory * 2 if hc.memory else 0


def config_json(record: ContainerRecord) -> dict[str, Any]:
    c = record.config
    out: dict[str, Any] = {
        "Hostname": c.hostname or record.id[:12], "Domainname": c.domainname, "User": c.user,
        "AttachStdin": bool(_get(c, "attach_stdin", False)), "AttachStdout": bool(_get(c, "attach_stdout", False)),
        "AttachStderr": bool(_get(c, "attach_stderr", False)), "Tty": c.tty, "OpenStdin": c.open_stdin,
        "StdinOnce": bool(_get(c, "stdin_once", False)), "Env": list(c.env), "Cmd": list(c.cmd) or None,
        "Image": c.image, "Volumes": None, "WorkingDir": c.working_dir, "Entrypoint": list(c.entrypoint) or None,
        "OnBuild": None, "Labels": dict(c.labels or {}),
    }  # fmt: skip
    healthcheck = _get(c, "healthcheck", None)
    if healthcheck is not None:
        out["Healthcheck"] = {
            "Test": list(_get(healthcheck, "test", ())), "Interval": _get(healthcheck, "interval", 0),
            "Timeout": _get(healthcheck, "timeout", 0), "StartPeriod": _get(healthcheck, "start_period", 0),
            "Retries": _get(healthcheck, "retries", 0),
        }  # fmt: skip
    stop_signal = _get(c, "stop_signal", "")
    if stop_signal:
        out["StopSignal"] = stop_signal
    stop_timeout = _get(c, "stop_timeout", None)
    if stop_timeout is not None:
        out["StopTimeout"] = stop_timeout
    return out


def network_settings_json(view: ContainerView) -> dict[str, Any]:
    return {
        "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": {}, "SandboxKey": f"/proc/{view.record.state.pid}/ns/net" if view.record.state.pid else "",
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
        "MacAddress": "", "Networks": {},
    }  # fmt: skip


def container_json(view: ContainerView) -> dict[str, Any]:
    """GET /containers/{id}/json."""
    record = view.record
    out: dict[str, Any] = {
        "Id": record.id, "Created": record.created, "Path": record.path, "Args": list(record.args),
        "State": state_json(record.state), "Image": record.image_id,
        "ResolvConfPath": f"{view.directory}/resolv.conf", "HostnamePath": f"{view.directory}/hostname",
        "HostsPath": f"{view.directory}/hosts", "LogPath": view.log_path, "Name": f"/{record.name}",
        "RestartCount": int(_get(record, "restart_count", 0) or _get(record.state, "restart_count", 0) or 0),
        "Driver": "overlay2", "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": list(view.exec_ids) or None, "HostConfig": host_config_json(record.host_config),
        "GraphDriver": {
            "Data": {"LowerDir": view.lower_dir, "MergedDir": view.merged_dir, "UpperDir": view.upper_dir,
                     "WorkDir": view.work_dir},
            "Name": "overlay2",
        },
    }  # fmt: skip
    if view.size_rw is not None:
        out["SizeRw"] = view.size_rw
        out["SizeRootFs"] = view.size_root_fs
    out["Mounts"] = list(view.mounts)
    out["Config"] = config_json(record)
    out["NetworkSettings"] = network_settings_json(view)
    return out


def status_text(state: State, now: float | None = None) -> str:
    """docker ps's STATUS: `Up 3 seconds (Paused)`, `Up 1 minute (healthy)`, `Exited (0) 5 seconds ago`…"""
    current = time.time() if now is None else now
    if state.status == "restarting" or _get(state, "restarting", False):
        return f"Restarting ({state.exit_code}) {human_duration(current - parse_time(state.finished_at))} ago"
    if running(state):
        text = f"Up {human_duration(current - parse_time(state.started_at))}"
        if paused(state):
            return text + " (Paused)"
        health = _get(state, "health", None)
        status = _get(health, "status", "none") if health is not None else "none"
        if status == "starting":
            return text + " (health: starting)"
        if status in ("healthy", "unhealthy"):
            return f"{text} ({status})"
        return text
    if state.status == "removing":
        return "Removal In Progress"
    if state.status == "dead":
        return "Dead"
    if state.status == "exited" or (state.status == "created" and state.started_at != "0001-01-01T00:00:00Z"):
        if state.finished_at.startswith("0001-01-01"):
            return ""
        return f"Exited ({state.exit_code}) {human_duration(current - parse_time(state.finished_at))} ago"
    return "Created"


def summary_json(view: ContainerView) -> dict[str, Any]:
    """One entry of GET /containers/json."""
    record = view.record
    out: dict[str, Any] = {
        "Id": record.id, "Names": [f"/{record.name}"], "Image": record.config.image, "ImageID": record.image_id,
        "Command": " ".join((record.path, *record.args)), "Created": int(parse_time(record.created)), "Ports": [],
    }  # fmt: skip
    if view.size_rw is not None:
        out["SizeRw"] = view.size_rw
        out["SizeRootFs"] = view.size_root_fs
    out.update(
        {
            "Labels": dict(record.config.labels or {}),
            "State": "paused" if paused(record.state) else record.state.status,
            "Status": status_text(record.state),
            "HostConfig": {"NetworkMode": _get(record.host_config, "network_mode", "") or "default"},
            "NetworkSettings": {"Networks": {}},
            "Mounts": list(view.mounts),
        }
    )
    return out
