"""Cgroups for the OCI runtime: picks the v1 or v2 manager for the host layout and resolves cgroupsPath.

Path rules follow runc's cgroupfs driver with one simplification: an absolute cgroupsPath is relative to each
hierarchy's root; a relative one is ALSO taken from the root (runc would nest it under the runtime's own
cgroup). An empty path means "/dockyard/<container id>". The systemd form "slice:prefix:name" is refused.
Everything here is a pure function of its arguments and the layout under `root`, so the separate processes
of create, kill, pause and delete all address the same cgroup.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.runtime.cgroups.base import CgroupManager, CgroupStats, normalize_path
from dockyard.runtime.cgroups.files import CgroupValueError

__all__ = ["CgroupManager", "CgroupStats", "CgroupValueError", "detect_version", "open_manager", "resolve_path"]

DEFAULT_ROOT = "/sys/fs/cgroup"
DEFAULT_PARENT = "/dockyard"


def resolve_path(cgroups_path: str | None, container_id: str) -> str:
    """The cgroup path (relative to a hierarchy root, starting with "/") for a container."""
    if not cgroups_path:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise InvalidArgument(f"cgroup for container `{container_id}`: not a valid container id")
        return f"{DEFAULT_PARENT}/{container_id}"
    if not cgroups_path.startswith("/") and cgroups_path.count(":") == 2:
        raise Unsupported(f"cgroupsPath `{cgroups_path}`: the systemd form `slice:prefix:name` is not supported")
    if ".." in cgroups_path.split("/"):
        raise InvalidArgument(f"cgroupsPath `{cgroups_path}`: must not contain `..`")
    path = normalize_path(cgroups_path)
    if path == "/":
        raise InvalidArgument(f"cgroupsPath `{cgroups_path}`: must name a cgroup below the hierarchy root")
    return path


def detect_version(root: str = DEFAULT_ROOT) -> int:
    """2 when `root` is a cgroup2 mount (it has cgroup.controllers), 1 for v1 or hybrid layouts."""
    if not os.path.isdir(root):
        raise Unsupported(f"cgroups `{root}`: no cgroup filesystem is mounted there")
    return 2 if os.path.exists(os.path.join(root, "cgroup.controllers")) else 1


def open_manager(cgroups_path: str | None, container_id: str, *, root: str = DEFAULT_ROOT) -> CgroupManager:
    """The manager for a container's cgroup; touches nothing on disk (call `create()` to make it)."""
    path = resolve_path(cgroups_path, container_id)
    if detect_version(root) == 2:
        from dockyard.runtime.cgroups.v2 import V2Manager

        return V2Manager(path, root)
    from dockyard.runtime.cgroups.v1 import V1Manager, find_hierarchies

    hierarchies = find_hierarchies(root)
    if not hierarchies:
        raise Unsupported(f"cgroups `{root}`: no cgroup v1 controller hierarchy found")
    return V1Manager(path, hierarchies)
