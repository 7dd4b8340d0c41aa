"""Images: content store, snapshots, unpack, the image store, gc; `open_store` wires them for a data root."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.image.snapshots.base import Snapshotter
    from dockyard.image.store import ImageStore
    from dockyard.paths import Paths


def open_snapshotter(paths: Paths, *, recover: bool = True) -> Snapshotter:
    """The data root's snapshotter (overlay or native, chosen once per data root; see snapshots.choose)."""
    from dockyard.image import snapshots

    name = snapshots.choose(paths.image_root)
    return snapshots.open_snapshotter(name, paths.snapshots_root(name), recover=recover)


def open_store(paths: Paths) -> ImageStore:
    """The image store of a data root: its content store, its snapshotter and its metadata."""
    from dockyard.image.content import LocalContentStore
    from dockyard.image.store import ImageStore

    return ImageStore(paths.image_root, LocalContentStore(paths.content_root), open_snapshotter(paths))
