"""Handlers for GET /events (past events, then the live stream) and GET /system/df, in Docker's JSON shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dockyard.api import filters as api_filters
from dockyard.api import inspect_json, wire
from dockyard.api.messages import Request, Response
from dockyard.engine import events
from dockyard.engine.cancel import Cancel

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine


def event_json(e: events.Event) -> dict[str, Any]:
    """One event as Docker 20.10 sends it (container events keep the legacy status/id/from fields)."""
    out: dict[str, Any] = {}
    if e.type == "container":
        out.update(status=e.action, id=e.actor_id, **{"from": e.attrs.get("image", "")})
    elif e.type == "image":
        out.update(status=e.action, id=e.actor_id)
    out.update(
        Type=e.type,
        Action=e.action,
        Actor={"ID": e.actor_id, "Attributes": e.attrs},
        scope=e.scope,
        time=e.time_nano // 1_000_000_000,
        timeNano=e.time_nano,
    )
    return out


def events_(engine: Engine, req: Request) -> Response:
    match = events.matcher(api_filters.decode(req.query.get("filters")))
    since = req.query.get("since") or None
    until = req.query.get("until") or None
    since_ns = events.parse_time(since) if since else None
    until_ns = events.parse_time(until) if until else None
    if since_ns is not None and until_ns is not None and since_ns > until_ns:
        from dockyard.errors import InvalidArgument

        raise InvalidArgument("`since` time must be before `until`")
    cancel = Cancel()  # set by the server when the client hangs up: the follow ends and frees its thread
    found = events.read(engine.paths, since_ns=since_ns, until_ns=until_ns, follow=True, match=match, cancel=cancel)

    def chunks() -> Iterator[bytes]:
        for e in found:
            yield (json.dumps(event_json(e)) + "\n").encode()

    return Response(status=200, content_type="application/json", stream=chunks(), cancel=cancel.set)


def system_df(engine: Engine, req: Request) -> Response:
    from dockyard.engine.system import disk_usage

    usage = disk_usage(engine.containers)
    images = []
    for image, count in usage.images:
        created = image.created
        images.append(
            {
                "Containers": count,
                "Created": int(wire.parse_time(created)) if created else 0,
                "Id": str(image.id),
                "Labels": dict(image.run_config.labels or {}) or None,
                "ParentId": "",
                "RepoDigests": list(image.repo_digests) or None,
                "RepoTags": list(image.repo_tags) or None,
                "SharedSize": 0,
                "Size": int(image.size),
                "VirtualSize": int(image.size),
            }
        )
    return Response.json(
        {
            "LayersSize": usage.layers_size,
            "Images": images,
            "Containers": [inspect_json.summary_json(v) for v in usage.containers],
            "Volumes": [],
            "BuildCache": [],
        }
    )
