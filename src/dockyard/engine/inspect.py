"""Observing containers: the view behind inspect (paths, exec ids, sizes) and `ps` listing with Docker's filters.

Reads records and the filesystem only; never changes a container. Docker's JSON shapes live in api/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.records import ContainerRecord

PS_FILTERS = frozenset({"ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label",
                        "name", "network", "publish", "since", "status", "volume"})  # fmt: skip
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH = ("starting", "healthy", "unhealthy", "none")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerView:
    """A record with what inspect shows beside it (host paths, exec ids, optional sizes)."""

    record: ContainerRecord
    directory: str
    log_path: str
    lower_dir: str
    upper_dir: str
    work_dir: str
    merged_dir: str
    exec_ids: tuple[str, ...] = ()
    mounts: tuple[dict[str, Any], ...] = ()
    size_rw: int | None = None
    size_root_fs: int | None = None


def view(containers: Containers, record: ContainerRecord, *, size: bool = False) -> ContainerView:
    from dockyard.engine import exec as exec_
    from dockyard.engine.changes import container_layers

    paths = containers.paths
    directory = paths.container_dir(record.id)
    layers = container_layers(containers, record)
    upper = layers.upper or layers.tree or ""
    size_rw = size_root = None
    if size:
        size_rw = directory_size(upper) if upper else 0
        size_root = size_rw + _image_size(containers, record)
    return ContainerView(
        record=record,
        directory=directory,
        log_path=paths.log(record.id),
        lower_dir=":".join(layers.lowers),
        upper_dir=upper,
        work_dir=os.path.join(os.path.dirname(upper), "work") if layers.upper else "",
        merged_dir=layers.merged,
        exec_ids=exec_.ExecStore(paths).ids(record.id),
        size_rw=size_rw,
        size_root_fs=size_root,
    )


def _image_size(containers: Containers, record: ContainerRecord) -> int:
    try:
        return int(containers.images.get(record.image_id).size)
    except NotFound:
        return 0


def directory_size(top: str) -> int:
    """Bytes of the regular files and symlinks under `top`, each inode counted once (moby directory.Size)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(top):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


# ---- ps ------------------------------------------------------------------------------------------------------


def list_containers(
    containers: Containers,
    *,
    all: bool = False,
    limit: int = 0,
    filters: Mapping[str, Sequence[str]] | None = None,
    size: bool = False,
) -> list[ContainerView]:
    """GET /containers/json: newest first; `limit` > 0 implies all (docker ps -n / -l)."""
    filters = dict(filters or {})
    records = containers.list(all=True)  # newest first
    match = ps_matcher(filters, records)
    include_stopped = all or limit > 0 or bool(set(filters) & {"status", "exited", "before", "since"})
    out = []
    for record in records:
        status = record.state.status
        if not include_stopped and status not in ("running", "paused", "restarting"):
            continue
        if not match(record):
            continue
        out.append(view(containers, record, size=True) if size else _list_view(containers, record))
        if 0 < limit <= len(out):
            break
    return out


def _list_view(containers: Containers, record: ContainerRecord) -> ContainerView:
    """What a `ps` entry needs: the record. The snapshot layers and exec ids (four file reads per container in
    `view`) are left empty; inspect asks `view` for them."""
    paths = containers.paths
    return ContainerView(record=record, directory=paths.container_dir(record.id), log_path=paths.log(record.id),
                         lower_dir="", upper_dir="", work_dir="", merged_dir="")  # fmt: skip


def ps_matcher(filters: Mapping[str, Sequence[str]], records: Sequence[ContainerRecord]) -> Callable[[Any], bool]:
    """moby's container list filters; values of one key are OR-ed, keys AND-ed."""
    for key in filters:
        if key not in PS_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    for value in filters.get("status", ()):
        if value not in STATUSES:
            raise InvalidArgument(f"invalid filter 'status={value}'")
    for value in filters.get("health", ()):
        if value not in HEALTH:
            raise InvalidArgument(f"Unrecognised filter value for health: {value}")
    exited = []
    for value in filters.get("exited", ()):
        if not value.lstrip("-").isdigit():
            raise InvalidArgument(f'strconv.Atoi: parsing "{value}": invalid syntax')
        exited.append(int(value))
    before = _position(filters.get("before", ()), records, "before")
    since = _position(filters.get("since", ()), records, "since")
    tests: list[tuple[str, Callable[[ContainerRecord, str], bool]]] = [
        ("status", lambda r, v: _status(r) == v),
        ("name", lambda r, v: v.removeprefix("/") == r.name or bool(_search(v, "/" + r.name))),
        ("id", lambda r, v: r.id.startswith(v)),
        ("label", lambda r, v: _label(r.config.labels or {}, v)),
        ("ancestor", _ancestor),
        ("health", lambda r, v: _health(r) == v),
        ("volume", lambda r, v: False),
        ("network", lambda r, v: v in ("default", "none", "bridge") and False),
        ("publish", lambda r, v: False),
        ("expose", lambda r, v: False),
        ("isolation", lambda r, v: v in ("default", "")),
        ("is-task", lambda r, v: v == "false"),
    ]
    order = {r.id: i for i, r in enumerate(records)}  # newest first: a smaller index is newer

    def match(record: ContainerRecord) -> bool:
        for key, test in tests:
            values = filters.get(key)
            if values and not any(test(record, v) for v in values):
                return False
        if exited and not (record.state.status == "exited" and record.state.exit_code in exited):
            return False
        if before is not None and order[record.id] <= before:
            return False
        return not (since is not None and order[record.id] >= since)

    return match


def _position(values: Sequence[str], records: Sequence[ContainerRecord], key: str) -> int | None:
    if not values:
        return None
    ref = values[-1]
    for i, r in enumerate(records):
        if r.id == ref or r.name == ref.removeprefix("/") or r.id.startswith(ref):
            return i
    raise NotFound(f"No such container: {ref}")


def _status(record: ContainerRecord) -> str:
    state = record.state
    if state.status == "paused" or getattr(state, "paused", False):
        return "paused"
    return state.status


def _health(record: ContainerRecord) -> str:
    health = getattr(record.state, "health", None)
    if health is None or record.state.status not in ("running", "paused"):
        return "none"
    return str(getattr(health, "status", "none"))


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _label(labels: Mapping[str, str], wanted: str) -> bool:
    key, has_value, value = wanted.partition("=")
    return key in labels and (not has_value or labels[key] == value)


def _ancestor(record: ContainerRecord, value: str) -> bool:
    image = record.config.image
    normal = value if ":" in value.rsplit("/", 1)[-1] or value.startswith("sha256:") else value + ":latest"
    shown = image if ":" in image.rsplit("/", 1)[-1] else image + ":latest"
    bare = record.image_id.removeprefix("sha256:")
    return normal == shown or value == record.image_id or (len(value) >= 4 and bare.startswith(value.removeprefix(
        "sha256:")))  # fmt: skip
