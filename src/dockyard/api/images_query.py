"""GET /images/json (list, with filters), GET /images/{name}/json (inspect) and GET /images/{name}/history, in
the shapes Docker 20.10 answers (the reference: docker-cli-28-vs-engine-20.10-api-1.41.jsonl).

Docker's field names live here and in client/; the engine's image models come from the store. Read-only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dockyard.api.images_filters import parse_filters
from dockyard.api.messages import Request, Response
from dockyard.engine.image_filters import created_at, matching_tags
from dockyard.oci.image_spec import ContainerConfig
from dockyard.oci.jsonmodel import decode

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine
    from dockyard.engine.image_service import Image

ZERO_TIME = "0001-01-01T00:00:00Z"


def summary_json(image: Image, tags: list[str] | None = None) -> dict[str, Any]:
    """One entry of GET /images/json; an untagged image shows `<none>:<none>` as Docker's list does."""
    repo_tags = list(image.repo_tags) if tags is None else tags
    repo_digests = list(image.repo_digests)
    if not repo_tags and not repo_digests:
        repo_tags, repo_digests = ["<none>:<none>"], ["<none>@<none>"]
    elif not repo_tags:
        repo_tags = ["<none>:<none>"]
    labels = image.run_config.labels
    return {
        "Containers": -1,
        "Created": int(created_at(image)),
        "Id": str(image.id),
        "Labels": dict(labels) if labels else None,
        "ParentId": "",
        "RepoDigests": repo_digests,
        "RepoTags": repo_tags,
        "SharedSize": -1,
        "Size": image.size,
        "VirtualSize": image.size,
    }


def list_images(engine: Engine, req: Request) -> Response:
    from dockyard.engine.image_service import list_images as select

    filters = parse_filters(req.query.get("filters"))
    patterns = filters.get("reference", [])
    found = select(engine, filters)
    return Response.json([summary_json(i, matching_tags(i, patterns) if patterns else None) for i in found])


def container_config_json(config: ContainerConfig | None) -> dict[str, Any]:
    """Go's container.Config as Docker prints it: every field, zero values included, omitempty ones only when set."""
    c = config
    out: dict[str, Any] = {
        "Hostname": "",
        "Domainname": "",
        "User": (c.user if c else None) or "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
    }
    if c and c.exposed_ports:
        out["ExposedPorts"] = {port: {} for port in sorted(c.exposed_ports)}
    out.update(Tty=False, OpenStdin=False, StdinOnce=False)
    out["Env"] = list(c.env) if c and c.env is not None else None
    out["Cmd"] = list(c.cmd) if c and c.cmd is not None else None
    if c and c.healthcheck is not None:
        hc = c.healthcheck
        health: dict[str, Any] = {"Test": list(hc.test) if hc.test is not None else None}
        for key, value in (("Interval", hc.interval), ("Timeout", hc.timeout), ("StartPeriod", hc.start_period),
                           ("StartInterval", hc.start_interval), ("Retries", hc.retries)):  # fmt: skip
            if value:
                health[key] = value
        out["Healthcheck"] = health
    if c and c.args_escaped:
        out["ArgsEscaped"] = True
    out["Image"] = ""
    out["Volumes"] = {v: {} for v in sorted(c.volumes)} if c and c.volumes else None
    out["WorkingDir"] = (c.working_dir if c else None) or ""
    out["Entrypoint"] = list(c.entrypoint) if c and c.entrypoint is not None else None
    out["OnBuild"] = list(c.on_build) if c and c.on_build is not None else None
    out["Labels"] = dict(c.labels) if c and c.labels is not None else None
    if c and c.stop_signal:
        out["StopSignal"] = c.stop_signal
    if c and c.shell:
        out["Shell"] = list(c.shell)
    return out


