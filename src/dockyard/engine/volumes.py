"""Containers' volumes and mounts: resolve a create request's mounts with Docker's checks, create and reference the
volumes, mount and copy-up at start, the OCI mounts of the spec, and release at exit and removal.

Owns <data-root>/volumes (through dockyard.volume.VolumeStore) and <container-dir>/mounts.json, the container's
resolved mounts. Knows no Docker JSON field names (api/volumes.py does) and never runs container processes.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.oci.model import Model, asdict, replace
from dockyard.oci.runtime_spec import Mount, Spec
from dockyard.paths import Paths
from dockyard.volume import (
    LOCAL_DRIVER,
    BindOptions,
    MountPoint,
    MountSpec,
    PruneReport,
    TmpfsOptions,
    Volume,
    VolumeOptions,
    VolumesFrom,
    VolumeStore,
    check_mount_points,
    copy_up,
    ensure_bind_source,
    mount_point,
    name_error,
    parse_anonymous,
    parse_bind,
    parse_mount_flag,
    parse_tmpfs,
    parse_tmpfs_flag,
    parse_volume_flag,
    parse_volumes_from,
    tmpfs_data,
    tmpfs_mount_options,
    validate_bind_source,
    validate_mount,
)

MOUNTS_FILE = "mounts.json"

__all__ = [
    "BindOptions",
    "ContainerVolumes",
    "MountPoint",
    "MountRequest",
    "MountSpec",
    "PruneReport",
    "TmpfsOptions",
    "Volume",
    "VolumeOptions",
    "VolumesFrom",
    "apply_mounts",
    "decode_spec",
    "encode_spec",
    "oci_mount",
    "parse_anonymous",
    "parse_bind",
    "parse_mount_flag",
    "parse_tmpfs",
    "parse_tmpfs_flag",
    "parse_volume_flag",
    "parse_volumes_from",
    "release_on_exit",
    "resolve_in_root",
    "validate_mount",
]


class MountRequest(Model):
    """The mounts a create request asks for: Binds, Mounts, Tmpfs and Config.Volumes (each MountSpec's origin
    says which) and VolumesFrom."""

    mounts: tuple[MountSpec, ...] = ()
    volumes_from: tuple[VolumesFrom, ...] = ()


# ---- MountSpec ↔ the JSON of mounts.json (python field names; not Docker's wire) --------------------------------


def encode_spec(spec: MountSpec) -> dict[str, Any]:
    data = asdict(spec)
    if spec.tmpfs is not None:
        data["tmpfs"]["options"] = list(spec.tmpfs.options)
    return data


def decode_spec(data: Mapping[str, Any]) -> MountSpec:
    values = dict(data)
    bind, volume, tmpfs = values.pop("bind", None), values.pop("volume", None), values.pop("tmpfs", None)
    return MountSpec(
        **values,
        bind=BindOptions(**bind) if bind is not None else None,
        volume=VolumeOptions(**volume) if volume is not None else None,
        tmpfs=TmpfsOptions(**{**tmpfs, "options": tuple(tmpfs.get("options", ()))}) if tmpfs is not None else None,
    )


# ---- the OCI side ----------------------------------------------------------------------------------------------


def oci_mount(spec: MountSpec, source: str) -> Mount:
    """The config.json mount for `spec`; `source` is the host path (a volume's `_data`, a bind's source).

    As moby daemon/oci_linux.go: binds and volumes are `rbind` (`bind` with bind-recursive=disabled) plus `ro`
    and their propagation; tmpfs gets noexec,nosuid,nodev,rprivate merged with the user's options.
    """
    if spec.type == "tmpfs":
        options = tmpfs_mount_options(tmpfs_data(spec))
        return Mount(destination=spec.destination, type="tmpfs", source="tmpfs", options=tuple(options))
    recursive = spec.bind.recursive if spec.bind is not None else ""
    options = ["bind" if recursive == "disabled" else "rbind", spec.propagation or "rprivate"]
    if spec.read_only:
        options.append("ro")
    return Mount(destination=spec.destination, type="bind", source=source, options=tuple(options))


def _depth(destination: str) -> int:
    return len([p for p in destination.split("/") if p])


def apply_mounts(config: Spec, mounts: Sequence[Mount]) -> Spec:
    """`config` with the container's own mounts: a user mount replaces a default one at the same destination
    (Docker lets -v/--tmpfs shadow /dev/shm or /etc/hosts), and parents come before children (moby sortMounts)."""
    if not mounts:
        return config
    taken = {m.destination for m in mounts}
    combined = [m for m in config.mounts if m.destination not in taken] + list(mounts)
    combined.sort(key=lambda m: _depth(m.destination))  # stable: the defaults keep their order
    return replace(config, mounts=tuple(combined))


def resolve_in_root(root: str, path: str) -> str:
    """`path` inside the directory `root`, following symlinks as if `root` were `/` (never leaving it)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:  # the kernel's own limit on symlink hops (path_resolution(7): ELOOP)
                return candidate
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


