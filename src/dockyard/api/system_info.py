"""The body of GET /info: Docker's field names, filled from host facts (/proc, os-release) and engine counts.

Reads small host files only; it never starts anything. Fields follow Docker 20.10–27 (what `docker info` of
CLI 28 reads); a fact the host does not offer is reported as Docker reports it (false, empty), not guessed.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import socket
from typing import TYPE_CHECKING, Any

from dockyard.api.versions import VERSION

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _os_release() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in _read("/etc/os-release").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value.strip().strip('"')
    return out


def _mem_total() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


def _cgroup_has(*files: str) -> bool:
    if _cgroup_version() == "2":
        controllers = _read("/sys/fs/cgroup/cgroup.controllers").split()
        return all(f.split("/")[0] in controllers for f in files)
    return all(os.path.exists(os.path.join("/sys/fs/cgroup", f)) for f in files)


def _engine_id(data_root: str) -> str:
    """A stable id per data root, in Docker's `XXXX:XXXX:…` shape (Docker derives it from a key file)."""
    digest = hashlib.sha256(data_root.encode()).hexdigest().upper()
    return ":".join(digest[i : i + 4] for i in range(0, 48, 4))


def _counts(engine: Engine) -> tuple[int, int, int, int, int]:
    records = engine.containers.list(all=True)
    running = sum(1 for r in records if r.state.status in ("running", "restarting") and not r.state.paused)
    paused = sum(1 for r in records if r.state.paused)
    try:
        images = len(engine.images.list())
    except Exception:  # an image store mid-migration must not break `docker info`
        images = 0
    return len(records), running, paused, len(records) - running - paused, images


def _host_facts() -> dict[str, Any]:
    release = _os_release()
    return {
        "MemoryLimit": _cgroup_has("memory/memory.limit_in_bytes") or _cgroup_has("memory"),
        "SwapLimit": _cgroup_has("memory/memory.memsw.limit_in_bytes") or _cgroup_has("memory"),
        "KernelMemory": False,
        "KernelMemoryTCP": False,
        "CpuCfsPeriod": _cgroup_has("cpu/cpu.cfs_period_us") or _cgroup_has("cpu"),
        "CpuCfsQuota": _cgroup_has("cpu/cpu.cfs_quota_us") or _cgroup_has("cpu"),
        "CPUShares": _cgroup_has("cpu/cpu.shares") or _cgroup_has("cpu"),
        "CPUSet": _cgroup_has("cpuset") or _cgroup_has("cpuset/cpuset.cpus"),
        "PidsLimit": _cgroup_has("pids"),
        "OomKillDisable": _cgroup_version() == "1",
        "IPv4Forwarding": _read("/proc/sys/net/ipv4/ip_forward") == "1",
        "BridgeNfIptables": _read("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
        "BridgeNfIp6tables": _read("/proc/sys/net/bridge/bridge-nf-call-ip6tables") == "1",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": _cgroup_version(),
        "KernelVersion": os.uname().release,
        "OperatingSystem": release.get("PRETTY_NAME", "Linux"),
        "OSVersion": release.get("VERSION_ID", ""),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "Name": socket.gethostname(),
    }


def _registry_config() -> dict[str, Any]:
    return {
        "AllowNondistributableArtifactsCIDRs": [],
        "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
        "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}},
        "Mirrors": [],
    }


def info_json(engine: Engine, *, debug: bool = False) -> dict[str, Any]:
    total, running, paused, stopped, images = _counts(engine)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    runtime = os.path.basename(engine.containers.runtime_binary) or "runc"
    return {
        "ID": _engine_id(engine.paths.data_root),
        "Containers": total,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": None,
            "Log": ["json-file"],
        },
        **_host_facts(),
        "Debug": debug,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0,
        "SystemTime": now,
        "LoggingDriver": "json-file",
        "NEventsListener": 0,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": _registry_config(),
        "GenericResources": None,
        "DockerRootDir": engine.paths.data_root,
        "HttpProxy": os.environ.get("HTTP_PROXY", ""),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", ""),
        "NoProxy": os.environ.get("NO_PROXY", ""),
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": VERSION,
        "Runtimes": {runtime: {"path": engine.containers.runtime_binary}},
        "DefaultRuntime": runtime,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": True,  # containers outlive the daemon: their monitors hold them
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": None,
    }
