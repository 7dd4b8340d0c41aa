"""The default config.json of `dockyard-runtime spec`: byte-for-byte what runc 1.1 writes; no other I/O.

Key order, values and formatting (tab indent, no final newline) follow runc's `spec` command
(libcontainer/specconv.Example and ToRootless), so bundles made by either runtime are interchangeable.
"""

from __future__ import annotations

import json
import os
from typing import Any

from dockyard.errors import Conflict, NotFound

# runc 1.1 still writes the 1.0.2-dev version its vendored runtime-spec carries.
DEFAULT_OCI_VERSION = "1.0.2-dev"
_DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def _mounts(*, rootless: bool) -> list[dict[str, Any]]:
    devpts_options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if not rootless:
        # A rootless container has no gid 5 mapped: runc's ToRootless drops the option.
        devpts_options.append("gid=5")
    if rootless:
        # sysfs cannot be mounted without owning the network namespace: runc bind-mounts the host's /sys.
        sys_mount = _mount("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"])
    else:
        sys_mount = _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"])
    nosuid_noexec_nodev = ["nosuid", "noexec", "nodev"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount("/dev/pts", "devpts", "devpts", devpts_options),
        _mount("/dev/shm", "tmpfs", "shm", [*nosuid_noexec_nodev, "mode=1777", "size=65536k"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", nosuid_noexec_nodev),
        sys_mount,
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", [*nosuid_noexec_nodev, "relatime", "ro"]),
    ]


def _mount(destination: str, fstype: str, source: str, options: list[str]) -> dict[str, Any]:
    return {"destination": destination, "type": fstype, "source": source, "options": list(options)}


def _linux(*, rootless: bool) -> dict[str, Any]:
    linux: dict[str, Any] = {}
    namespaces = ["pid", "network", "ipc", "uts", "mount"]
    if rootless:
        # runc's ToRootless: map only the caller's own ids, drop the network namespace (no veth without
        # privilege), add a user namespace, and drop the device cgroup rules.
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        namespaces = [ns for ns in namespaces if ns != "network"] + ["user"]
    else:
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    linux["namespaces"] = [{"type": ns} for ns in namespaces]
    linux["maskedPaths"] = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
    ]  # fmt: skip
    linux["readonlyPaths"] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    return linux


def default_spec(*, rootless: bool = False) -> dict[str, Any]:
    """The config.json `runc spec` (or `runc spec --rootless`) writes, as a JSON-ready dict in runc's key order."""
    return {
        "ociVersion": DEFAULT_OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {kind: list(_DEFAULT_CAPS) for kind in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": _mounts(rootless=rootless),
        "linux": _linux(rootless=rootless),
    }


def dumps_spec(spec: dict[str, Any]) -> str:
    """Format a spec as runc does (Go's json.MarshalIndent with a tab, no final newline)."""
    return json.dumps(spec, indent="\t", ensure_ascii=False)


def write_default_spec(bundle: str, *, rootless: bool) -> None:
    """Write `<bundle>/config.json`; refuses to overwrite one, as runc does."""
    if not os.path.isdir(bundle):
        raise NotFound(f"chdir `{bundle}`: no such directory")
    path = os.path.join(bundle, "config.json")
    data = dumps_spec(default_spec(rootless=rootless)).encode()
    try:
        # O_EXCL: the existence check and the creation are one step; 0o666 less umask like runc's WriteFile.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except FileExistsError as err:
        raise Conflict("File config.json exists. Remove it first") from err
    with os.fdopen(fd, "wb") as f:
        f.write(data)
