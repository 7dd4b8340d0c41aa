"""Handlers for dockyard's own /_dockyard/images/{busybox,debian} (offline base images)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.api.messages import Request, Response

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine


def build_busybox(engine: Engine, req: Request) -> Response:
    """Not Docker's API: builds `busybox:latest` from the host's busybox-static (idempotent)."""
    return Response.json({"Id": engine.build_busybox()}, status=201)


def build_debian(engine: Engine, req: Request) -> Response:
    """Not Docker's API: builds `debian:<suite>` (query `suite`, default bookworm) with mmdebstrap."""
    return Response.json({"Id": engine.build_debian(req.query.get("suite") or "bookworm")}, status=201)
