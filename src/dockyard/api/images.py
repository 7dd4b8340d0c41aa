"""Handlers for /images/* (listing) and dockyard's own /_dockyard/images/{busybox,debian} (offline base images)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.api.messages import Request, Response

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine


def list_(engine: Engine, req: Request) -> Response:
    out = []
    for image in engine.images.list():
        if not image.repo_tags and not req.flag("all"):
            continue
        out.append(
            {
                "Id": str(image.id),
                "ParentId": "",
                "RepoTags": list(image.repo_tags) or None,
                "RepoDigests": list(image.repo_digests),
                "Created": _unix(image.created),
                "Size": image.size,
                "SharedSize": -1,
                "Labels": (image.run_config.labels or {}),
                "Containers": -1,
            }
        )
    return Response.json(out)


def build_busybox(engine: Engine, req: Request) -> Response:
    """Not Docker's API: builds `busybox:latest` from the host's busybox-static (idempotent)."""
    return Response.json({"Id": engine.build_busybox()}, status=201)


def build_debian(engine: Engine, req: Request) -> Response:
    """Not Docker's API: builds `debian:<suite>` (query `suite`, default bookworm) with mmdebstrap."""
    return Response.json({"Id": engine.build_debian(req.query.get("suite") or "bookworm")}, status=201)


def _unix(created: str) -> int:
    from dockyard.api.wire import parse_time

    return int(parse_time(created)) if created else 0
