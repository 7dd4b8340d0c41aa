"""Handlers for /volumes/* and Docker's mount JSON: volume documents, HostConfig.Mounts entries both ways, the mount
part of the POST /containers/create body (Binds, Mounts, Tmpfs, Volumes, VolumesFrom) and inspect's `Mounts`.

Knows Docker's field names; the engine side is engine/volumes.py. No I/O of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dockyard.api import filters as api_filters
from dockyard.api.body_fields import string_list as _strs
from dockyard.api.messages import Request, Response
from dockyard.engine import volumes as ev
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

# --mount bind-recursive ↔ the API's BindOptions booleans (docker/cli opts/mount.go)
_RECURSIVE_FLAGS = {
    "disabled": "NonRecursive",
    "writable": "ReadOnlyNonRecursive",
    "readonly": "ReadOnlyForceRecursive",
}


def _obj(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid field `{key}`: expected an object")
    return value


def _str_map(data: Mapping[str, Any], key: str) -> dict[str, str]:
    value = _obj(data, key)
    if not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument(f"invalid field `{key}`: expected an object of strings")
    return {str(k): str(v) for k, v in value.items()}


# ---- volumes -----------------------------------------------------------------------------------------------


def volume_json(volume: ev.Volume) -> dict[str, Any]:
    """Docker's Volume object (GET /volumes/{name}), keys in Docker's order."""
    return {
        "CreatedAt": volume.created_at,
        "Driver": volume.driver,
        "Labels": dict(volume.labels) if volume.labels is not None else None,
        "Mountpoint": volume.mountpoint,
        "Name": volume.name,
        "Options": dict(volume.options) if volume.options is not None else None,
        "Scope": volume.scope,
    }


def list_(engine: Engine, req: Request) -> Response:
    volumes = engine.volumes.list(api_filters.decode(req.query.get("filters")))
    return Response.json({"Volumes": [volume_json(v) for v in volumes], "Warnings": None})


def create(engine: Engine, req: Request) -> Response:
    body = req.json() or {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: expected an object")
    name = body.get("Name") or ""
    driver = body.get("Driver") or ""
    if not isinstance(name, str) or not isinstance(driver, str):
        raise InvalidArgument("invalid field `Name` or `Driver`: expected a string")
    labels = _str_map(body, "Labels") if body.get("Labels") is not None else None
    options = _str_map(body, "DriverOpts") if body.get("DriverOpts") is not None else None
    volume = engine.volumes.store.create(name, driver=driver, labels=labels, options=options)
    return Response.json(volume_json(volume), status=201)


def inspect(engine: Engine, req: Request) -> Response:
    return Response.json(volume_json(engine.volumes.store.get(req.params["name"])))


def remove(engine: Engine, req: Request) -> Response:
    engine.volumes.remove(req.params["name"], force=req.flag("force"))
    return Response.empty(204)


def _before_1_42(version: str) -> bool:
    if not version:
        return False
    major, _, minor = version.partition(".")
    return (int(major), int(minor or 0)) < (1, 42)


def prune(engine: Engine, req: Request) -> Response:
    filters = api_filters.decode(req.query.get("filters"))
    if _before_1_42(req.version) and "all" not in filters:
        # moby postVolumesPrune: before API 1.42 prune took every unused local volume, not only anonymous ones
        filters["all"] = ["true"]
    report = engine.volumes.prune(filters)
    return Response.json({"VolumesDeleted": list(report.volumes_deleted), "SpaceReclaimed": report.space_reclaimed})


# ---- HostConfig.Mounts entries -----------------------------------------------------------------------------


def mount_json(spec: ev.MountSpec) -> dict[str, Any]:
    """A MountSpec (from --mount) as a HostConfig.Mounts entry, as docker CLI 28 sends it."""
    out: dict[str, Any] = {"Type": spec.type, "Source": spec.source, "Target": spec.target}
    if spec.read_only:
        out["ReadOnly"] = True
    if spec.consistency:
        out["Consistency"] = spec.consistency
    if spec.bind is not None:
        bind: dict[str, Any] = {}
        if spec.bind.propagation:
            bind["Propagation"] = spec.bind.propagation
        if spec.bind.recursive in _RECURSIVE_FLAGS:
            bind[_RECURSIVE_FLAGS[spec.bind.recursive]] = True
        if spec.bind.create_mountpoint:
            bind["CreateMountpoint"] = True
        out["BindOptions"] = bind
    if spec.volume is not None:
        volume: dict[str, Any] = {}
        if spec.volume.nocopy:
            volume["NoCopy"] = True
        if spec.volume.labels:
            volume["Labels"] = dict(spec.volume.labels)
        if spec.volume.driver or spec.volume.driver_options:
            volume["DriverConfig"] = {"Name": spec.volume.driver, "Options": dict(spec.volume.driver_options)}
        if spec.volume.subpath:
            volume["Subpath"] = spec.volume.subpath
        out["VolumeOptions"] = volume
    if spec.tmpfs is not None:
        tmpfs: dict[str, Any] = {}
        if spec.tmpfs.size_bytes:
            tmpfs["SizeBytes"] = spec.tmpfs.size_bytes
        if spec.tmpfs.mode:
            tmpfs["Mode"] = spec.tmpfs.mode
        if spec.tmpfs.options:
            tmpfs["Options"] = [o.split("=", 1) for o in spec.tmpfs.options]
        out["TmpfsOptions"] = tmpfs
    return out


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise InvalidArgument(f"invalid field `{key}`: expected a boolean")
    return value


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"invalid field `{key}`: expected an integer")
    return value


def _bind_options(data: Mapping[str, Any]) -> ev.BindOptions:
    recursive = next((name for name, key in _RECURSIVE_FLAGS.items() if data.get(key) is True), "")
    propagation = data.get("Propagation") or ""
    if not isinstance(propagation, str):
        raise InvalidArgument("invalid field `Propagation`: expected a string")
    return ev.BindOptions(
        propagation=propagation, recursive=recursive, create_mountpoint=_bool(data, "CreateMountpoint")
    )


def _volume_options(data: Mapping[str, Any]) -> ev.VolumeOptions:
    driver = _obj(data, "DriverConfig")
    subpath = data.get("Subpath") or ""
    name = driver.get("Name") or ""
    if not isinstance(subpath, str) or not isinstance(name, str):
        raise InvalidArgument("invalid field `VolumeOptions`: expected strings in Subpath and DriverConfig.Name")
    return ev.VolumeOptions(
        nocopy=_bool(data, "NoCopy"),
        labels=_str_map(data, "Labels"),
        driver=name,
        driver_options=_str_map(driver, "Options"),
        subpath=subpath,
    )


def _tmpfs_options(data: Mapping[str, Any]) -> ev.TmpfsOptions:
    raw = data.get("Options") or []
    if not isinstance(raw, list) or not all(isinstance(o, list) and o and len(o) <= 2 for o in raw):
        raise InvalidArgument("invalid field `TmpfsOptions.Options`: expected an array of [key] or [key, value]")
    options = tuple("=".join(str(p) for p in o) for o in raw)
    return ev.TmpfsOptions(size_bytes=_int(data, "SizeBytes"), mode=_int(data, "Mode"), options=options)


def mount_from_json(data: Any) -> ev.MountSpec:
    """One HostConfig.Mounts entry → MountSpec, checked as the daemon checks it (moby validateMountConfig)."""
    if not isinstance(data, dict):
        raise InvalidArgument("invalid field `Mounts`: expected an array of objects")
    fields = {key: data.get(key) or "" for key in ("Type", "Source", "Target", "Consistency")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise InvalidArgument("invalid field `Mounts`: Type, Source, Target and Consistency must be strings")
    spec = ev.MountSpec(
        type=fields["Type"],  # type: ignore[arg-type]  # unknown types are refused by validate_mount
        target=fields["Target"],
        origin="mount",
        source=fields["Source"],
        read_only=_bool(data, "ReadOnly"),
        consistency=fields["Consistency"],
        bind=_bind_options(_obj(data, "BindOptions")) if data.get("BindOptions") is not None else None,
        volume=_volume_options(_obj(data, "VolumeOptions")) if data.get("VolumeOptions") is not None else None,
        tmpfs=_tmpfs_options(_obj(data, "TmpfsOptions")) if data.get("TmpfsOptions") is not None else None,
    )
    return ev.validate_mount(spec)


# ---- the create body and inspect ---------------------------------------------------------------------------


def mount_request(body: Mapping[str, Any], hc: Mapping[str, Any]) -> ev.MountRequest:
    """HostConfig.{Binds,Mounts,Tmpfs,VolumesFrom,VolumeDriver} and Config.Volumes → the engine's MountRequest."""
    driver = hc.get("VolumeDriver") or ""
    if not isinstance(driver, str):
        raise InvalidArgument("invalid field `VolumeDriver`: expected a string")
    specs = [ev.parse_bind(b, volume_driver=driver) for b in _strs(hc, "Binds")]
    raw_mounts = hc.get("Mounts") or []
    if not isinstance(raw_mounts, list):
        raise InvalidArgument("invalid field `Mounts`: expected an array of objects")
    specs += [mount_from_json(m) for m in raw_mounts]
    specs += [ev.parse_tmpfs(dest, data) for dest, data in sorted(_str_map(hc, "Tmpfs").items())]
    specs += [ev.parse_anonymous(path, volume_driver=driver) for path in sorted(_obj(body, "Volumes"))]
    volumes_from = tuple(ev.parse_volumes_from(v) for v in _strs(hc, "VolumesFrom"))
    return ev.MountRequest(mounts=tuple(specs), volumes_from=volumes_from)


