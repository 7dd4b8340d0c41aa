"""The engine side of the image verbs: list with filters, remove (rmi rules, then garbage collection), prune,
save as a byte stream, load, import. The api handlers call these and only translate JSON.

Owns no Docker field names; the image models are re-exported here so the api layer can name them without
importing the image package. Composition over the store (image/store.py), image/rmi.py and image/transfer/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from dockyard.engine import image_filters
from dockyard.image.rmi import DeleteItem, remove_image
from dockyard.image.store import Image

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

__all__ = ["DeleteItem", "Image", "ImportRequest", "PruneReport"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    deleted: tuple[DeleteItem, ...]
    reclaimed: int  # bytes of blobs removed


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportRequest:
    source: str  # "-" (the stream given) or a URL
    repo: str = ""
    tag: str = ""
    changes: tuple[str, ...] = ()
    message: str = ""


def list_images(engine: Engine, filters: image_filters.Filters) -> list[Image]:
    """Images the filters select, newest first (Docker's order)."""
    image_filters.validate(filters, image_filters.LIST_FILTERS)
    test = image_filters.predicate(engine.images, filters)
    found = [image for image in engine.images.list() if test(image)]
    found.sort(key=lambda i: (image_filters.created_at(i), str(i.id)), reverse=True)
    return found


def remove(engine: Engine, name: str, *, force: bool, prune: bool = True) -> list[DeleteItem]:
    """docker rmi: untag and/or delete; unreferenced blobs and snapshots go at once unless `prune` is False."""
    items = remove_image(engine.images, name, force=force, users=engine.image_users())
    if prune and any(i.deleted for i in items):
        engine.collect_garbage()
    return items


def prune(engine: Engine, filters: image_filters.Filters) -> PruneReport:
    """docker image prune: unused images (dangling only unless `dangling=false`) the filters select."""
    image_filters.validate(filters, image_filters.PRUNE_FILTERS)
    dangling = image_filters.dangling_only(filters, default=True)
    users = engine.image_users()
    used = {u.image_id for u in users}
    test = image_filters.predicate(engine.images, filters, prune=True)
    deleted: list[DeleteItem] = []
    for image in engine.images.list():
        if image.id in used or (dangling and image.repo_tags) or not test(image):
            continue
        deleted.extend(remove_image(engine.images, str(image.id), force=True, users=users))
    reclaimed = engine.collect_garbage().reclaimed if deleted else 0
    return PruneReport(deleted=tuple(deleted), reclaimed=reclaimed)


def save(engine: Engine, names: Sequence[str]) -> Iterator[bytes]:
    """The archive of the named images (Docker ≥ 25 layout) as chunks; NotFound is raised before the first one."""
    from dockyard.image.transfer.local import save_items, stream_save

    return stream_save(engine.images, save_items(engine.images, names))


def load(engine: Engine, stream: BinaryIO, progress: Callable[[str], None]) -> None:
    from dockyard.image.transfer.load import load as load_archive

    load_archive(engine.images, stream, progress)


def import_image(
    engine: Engine, stream: BinaryIO | None, request: ImportRequest, progress: Callable[[str], None]
) -> Image:
    """Import from `stream` (source "-") or from the URL in `request.source` (bare hosts get http://)."""
    from contextlib import ExitStack

    from dockyard.image.transfer.importer import ImportOptions, import_image, open_url

    source = request.source
    with ExitStack() as stack:
        if source == "-" and stream is not None:
            body = stream
        else:
            source = source if "://" in source else "http://" + source
            body = stack.enter_context(open_url(source))
            progress(f"Downloading from {source}")
        options = ImportOptions(source=source, repo=request.repo, tag=request.tag, changes=request.changes,
                                message=request.message)  # fmt: skip
        return import_image(engine.images, body, options)
