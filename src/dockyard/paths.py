"""The one place that knows the on-disk layout: the data root (/var/lib/dockyard) and the exec root (/run/dockyard).

Only computes paths; creates nothing. Layout:

    <data>/image/content/{blobs/sha256/,ingest/}  the content store: manifests, configs, layers by digest
    <data>/image/images.json                  names → manifest digests and image records (image/store.py)
    <data>/image/snapshotter                  the snapshotter this data root uses (overlay or native)
    <data>/image/snapshots/<name>/            the snapshotter's state: meta/, snapshots/<id>/{fs,work}/
    <data>/image/locks/                       one lock per layer being unpacked
    <data>/containers/<id>/config.v2.json      the container record
    <data>/containers/<id>/<id>-json.log       Docker's json-file log
    <data>/containers/<id>/{hostname,hosts,resolv.conf}  bind-mounted into the container
    <data>/containers/<id>/monitor.lock        held by the container's monitor while it runs
    <data>/containers/<id>/mounts.json         the container's resolved mounts (engine/volumes.py)
    <data>/volumes/<name>/_data                 the local volume driver (dockyard.volume.VolumeStore)
    <data>/tmp/                               scratch files of one request (a build context spooled to disk)
    <exec>/containers/<id>/{config.json,rootfs/}  the OCI bundle (rootfs: where the container's snapshot is mounted)
    <exec>/runtime/                            the OCI runtime's state root (--root)

DOCKYARD_DATA_ROOT moves the data root; the exec root then defaults to <data>/run so that a test's data root
is self-contained (DOCKYARD_EXEC_ROOT overrides both defaults).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_SOCKET = "/run/dockyard.sock"


@dataclass(frozen=True, slots=True, kw_only=True)
class Paths:
    data_root: str
    exec_root: str

    @classmethod
    def from_env(cls, data_root: str | None = None) -> Paths:
        """Roots from an explicit data root, else DOCKYARD_DATA_ROOT / DOCKYARD_EXEC_ROOT, else the defaults."""
        data = data_root or os.environ.get("DOCKYARD_DATA_ROOT") or DEFAULT_DATA_ROOT
        exec_default = DEFAULT_EXEC_ROOT if data == DEFAULT_DATA_ROOT else os.path.join(data, "run")
        return cls(
            data_root=os.path.abspath(data),
            exec_root=os.path.abspath(os.environ.get("DOCKYARD_EXEC_ROOT") or exec_default),
        )

    @property
    def image_root(self) -> str:
        return os.path.join(self.data_root, "image")

    @property
    def content_root(self) -> str:
        return os.path.join(self.image_root, "content")

    def snapshots_root(self, snapshotter: str) -> str:
        return os.path.join(self.image_root, "snapshots", snapshotter)

    @property
    def tmp(self) -> str:
        return os.path.join(self.data_root, "tmp")

    @property
    def volumes(self) -> str:
        return os.path.join(self.data_root, "volumes")

    @property
    def containers(self) -> str:
        return os.path.join(self.data_root, "containers")

    # why plain concatenation below: `ps` computes several of these per container (os.path.join was ≈ 15% of a
    # 100-container list); container ids are 64 hex digits, never absolute or empty
    def container_dir(self, container_id: str) -> str:
        return f"{self.data_root}/containers/{container_id}"

    def record(self, container_id: str) -> str:
        return f"{self.data_root}/containers/{container_id}/config.v2.json"

    def log(self, container_id: str) -> str:
        return f"{self.data_root}/containers/{container_id}/{container_id}-json.log"

    def monitor_lock(self, container_id: str) -> str:
        return f"{self.data_root}/containers/{container_id}/monitor.lock"

    @property
    def bundles(self) -> str:
        return os.path.join(self.exec_root, "containers")

    def bundle(self, container_id: str) -> str:
        return os.path.join(self.exec_root, "containers", container_id)

    def rootfs(self, container_id: str) -> str:
        return os.path.join(self.bundle(container_id), "rootfs")

    @property
    def runtime_root(self) -> str:
        return os.path.join(self.exec_root, "runtime")
