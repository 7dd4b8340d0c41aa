"""The engine's composition root: wires the paths, the image store and the container service together.

Holds no behaviour of its own beyond construction and host facts for /version; handlers reach the services as
`engine.containers` and `engine.images`. Everything is built lazily so `dockyard version` stays cheap.
"""

from __future__ import annotations

import contextlib
import os
import sys
from functools import cached_property
from typing import TYPE_CHECKING

from dockyard.engine.containers import Containers
from dockyard.engine.networks import ContainerNetworks
from dockyard.errors import DockyardError
from dockyard.oci.model import Model
from dockyard.paths import Paths

if TYPE_CHECKING:
    from dockyard.engine.volumes import ContainerVolumes
    from dockyard.image.gc import GcReport
    from dockyard.image.rmi import ImageUser
    from dockyard.image.store import ImageStore

VERSION = "0.1.0"


class SystemInfo(Model):
    version: str
    os: str
    arch: str
    kernel: str
    python: str


class RecoveryReport(Model):
    """What `Engine.recover` did: containers cleaned after their monitor died, started again, whose interrupted
    removal it finished, or that failed."""

    repaired: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


class Engine:
    def __init__(self, paths: Paths, runtime: str | None = None) -> None:
        self.paths = paths
        self._runtime = runtime

    @classmethod
    def from_env(cls, data_root: str | None = None) -> Engine:
        """Roots from DOCKYARD_DATA_ROOT/DOCKYARD_EXEC_ROOT (or `data_root`), runtime from DOCKYARD_RUNTIME."""
        return cls(Paths.from_env(data_root), os.environ.get("DOCKYARD_RUNTIME") or None)

    @cached_property
    def images(self) -> ImageStore:
        from dockyard.image import open_store

        return open_store(self.paths)

    @cached_property
    def containers(self) -> Containers:
        return Containers(self.paths, self.images, self._runtime)

    @cached_property
    def volumes(self) -> ContainerVolumes:
        """Volumes and containers' mounts (engine/volumes.py); opening it does not open the image store."""
        from dockyard.engine.volumes import ContainerVolumes

        return ContainerVolumes(self.paths, lambda ref: self.containers.records.resolve(ref))

    @property
    def networks(self) -> ContainerNetworks:
        """Networks and container endpoints (engine/networks.py); its NetworkManager is built on first use."""
        return self.containers.networks

    def recover(self) -> RecoveryReport:
        """dockyardd's start-up pass, before it serves (moby daemon.restore): every container whose monitor is
        gone is stopped and cleaned (engine/recovery.py), then those whose restart policy asks for it are started
        again; containers whose monitor lives are left alone. Failures are reported per container, never raised."""
        from dockyard.engine import recovery

        c = self.containers
        repaired: list[str] = []
        restarted: list[str] = []
        removed: list[str] = []
        failed: list[str] = []
        snapshots = self.images.snapshotter
        removed += self._remove_orphan_dirs()
        removed += recovery.sweep_orphan_bundles(c)
        for record in c.records.list():
            try:
                key = record.snapshot_key or record.id
                gone = snapshots is not None and not snapshots.exists(key)
                half_removed = record.state.status == "removing" or gone
                if half_removed and not c._monitor_alive(record.id):
                    # why: `rm` releases the snapshot before it deletes the record; killed in between, the
                    # container is half-removed (moby's RemovalInProgress/Dead): finish the removal, as dockerd does
                    c.remove(record.id, force=True, volumes=True)
                    removed.append(record.id)
                    continue
                if recovery.needs_repair(c, record):
                    record = recovery.repair(c, record, restart=False)
                    repaired.append(record.id)
                if not c._monitor_alive(record.id) and recovery.wants_restart(record):
                    after = recovery.restart_by_policy(c, record)
                    if after.state.status in ("running", "restarting"):
                        restarted.append(record.id)
                    else:
                        failed.append(f"{record.id}: restart: {after.state.error or after.state.status}")
            except (DockyardError, OSError) as err:
                failed.append(f"{record.id}: {getattr(err, 'message', None) or err}")
        # network leftovers of every container without a live monitor, once the containers are settled
        from dockyard.engine.networks import recover_networks

        try:
            live = {r.id for r in c.records.list() if c._monitor_alive(r.id)}
            recover_networks(c.paths, live)
        except (DockyardError, OSError) as err:
            failed.append(f"networks: {getattr(err, 'message', None) or err}")
        return RecoveryReport(repaired=tuple(repaired), restarted=tuple(restarted), removed=tuple(removed),
                              failed=tuple(failed))  # fmt: skip

    def _remove_orphan_dirs(self) -> list[str]:
        """Container directories without a record: a create or an `rm` killed half-way (the record is written
        after the directory's first files and removed with them), and deletions cut short. Safe only at daemon
        start, before any call."""
        import re
        import shutil

        from dockyard.engine.records import REMOVING_PREFIX
        from dockyard.engine.rootfs import release_snapshot, unmount

        c = self.containers
        gone: list[str] = []
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(c.paths.containers):
                if name.startswith(REMOVING_PREFIX):  # a deletion cut short (RecordStore.delete)
                    shutil.rmtree(os.path.join(c.paths.containers, name), ignore_errors=True)
                    continue
                if not re.fullmatch(r"[0-9a-f]{64}", name) or os.path.exists(c.paths.record(name)):
                    continue
                with contextlib.suppress(DockyardError, OSError):
                    unmount(c.paths.rootfs(name))
                    release_snapshot(self.images, name)
                shutil.rmtree(c.paths.bundle(name), ignore_errors=True)
                shutil.rmtree(c.paths.container_dir(name), ignore_errors=True)
                gone.append(name)
        return gone

    def system_info(self) -> SystemInfo:
        machine = os.uname().machine  # platform.machine(), without importing platform (~2 ms of every CLI start)
        return SystemInfo(
            version=VERSION,
            os="linux",
            arch={"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine),
            kernel=os.uname().release,
            python="{}.{}.{}".format(*sys.version_info[:3]),
        )

    def build_busybox(self) -> str:
        """Build (or find again) `busybox:latest`; returns its id."""
        from dockyard.image.busybox import build_busybox

        return str(build_busybox(self.images).id)

    def build_debian(self, suite: str = "bookworm") -> str:
        """Build `debian:<suite>` with mmdebstrap; returns its id."""
        from dockyard.image.debian import build_debian

        return str(build_debian(self.images, suite).id)

    def image_users(self) -> list[ImageUser]:
        """Every container with the image it was created from (for rmi's conflict rules)."""
        from dockyard.image.rmi import ImageUser
        from dockyard.oci.digest import Digest

        return [
            ImageUser(container_id=r.id, image_id=Digest.parse(r.image_id), running=r.state.status == "running")
            for r in self.containers.list(all=True)
        ]

    def collect_garbage(self) -> GcReport:
        """Remove blobs and snapshots no image and no container uses."""
        from dockyard.image.gc import collect

        keys = [r.snapshot_key or r.id for r in self.containers.list(all=True)]
        return collect(self.images, keys)

    def system_check(self) -> list[str]:
        """Re-hash every blob; report corruption and dangling references (images, snapshots, containers)."""
        from dockyard.image.gc import check

        problems = check(self.images)
        snapshotter = self.images.snapshotter
        for record in self.containers.list(all=True):
            key = record.snapshot_key or record.id
            if snapshotter is not None and not snapshotter.exists(key):
                problems.append(f"container `{record.id[:12]}`: snapshot `{key}` is missing")
        return problems