def _raw_config(image: Image) -> dict[str, Any]:
    try:
        data = json.loads(image.config.to_bytes())
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _legacy_container_config(raw: dict[str, Any]) -> dict[str, Any]:
    value = raw.get("container_config")
    try:
        parsed = decode(ContainerConfig, value) if isinstance(value, dict) else None
    except Exception:
        parsed = None
    return container_config_json(parsed)


def _rfc3339(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC)
    fraction = f"{stamp.microsecond:06d}".rstrip("0")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _graph_driver(engine: Engine, image: Image) -> dict[str, Any]:
    snapshotter = engine.images.snapshotter
    data: dict[str, str] = {}
    name = snapshotter.name if snapshotter is not None else "none"
    keys = [str(c) for c in image.chain_ids]
    if snapshotter is not None and keys and all(snapshotter.exists(k) for k in keys):
        paths = [snapshotter.path(k) for k in keys]
        if len(paths) > 1:
            data["LowerDir"] = ":".join(reversed(paths[:-1]))
        data["UpperDir"] = paths[-1]
    return {"Data": data or None, "Name": name}


def inspect_json(engine: Engine, image: Image) -> dict[str, Any]:
    raw = _raw_config(image)
    config = image.config
    return {
        "Id": str(image.id),
        "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests),
        "Parent": "",
        "Comment": str(raw.get("comment") or ""),
        "Created": config.created or ZERO_TIME,
        "Container": str(raw.get("container") or ""),
        "ContainerConfig": _legacy_container_config(raw),
        "DockerVersion": str(raw.get("docker_version") or ""),
        "Author": config.author or "",
        "Config": container_config_json(config.config),
        "Architecture": config.architecture,
        **({"Variant": config.variant} if config.variant else {}),
        "Os": config.os,
        **({"OsVersion": config.os_version} if config.os_version else {}),
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": _graph_driver(engine, image),
        "RootFS": {"Type": config.rootfs.type, "Layers": [str(d) for d in config.rootfs.diff_ids]},
        "Metadata": {"LastTagTime": _rfc3339(image.added) if image.repo_tags else ZERO_TIME},
    }


def inspect(engine: Engine, req: Request) -> Response:
    image = engine.images.get(req.params["name"])
    return Response.json(inspect_json(engine, image))


def _layer_sizes(engine: Engine, image: Image) -> list[int]:
    snapshotter = engine.images.snapshotter
    sizes = []
    for chain_id, layer in zip(image.chain_ids, image.manifest.layers, strict=False):
        size = layer.size
        if snapshotter is not None and snapshotter.exists(str(chain_id)):
            size = snapshotter.usage(str(chain_id)).size
        sizes.append(size)
    return sizes


def history_json(engine: Engine, image: Image) -> list[dict[str, Any]]:
    """Newest first; the top entry carries the image ID and tags, older ones `<missing>` (no parent images)."""
    from dockyard.api.wire import parse_time

    sizes = iter(_layer_sizes(engine, image))
    history = list(image.config.history or ())
    entries: list[dict[str, Any]] = []
    if not history:
        default = int(created_at(image))
        entries = [{"Created": default, "CreatedBy": "", "Size": s, "Comment": ""} for s in sizes]
    for h in history:
        size = 0 if h.empty_layer else next(sizes, 0)
        created = int(parse_time(h.created)) if h.created else 0
        entries.append({"Created": created, "CreatedBy": h.created_by or "", "Size": size, "Comment": h.comment or ""})
    out = []
    for i, entry in enumerate(reversed(entries)):
        top = i == 0
        out.append({
            "Comment": entry["Comment"], "Created": entry["Created"], "CreatedBy": entry["CreatedBy"],
            "Id": str(image.id) if top else "<missing>", "Size": entry["Size"],
            "Tags": (list(image.repo_tags) or None) if top else None,
        })  # fmt: skip
    return out


def history(engine: Engine, req: Request) -> Response:
    image = engine.images.get(req.params["name"])
    return Response.json(history_json(engine, image))
