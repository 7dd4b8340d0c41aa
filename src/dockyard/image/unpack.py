"""Unpacks an image's layers into snapshots keyed by chain ID: each layer once, verified against its diff_id.

A layer is applied (image/archive.apply_layer, hardened) into an active snapshot `extract-<chain hex>` on top of
the previous chain ID, and committed under its own chain ID only when the uncompressed digest matches the
config's rootfs.diff_ids entry (an uncompressed blob whose digest is that entry was verified by the content
store at commit, so it is not hashed again); on any failure the extract snapshot is removed. One flock per
chain ID makes concurrent unpacks of the same layer wait for each other instead of both extracting it.
Overlay snapshots with parents are applied through a temporary overlay mount, so whiteouts become overlay
whiteouts in the upper directory. Runs apply_layer, which may start worker threads: never call it from a
process that must stay single-threaded (the runtime).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator

from dockyard.errors import InvalidArgument, NotFound
from dockyard.image.archive import apply_layer
from dockyard.image.content import ContentStore
from dockyard.image.snapshots.base import Mount, Snapshotter
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor, ImageConfig, Manifest

EXTRACT_PREFIX = "extract-"


def extract_key(chain_id: Digest) -> str:
    return f"{EXTRACT_PREFIX}{chain_id.hex}"


def unpack(
    content: ContentStore, snapshotter: Snapshotter, manifest: Manifest, config: ImageConfig, locks: str, scratch: str
) -> int:
    """Unpack every layer not unpacked yet; returns the image's unpacked size (sum of its layer snapshots).

    `locks` holds the per-layer lock files, `scratch` the temporary mount points.
    """
    diff_ids = config.rootfs.diff_ids
    if len(manifest.layers) != len(diff_ids):
        raise InvalidArgument(
            f"unpack image `{manifest.config.digest}`: {len(manifest.layers)} layers but {len(diff_ids)} diff_ids"
        )
    parent: str | None = None
    size = 0
    for layer, diff_id, chain_id in zip(manifest.layers, diff_ids, config.chain_ids(), strict=True):
        key = str(chain_id)
        if not snapshotter.exists(key):
            with _layer_lock(locks, chain_id):
                if not snapshotter.exists(key):
                    _unpack_layer(content, snapshotter, layer, diff_id, chain_id, parent, scratch)
        size += snapshotter.usage(key).size
        parent = key
    return size


def _unpack_layer(
    content: ContentStore,
    snapshotter: Snapshotter,
    layer: Descriptor,
    diff_id: Digest,
    chain_id: Digest,
    parent: str | None,
    scratch: str,
) -> None:
    try:
        compression = mediatypes.layer_compression(layer.media_type)
    except KeyError as err:
        raise InvalidArgument(f"unpack layer `{layer.digest}`: unsupported media type `{layer.media_type}`") from err
    extract = extract_key(chain_id)
    if snapshotter.exists(extract):
        snapshotter.remove(extract)  # left by a process that died while extracting (we hold the layer lock)
    mounts = snapshotter.prepare(extract, parent)
    try:
        try:
            blob = content.open(layer.digest)
        except NotFound as err:
            raise NotFound(f"unpack layer `{layer.digest}`: blob not found") from err
        # An uncompressed layer's blob digest is its diff_id, and the content store checked that digest at commit.
        known = compression is None and layer.digest == diff_id
        with blob, _mounted(mounts, scratch, chain_id) as target:
            stats = apply_layer(blob, target, compression=compression or "none", digest=not known)
        if not known and stats.diff_id != str(diff_id):
            raise InvalidArgument(
                f"unpack layer `{layer.digest}`: diff_id mismatch, the config says {diff_id}, the layer is"
                f" {stats.diff_id}"
            )
        snapshotter.commit(str(chain_id), extract)
    except BaseException:
        with contextlib.suppress(Exception):
            snapshotter.remove(extract)
        raise


@contextlib.contextmanager
def _mounted(mounts: list[Mount], scratch: str, chain_id: Digest) -> Iterator[str]:
    """The directory to apply into: a writable bind mount's source directly, else a temporary mount."""
    if len(mounts) == 1 and mounts[0].type == "bind" and "ro" not in mounts[0].options:
        yield mounts[0].source
        return
    from dockyard.image.snapshots.mount import mount_all, unmount

    base = os.path.join(scratch, "mnt")
    os.makedirs(base, exist_ok=True)
    target = tempfile.mkdtemp(prefix=f"{chain_id.hex[:12]}-", dir=base)
    try:
        mount_all(mounts, target)
        try:
            yield target
        finally:
            unmount(target)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(target)


@contextlib.contextmanager
def _layer_lock(locks: str, chain_id: Digest) -> Iterator[None]:
    os.makedirs(locks, exist_ok=True)
    fd = os.open(os.path.join(locks, f"{chain_id.hex}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
