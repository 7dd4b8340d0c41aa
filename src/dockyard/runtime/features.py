"""The runtime-spec features document (`dockyard-runtime features`): what this runtime implements, no more.

Keep it honest: mount options and seccomp architectures come from the tables mounts.py and seccomp.py use;
tests check the seccomp actions against seccomp.py. Probes the host only for cheap facts (the kernel's last
capability, whether libseccomp loads); writes nothing.
"""

from __future__ import annotations

import ctypes
from typing import Any

from dockyard.oci.runtime_spec import CAPABILITIES, NAMESPACE_TYPES, SECCOMP_ACTIONS, SECCOMP_OPERATORS

OCI_VERSION_MIN = "1.0.0"
OCI_VERSION_MAX = "1.1.0"

HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

# The time namespace has no OCI fields in 1.1 beyond `time` offsets, which we do not implement.
SUPPORTED_NAMESPACES = tuple(sorted(ns for ns in NAMESPACE_TYPES if ns != "time"))

# SCMP_ACT_NOTIFY needs a seccomp agent listening on listenerPath, which we do not support.
SUPPORTED_SECCOMP_ACTIONS = tuple(sorted(a for a in SECCOMP_ACTIONS if a != "SCMP_ACT_NOTIFY"))


def _last_capability() -> int:
    """The kernel's highest capability number (/proc/sys/kernel/cap_last_cap), or all we know when unreadable."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return len(CAPABILITIES) - 1


def _seccomp_available() -> bool:
    try:
        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return False
    return True


def _version() -> str:
    from importlib import metadata  # lazy: only `features` needs the installed distribution's metadata

    try:
        return metadata.version("dockyard")
    except metadata.PackageNotFoundError:
        return "unknown"


def mount_options() -> list[str]:
    """Every option word the rootfs code turns into a flag or a propagation change (not fs-specific data)."""
    from dockyard.runtime.mounts import MOUNT_FLAGS, PROPAGATION_FLAGS

    return sorted({*MOUNT_FLAGS, *PROPAGATION_FLAGS})


def features() -> dict[str, Any]:
    """The features document as a JSON-ready dict (runtime-spec features.md field names and order)."""
    from dockyard.runtime.seccomp import ARCHITECTURES  # lazy: `features` is off every hot path

    seccomp_enabled = _seccomp_available()
    seccomp: dict[str, Any] = {"enabled": seccomp_enabled}
    if seccomp_enabled:
        seccomp["actions"] = list(SUPPORTED_SECCOMP_ACTIONS)
        seccomp["operators"] = sorted(SECCOMP_OPERATORS)
        seccomp["archs"] = sorted(ARCHITECTURES)
    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": list(HOOKS),
        "mountOptions": mount_options(),
        "linux": {
            "namespaces": list(SUPPORTED_NAMESPACES),
            "capabilities": list(CAPABILITIES[: _last_capability() + 1]),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": seccomp,
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.dockyard.runtime.version": _version()},
    }