# ---- container mounts ------------------------------------------------------------------------------------------


class ContainerVolumes:
    """The volume store and the mounts of every container, on the data root of `paths`."""

    def __init__(self, paths: Paths, resolve: Callable[[str], str] | None = None) -> None:
        self.paths = paths
        self._resolve = resolve  # a container name/prefix → its id (for --volumes-from)

    @cached_property
    def store(self) -> VolumeStore:
        return VolumeStore(self.paths.volumes)

    def _mounts_file(self, cid: str) -> str:
        return os.path.join(self.paths.container_dir(cid), MOUNTS_FILE)

    def load(self, cid: str) -> tuple[MountSpec, ...]:
        """The resolved mounts of container `cid` (none for a container made before volumes existed)."""
        try:
            with open(self._mounts_file(cid), encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return ()
        return tuple(decode_spec(item) for item in data)

    def _save(self, cid: str, specs: Iterable[MountSpec]) -> None:
        path = self._mounts_file(cid)
        tmp = f"{path}.tmp{os.getpid()}"
        data = json.dumps([encode_spec(s) for s in specs])  # the C encoder in one go (json.dump is pure Python)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, path)

    # -- create --------------------------------------------------------------------------------------------------

    def plan(self, request: MountRequest, image_volumes: Sequence[str] = ()) -> tuple[MountSpec, ...]:
        """Check a create request's mounts as Docker does and decide which take effect; creates nothing.

        Precedence (moby registerMountPoints): the image's VOLUMEs and -v /path < --volumes-from < -v binds and
        --mount; duplicate destinations among the latter are errors.
        """
        specs = [*request.mounts, *(parse_anonymous(p) for p in image_volumes)]
        chosen = list(check_mount_points(specs))
        explicit = {s.destination for s in chosen if s.origin != "anonymous"}
        inherited = [m for m in self._inherited(request.volumes_from) if m.destination not in explicit]
        shadowed = {m.destination for m in inherited}
        chosen = [s for s in chosen if not (s.origin == "anonymous" and s.destination in shadowed)] + inherited
        for spec in chosen:
            self._check(spec)
        return tuple(chosen)

    def _check(self, spec: MountSpec) -> None:
        if spec.origin == "mount":
            validate_bind_source(spec)
        if spec.type != "volume":
            return
        driver = (spec.volume.driver if spec.volume else "") or LOCAL_DRIVER
        if driver != LOCAL_DRIVER:
            name = spec.source or "<anonymous>"
            raise NotFound(f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found')
        if spec.source:
            reason = name_error(spec.source)
            if reason is not None:
                raise InvalidArgument(f"create {spec.source}: {reason}")

    def _inherited(self, sources: Sequence[VolumesFrom]) -> list[MountSpec]:
        out: list[MountSpec] = []
        for item in sources:
            cid = self._resolve(item.container) if self._resolve is not None else item.container
            for spec in self.load(cid):
                if spec.origin == "tmpfs" or spec.type == "tmpfs":
                    continue  # moby: tmpfs mounts are not volumes and are not shared
                out.append(replace(spec, read_only=spec.read_only or item.read_only))
        return out

    def attach(self, cid: str, specs: Sequence[MountSpec]) -> tuple[MountSpec, ...]:
        """Create the missing volumes, register `cid` as their user, and save the container's mounts."""
        resolved: list[MountSpec] = []
        try:
            for spec in specs:
                if spec.type == "volume":
                    options = spec.volume or VolumeOptions()
                    volume = self.store.create(
                        spec.source,
                        labels=dict(options.labels) or None,
                        options=dict(options.driver_options) or None,
                        ref=cid,
                    )
                    spec = replace(spec, source=volume.name)
                resolved.append(spec)
            if resolved:  # none: no file (`load` reads a missing one as none), one file less for every plain `run`
                self._save(cid, resolved)
        except BaseException:
            self._unregister(cid, resolved)
            raise
        return tuple(resolved)

    # -- start and stop ------------------------------------------------------------------------------------------

    def setup(self, cid: str, rootfs: str) -> tuple[Mount, ...]:
        """Mount what the container's volumes need, copy the image's content into empty ones and return the OCI
        mounts. Runs after the container's rootfs is mounted at `rootfs` (copy-up reads it)."""
        mounts: list[Mount] = []
        specs = self.load(cid)
        try:
            for spec in specs:
                mounts.append(oci_mount(spec, self._source(cid, spec, rootfs)))
        except BaseException:
            self.release(cid)
            raise
        return tuple(mounts)

    def _source(self, cid: str, spec: MountSpec, rootfs: str) -> str:
        if spec.type == "tmpfs":
            return "tmpfs"
        if spec.type == "bind":
            if spec.origin == "bind":
                ensure_bind_source(spec)
            else:
                validate_bind_source(spec)
            return spec.source
        data = self.store.mount(spec.source, cid)
        subpath = spec.volume.subpath if spec.volume else ""
        if subpath:
            return os.path.join(data, subpath)
        if spec.copy_data:
            copy_up(resolve_in_root(rootfs, spec.destination), data)
        return data

    def release(self, cid: str) -> None:
        """The container stopped: it no longer has its volumes mounted (option-backed ones go when unused)."""
        for spec in self.load(cid):
            if spec.type == "volume":
                with contextlib.suppress(NotFound):
                    self.store.unmount(spec.source, cid)

    # -- remove --------------------------------------------------------------------------------------------------

    def _unregister(self, cid: str, specs: Iterable[MountSpec]) -> None:
        for spec in specs:
            if spec.type == "volume" and spec.source:
                with contextlib.suppress(NotFound):
                    self.store.unregister(spec.source, cid)

    def detach(self, cid: str, *, remove_anonymous: bool = False) -> None:
        """The container is being removed: drop it as a user; `rm -v` / `--rm` also remove its anonymous volumes
        (those another container still uses stay, as in Docker)."""
        specs = self.load(cid)
        self._unregister(cid, specs)
        if not remove_anonymous:
            return
        for spec in specs:
            if spec.type != "volume":
                continue
            with contextlib.suppress(NotFound, Conflict, DockyardError, OSError):
                if self.store.get(spec.source).anonymous:
                    self.store.remove(spec.source)

    def mount_points(self, cid: str) -> list[MountPoint]:
        """A container's `Mounts` in Docker's order (by destination), tmpfs from --tmpfs left out as Docker does."""
        points: list[MountPoint] = []
        for spec in self.load(cid):
            volume = None
            if spec.type == "volume":
                with contextlib.suppress(NotFound):
                    volume = self.store.get(spec.source)
            point = mount_point(spec, volume)
            if point is not None:
                points.append(point)
        return sorted(points, key=lambda p: p.destination)

    # -- the volume verbs ----------------------------------------------------------------------------------------

    def _drop_stale_refs(self) -> None:
        """Forget users whose container record is gone (a crash between a container's removal and its unregister)."""
        for volume in self.store.list():
            for ref in volume.refs:
                if not os.path.isfile(self.paths.record(ref)):
                    with contextlib.suppress(NotFound):
                        self.store.unregister(volume.name, ref)

    def list(self, filters: Mapping[str, Iterable[str]] | None = None) -> list[Volume]:
        self._drop_stale_refs()
        return self.store.list(filters)

    def remove(self, name: str, *, force: bool = False) -> None:
        self._drop_stale_refs()
        self.store.remove(name, force=force)

    def prune(self, filters: Mapping[str, Iterable[str]] | None = None) -> PruneReport:
        self._drop_stale_refs()
        return self.store.prune(filters)


def release_on_exit(paths: Paths, cid: str, *, remove: bool = False) -> None:
    """The monitor's hook when a container exits: unmount its volumes; with --rm also drop it as their user and
    remove its anonymous volumes. Never fails the monitor."""
    with contextlib.suppress(DockyardError, OSError, ValueError, TypeError):
        volumes = ContainerVolumes(paths)
        volumes.release(cid)
        if remove:
            volumes.detach(cid, remove_anonymous=True)
