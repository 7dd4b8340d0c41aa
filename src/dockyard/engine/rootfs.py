"""A container's filesystem on the host: its writable snapshot, mounted as the bundle's rootfs, and the /etc
files Docker bind-mounts.

The snapshot (key = the container id) sits on the image's top layer; the snapshotter returns its mounts as data
and image.snapshots.mount performs them (the engine must not import dockyard.runtime). Owns nothing about
records or processes; every function is idempotent so cleanup can be retried after a crash.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from dockyard.errors import NotFound
from dockyard.image.snapshots.base import Mount
from dockyard.image.snapshots.mount import is_mountpoint, mount, mount_all
from dockyard.image.snapshots.mount import unmount as _unmount

if TYPE_CHECKING:
    from dockyard.image.snapshots.base import Snapshotter
    from dockyard.image.store import Image, ImageStore

__all__ = [
    "mount_shm", "mount_snapshot", "prepare_snapshot", "release_snapshot", "renew_shm", "resolv_conf", "shm_dir",
    "unmount", "write_etc_files",
]  # fmt: skip

HOSTS = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""
# Docker's fallback when the host only has loopback resolvers (unreachable from a container's namespace).
DEFAULT_NAMESERVERS = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def prepare_snapshot(images: ImageStore, image: Image, key: str) -> None:
    """Unpack the image if needed and prepare the container's writable snapshot `key` on its top layer."""
    snapshotter = _snapshotter(images)
    with images.lease():  # no garbage collection between the unpack and the new snapshot (callers hold one too)
        image = images.unpack(image)
        snapshotter.prepare(key, image.top_layer)


def mount_snapshot(images: ImageStore, key: str, target: str) -> None:
    """Mount the container's snapshot at `target` (created when missing)."""
    os.makedirs(target, exist_ok=True)
    mount_all(_snapshotter(images).mounts(key), target)


def shm_dir(target: str) -> str:
    """The host-side /dev/shm of the container whose rootfs is at `target`: `<bundle>/shm` (moby's ShmPath)."""
    return os.path.join(os.path.dirname(target), "shm")


def mount_shm(target: str, size: int) -> None:
    """Mount the tmpfs that an --ipc shareable container binds at /dev/shm and its --ipc container:<x> joiners
    bind too (engine/spec_resources.shm_source); kept when already mounted."""
    path = shm_dir(target)
    os.makedirs(path, mode=0o755, exist_ok=True)
    if not is_mountpoint(path):
        options = ("nosuid", "nodev", "noexec", "mode=1777", f"size={(size + 1023) // 1024}k")
        mount(Mount(type="tmpfs", source="shm", options=options), path)


def renew_shm(target: str, size: int) -> None:
    """A fresh tmpfs at `shm_dir` before a restart by policy (`size` 0: Docker's 64 MiB), as dockerd unmounts the
    IPC mounts at every exit (daemon.Cleanup in handleContainerExit) and mounts new ones at the next start: the
    new run never sees the last one's leftovers. Joiners still running keep the old tmpfs, as with Docker."""
    from dockyard.engine.spec_resources import SHM_DEFAULT  # lazy: spec_resources imports this module

    _unmount(shm_dir(target))
    mount_shm(target, size or SHM_DEFAULT)


def unmount(target: str) -> None:
    """Detach the container rootfs at `target`, and its host-side /dev/shm (`shm_dir`) when one is mounted."""
    _unmount(shm_dir(target))
    _unmount(target)


def release_snapshot(images: ImageStore, key: str) -> None:
    """Remove the container's snapshot (unmount it first); nothing to do when it is gone already."""
    if images.snapshotter is not None:
        with contextlib.suppress(NotFound):
            images.snapshotter.remove(key)


def _snapshotter(images: ImageStore) -> Snapshotter:
    if images.snapshotter is None:
        raise NotFound("image store: no snapshotter")
    return images.snapshotter


def resolv_conf(host_text: str) -> str:
    """The host's resolv.conf without loopback nameservers (moby libnetwork/resolvconf), or Docker's fallback."""
    lines = []
    servers = 0
    for line in host_text.splitlines():
        fields = line.split()
        if fields[:1] == ["nameserver"] and len(fields) > 1:
            if fields[1].startswith("127.") or fields[1] == "::1":
                continue
            servers += 1
        lines.append(line)
    text = "\n".join(lines).strip()
    text = f"{text}\n" if text else ""
    return text if servers else text + DEFAULT_NAMESERVERS


def write_etc_files(directory: str, hostname: str, host_resolv: str = "/etc/resolv.conf") -> None:
    """Write hostname, hosts and resolv.conf into the container directory."""
    try:
        with open(host_resolv, encoding="utf-8", errors="replace") as f:
            host_text = f.read()
    except OSError:
        host_text = ""
    for name, text in (("hostname", f"{hostname}\n"), ("hosts", HOSTS), ("resolv.conf", resolv_conf(host_text))):
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
