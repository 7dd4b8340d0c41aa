"""POST /images/{name}/tag, DELETE /images/{name} (rmi) and POST /images/prune, with Docker's answers:
201 for a tag, `[{"Untagged": …}, {"Deleted": …}]` for rmi, `{"ImagesDeleted", "SpaceReclaimed"}` for prune.

The rules (conflicts, what prune selects, garbage collection after a delete) are the engine's image_service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.api.images_filters import parse_filters
from dockyard.api.messages import Request, Response
from dockyard.errors import InvalidArgument
from dockyard.oci.reference import normalize

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine
    from dockyard.engine.image_service import DeleteItem


def tag(engine: Engine, req: Request) -> Response:
    repo = req.query.get("repo", "")
    tag_ = req.query.get("tag", "")
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    target = f"{repo}:{tag_}" if tag_ else repo
    if normalize(target).digest is not None:  # checked before the source, as the docker CLI does it first
        raise InvalidArgument("refusing to create a tag with a digest reference")
    engine.images.tag(req.params["name"], target)
    return Response(status=201)


def items_json(items: tuple[DeleteItem, ...] | list[DeleteItem]) -> list[dict[str, str]]:
    return [{"Untagged": i.untagged} if i.untagged else {"Deleted": i.deleted} for i in items]


def delete(engine: Engine, req: Request) -> Response:
    from dockyard.engine.image_service import remove

    items = remove(engine, req.params["name"], force=req.flag("force"), prune=not req.flag("noprune"))
    return Response.json(items_json(items))


def prune(engine: Engine, req: Request) -> Response:
    from dockyard.engine.image_service import prune as prune_images

    report = prune_images(engine, parse_filters(req.query.get("filters")))
    body: dict[str, Any] = {"ImagesDeleted": items_json(report.deleted) or None, "SpaceReclaimed": report.reclaimed}
    return Response.json(body)
