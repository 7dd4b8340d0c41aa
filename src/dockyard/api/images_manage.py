"""POST /images/{name}/tag, DELETE /images/{name} (rmi) and POST /images/prune, with Docker's answers:
201 for a tag, `[{"Untagged": …}, {"Deleted": …}]` for rmi, `{"ImagesDeleted", "SpaceReclaimed"}` for prune.

The conflict rules are image/rmi.py's; unreferenced blobs and snapshots go by the engine's garbage collection
right after an image is deleted, as Docker drops layers with their last image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.api.images_filters import PRUNE_FILTERS, dangling_only, parse_filters, predicate, validate
from dockyard.api.messages import Request, Response
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine
    from dockyard.image.rmi import DeleteItem


def tag(engine: Engine, req: Request) -> Response:
    repo = req.query.get("repo", "")
    tag_ = req.query.get("tag", "")
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    engine.images.tag(req.params["name"], f"{repo}:{tag_}" if tag_ else repo)
    return Response(status=201)


def items_json(items: list[DeleteItem]) -> list[dict[str, str]]:
    return [{"Untagged": i.untagged} if i.untagged else {"Deleted": i.deleted} for i in items]


def delete(engine: Engine, req: Request) -> Response:
    from dockyard.image.rmi import remove_image

    items = remove_image(engine.images, req.params["name"], force=req.flag("force"), users=engine.image_users())
    if any(i.deleted for i in items) and not req.flag("noprune"):
        engine.collect_garbage()
    return Response.json(items_json(items))


def prune(engine: Engine, req: Request) -> Response:
    from dockyard.image.rmi import remove_image

    filters = parse_filters(req.query.get("filters"))
    validate(filters, PRUNE_FILTERS)
    dangling = dangling_only(filters, default=True)
    users = engine.image_users()
    used = {u.image_id for u in users}
    test = predicate(engine.images, filters, prune=True)
    deleted: list[DeleteItem] = []
    for image in engine.images.list():
        if image.id in used or (dangling and image.repo_tags) or not test(image):
            continue
        deleted.extend(remove_image(engine.images, str(image.id), force=True, users=users))
    reclaimed = engine.collect_garbage().reclaimed if deleted else 0
    body: dict[str, Any] = {"ImagesDeleted": items_json(deleted) or None, "SpaceReclaimed": reclaimed}
    return Response.json(body)
