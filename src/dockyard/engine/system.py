"""`docker container prune` and `docker system df` on the engine side: which stopped containers go, and how
much space images, containers and volumes use and could give back. Image pruning is the image service's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.engine import events
from dockyard.engine.events import parse_time
from dockyard.engine.inspect import ContainerView, view
from dockyard.errors import Conflict, InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.image.store import Image

PRUNE_FILTERS = frozenset({"until", "label", "label!"})
RUNNING = ("running", "paused", "restarting")


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    deleted: tuple[str, ...]
    reclaimed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskUsage:
    images: tuple[tuple[Image, int], ...]  # each image with the number of containers using it
    containers: tuple[ContainerView, ...]  # with sizes
    layers_size: int


def prune_matcher(filters: Mapping[str, Sequence[str]]) -> tuple[int | None, list[str], list[str]]:
    for key in filters:
        if key not in PRUNE_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    until = None
    for value in filters.get("until", ()):
        until = parse_time(value)
    return until, list(filters.get("label", ())), list(filters.get("label!", ()))


def _labels_match(labels: Mapping[str, str], wanted: list[str], unwanted: list[str]) -> bool:
    def has(item: str) -> bool:
        key, sep, value = item.partition("=")
        return key in labels and (not sep or labels[key] == value)

    return all(has(w) for w in wanted) and not any(has(u) for u in unwanted)


def prune_containers(containers: Containers, filters: Mapping[str, Sequence[str]] | None = None) -> PruneReport:
    """Remove every stopped container the filters select; the sum of their writable layers is reclaimed."""
    until, wanted, unwanted = prune_matcher(dict(filters or {}))
    deleted, reclaimed = [], 0
    for record in containers.list(all=True):
        if record.state.status in RUNNING:
            continue
        if until is not None and events.rfc3339_ns(record.created) > until:
            continue
        if not _labels_match(record.config.labels or {}, wanted, unwanted):
            continue
        size = view(containers, record, size=True).size_rw or 0
        with contextlib.suppress(NotFound, Conflict):
            containers.remove(record.id)
            deleted.append(record.id)
            reclaimed += size
    events.emit(containers.paths, "container", "prune", "", {"reclaimed": str(reclaimed)})
    return PruneReport(deleted=tuple(deleted), reclaimed=reclaimed)


def disk_usage(containers: Containers) -> DiskUsage:
    records = containers.list(all=True)
    users: dict[str, int] = {}
    for record in records:
        users[record.image_id] = users.get(record.image_id, 0) + 1
    images = tuple((image, users.get(str(image.id), 0)) for image in containers.images.list())
    views = tuple(view(containers, r, size=True) for r in records)
    return DiskUsage(images=images, containers=views, layers_size=sum(int(i.size) for i, _ in images))
