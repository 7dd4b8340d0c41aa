"""Handlers for /images/* (listing) and dockyard's own /_dockyard/images/busybox (build the stand-in image)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dockyard.api.messages import Request, Response

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine


def list_(engine: Engine, req: Request) -> Response:
    out = []
    for image in engine.images.list():
        if not image.names and not req.flag("all"):
            continue
        created = image.config.created or ""
        out.append(
            {
                "Id": str(image.id),
                "ParentId": "",
                "RepoTags": list(image.names) or None,
                "RepoDigests": [],
                "Created": _unix(created),
                "Size": _tree_size(image.rootfs),
                "SharedSize": -1,
                "Labels": (image.run_config.labels or {}),
                "Containers": -1,
            }
        )
    return Response.json(out)


def build_busybox(engine: Engine, req: Request) -> Response:
    """Not Docker's API: builds `busybox:latest` from the host's busybox-static (idempotent)."""
    return Response.json({"Id": engine.build_busybox()}, status=201)


def _unix(created: str) -> int:
    from dockyard.api.wire import parse_time

    return int(parse_time(created)) if created else 0


def _tree_size(root: str) -> int:
    total = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total
