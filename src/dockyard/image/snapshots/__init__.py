"""Snapshotters (overlay, native) and the choice between them for a data root; see base.py for the protocol."""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument
from dockyard.image.snapshots.base import Info, Mount, Snapshotter, Usage
from dockyard.image.snapshots.common import write_atomic

__all__ = ["NAMES", "Info", "Mount", "Snapshotter", "Usage", "choose", "open_snapshotter"]

NAMES = ("overlay", "native")
ENV = "DOCKYARD_SNAPSHOTTER"


def choose(image_root: str) -> str:
    """The snapshotter of a data root: DOCKYARD_SNAPSHOTTER, else the one recorded in `<image root>/snapshotter`,
    else overlay when a test mount works, else native; the choice is recorded so a data root never switches."""
    wanted = os.environ.get(ENV, "")
    if wanted and wanted not in NAMES:
        raise InvalidArgument(f"{ENV} `{wanted}`: unknown snapshotter, expected one of {', '.join(NAMES)}")
    record = os.path.join(image_root, "snapshotter")
    try:
        with open(record, encoding="ascii") as f:
            recorded = f.read().strip()
    except FileNotFoundError:
        recorded = ""
    if wanted:
        name = wanted
    elif recorded in NAMES:
        return recorded
    else:
        from dockyard.image.snapshots.overlay import supported

        name = "overlay" if supported(os.path.join(image_root, "snapshots"))[0] else "native"
    if name != recorded:
        os.makedirs(image_root, exist_ok=True)
        write_atomic(record, f"{name}\n".encode())
    return name


def open_snapshotter(name: str, root: str, *, recover: bool = True) -> Snapshotter:
    """The snapshotter `name` with its state under `root` (`recover`: run its crash recovery first)."""
    if name == "overlay":
        from dockyard.image.snapshots.overlay import OverlaySnapshotter

        return OverlaySnapshotter(root, recover=recover)
    if name == "native":
        from dockyard.image.snapshots.native import NativeSnapshotter

        return NativeSnapshotter(root, recover=recover)
    raise InvalidArgument(f"snapshotter `{name}`: unknown, expected one of {', '.join(NAMES)}")