def mount_point_json(point: ev.MountPoint) -> dict[str, Any]:
    """One entry of a container's `Mounts` (docker inspect), in Docker's shape: volumes carry Name and Driver."""
    out: dict[str, Any] = {"Type": point.type}
    if point.type == "volume":
        out["Name"] = point.name
    out.update(Source=point.source, Destination=point.destination)
    if point.type == "volume":
        out["Driver"] = point.driver
    out.update(Mode=point.mode, RW=point.rw, Propagation=point.propagation)
    return out


def container_mounts(engine: Engine, cid: str) -> list[dict[str, Any]]:
    """GET /containers/{id}/json `Mounts`."""
    return [mount_point_json(p) for p in engine.volumes.mount_points(cid)]


def host_config_json(engine: Engine, cid: str) -> dict[str, Any]:
    """The mount fields of inspect's HostConfig, rebuilt from the container's resolved mounts."""
    specs = engine.volumes.load(cid)
    binds = []
    for spec in (s for s in specs if s.origin == "bind"):
        text = f"{spec.source}:{spec.target}"
        binds.append(f"{text}:{spec.mode}" if spec.mode else text)
    tmpfs = {s.target: ",".join(s.tmpfs.options if s.tmpfs else ()) for s in specs if s.origin == "tmpfs"}
    out: dict[str, Any] = {"Binds": binds or None}
    mounts = [mount_json(s) for s in specs if s.origin == "mount"]
    if mounts:
        out["Mounts"] = mounts
    if tmpfs:
        out["Tmpfs"] = tmpfs
    return out
