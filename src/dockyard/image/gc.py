"""Garbage collection and the consistency check of the image store (blobs, records, names, snapshots).

`collect` removes every blob and snapshot no image and no container references (mark and sweep under the store's
exclusive lease, so content being added is never swept). `check` re-hashes every blob and reports corruption and
dangling references, one message each. Knows containers only as the snapshot keys the caller passes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.errors import DockyardError
from dockyard.image.content import read_blob
from dockyard.image.snapshots.common import remove_tree
from dockyard.image.store import ImageStore, Record
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import ImageConfig, Manifest


@dataclass(frozen=True, slots=True, kw_only=True)
class GcReport:
    blobs: tuple[Digest, ...]
    reclaimed: int  # bytes of the blobs removed
    snapshots: tuple[str, ...]


def _documents(store: ImageStore, image_id: Digest, record: Record) -> tuple[Manifest, ImageConfig] | None:
    try:
        manifest = Manifest.from_bytes(read_blob(store.content, record.manifest))
        config = ImageConfig.from_bytes(read_blob(store.content, image_id))
    except DockyardError:
        return None
    return manifest, config


def _marks(store: ImageStore) -> tuple[set[Digest], set[str]]:
    """The blobs and snapshot keys the image records reference."""
    _names, records = store.references()
    blobs: set[Digest] = set()
    snapshots: set[str] = set()
    for image_id, record in records.items():
        blobs.update((record.manifest, image_id))
        documents = _documents(store, image_id, record)
        if documents is None:
            continue
        manifest, config = documents
        blobs.update(layer.digest for layer in manifest.layers)
        snapshots.update(str(c) for c in config.chain_ids())
    return blobs, snapshots


def collect(store: ImageStore, keep_snapshots: Iterable[str] = ()) -> GcReport:
    """Remove unreferenced blobs and snapshots; `keep_snapshots` are the containers' snapshot keys."""
    with store.lease(exclusive=True):
        keep_blobs, keep_keys = _marks(store)
        removed: list[Digest] = []
        reclaimed = 0
        for info in list(store.content.walk()):
            if info.digest not in keep_blobs:
                with contextlib.suppress(DockyardError):
                    store.content.delete(info.digest)
                    removed.append(info.digest)
                    reclaimed += info.size
        gone = _sweep_snapshots(store, keep_keys | set(keep_snapshots))
        _clean_scratch(store)
    return GcReport(blobs=tuple(removed), reclaimed=reclaimed, snapshots=tuple(gone))


def _sweep_snapshots(store: ImageStore, roots: set[str]) -> list[str]:
    snapshotter = store.snapshotter
    if snapshotter is None:
        return []
    parents = {info.key: info.parent for info in snapshotter.walk()}
    keep: set[str] = set()
    for key in roots:
        current: str | None = key
        while current is not None and current in parents and current not in keep:
            keep.add(current)
            current = parents[current]

    def depth(key: str) -> int:
        n, current = 0, parents.get(key)
        while current is not None and n < 10_000:
            n, current = n + 1, parents.get(current)
        return n

    gone = []
    for key in sorted(set(parents) - keep, key=depth, reverse=True):  # children before their parents
        with contextlib.suppress(DockyardError):
            snapshotter.remove(key)
            gone.append(key)
    return gone


def _clean_scratch(store: ImageStore) -> None:
    """Mounts and lock files a dead unpack left (no unpack runs while the exclusive lease is held)."""
    from dockyard.image.snapshots.mount import is_mountpoint, unmount

    scratch = os.path.join(store.root, "mnt")
    for entry in os.listdir(scratch) if os.path.isdir(scratch) else []:
        path = os.path.join(scratch, entry)
        with contextlib.suppress(DockyardError, OSError):
            if is_mountpoint(path):
                unmount(path)
            remove_tree(path)
    for entry in os.listdir(store.locks_dir):
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(store.locks_dir, entry))


def check(store: ImageStore) -> list[str]:
    """Every problem found: corrupt blobs, names and records pointing at what is missing, broken snapshots."""
    problems = list(store.content.check())
    names, records = store.references()
    manifests = {r.manifest for r in records.values()}
    for name, manifest in sorted(names.items()):
        if manifest not in manifests:
            problems.append(f"name `{name}`: manifest `{manifest}` belongs to no image")
    snapshotter = store.snapshotter
    for image_id, record in sorted(records.items()):
        problems.extend(_check_image(store, image_id, record))
        documents = _documents(store, image_id, record)
        if snapshotter is None or documents is None or record.unpacked != snapshotter.name:
            continue
        for chain_id in documents[1].chain_ids():
            if not snapshotter.exists(str(chain_id)):
                problems.append(f"image `{image_id}`: layer snapshot `{chain_id}` is missing")
    if snapshotter is not None:
        problems.extend(snapshotter.check())
    return problems


def _check_image(store: ImageStore, image_id: Digest, record: Record) -> list[str]:
    what = f"image `{image_id}`"
    try:
        manifest = Manifest.from_bytes(read_blob(store.content, record.manifest))
    except DockyardError as err:
        return [f"{what}: manifest `{record.manifest}`: {err.message}"]
    if manifest.config.digest != image_id:
        return [f"{what}: manifest `{record.manifest}` names config `{manifest.config.digest}`"]
    try:
        ImageConfig.from_bytes(read_blob(store.content, image_id))
    except DockyardError as err:
        return [f"{what}: config: {err.message}"]
    return [
        f"{what}: layer blob `{layer.digest}` is missing"
        for layer in manifest.layers
        if not store.content.exists(layer.digest)
    ]
