"""Image transforms that return new images: start from a config, append a layer, change the config.

A `Built` image is a manifest and a config with their exact bytes; every transform re-encodes what it changes
(so digests change) and never touches a store. `store_layer` writes a layer tar into a content store,
compressing it and computing its diff_id on the way; gzip output is reproducible (no name, mtime 0).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard.errors import InvalidArgument
from dockyard.image.content import BlobWriter, ContentStore
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import ContainerConfig, Descriptor, History, ImageConfig, Manifest, RootFS
from dockyard.oci.model import replace

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Built:
    manifest: Manifest
    config: ImageConfig

    @property
    def manifest_raw(self) -> bytes:
        return self.manifest.to_bytes()

    @property
    def config_raw(self) -> bytes:
        return self.config.to_bytes()

    @property
    def id(self) -> Digest:
        return self.config.id()


def _reencode(config: ImageConfig) -> ImageConfig:
    return ImageConfig.from_bytes(replace(config, raw=b"").to_bytes())


def _with_config(manifest: Manifest, config: ImageConfig, layers: tuple[Descriptor, ...] | None = None) -> Built:
    raw = config.to_bytes()
    descriptor = Descriptor(media_type=manifest.config.media_type, digest=Digest.of_bytes(raw), size=len(raw))
    new = replace(manifest, config=descriptor, layers=manifest.layers if layers is None else layers, raw=b"")
    return Built(manifest=Manifest.from_bytes(new.to_bytes()), config=config)


def new_image(config: ImageConfig, *, docker: bool = False) -> Built:
    """An image without layers from `config` (its rootfs is reset to no layers). `docker` picks Docker schema 2
    media types instead of OCI ones."""
    config = _reencode(replace(config, rootfs=RootFS(type="layers"), raw=b""))
    config_type = mediatypes.DOCKER_CONFIG if docker else mediatypes.OCI_CONFIG
    manifest = Manifest(
        schema_version=2,
        media_type=mediatypes.DOCKER_MANIFEST if docker else mediatypes.OCI_MANIFEST,
        config=Descriptor(media_type=config_type, digest=config.id(), size=len(config.to_bytes())),
    )
    return _with_config(manifest, config, ())


def append_layer(image: Built, layer: Descriptor, diff_id: Digest, history: History | None = None) -> Built:
    """The image with one more layer (and a history entry, when given)."""
    if not mediatypes.is_layer(layer.media_type):
        raise InvalidArgument(f"append layer `{layer.digest}`: `{layer.media_type}` is not a layer media type")
    rootfs = RootFS(type="layers", diff_ids=(*image.config.rootfs.diff_ids, diff_id))
    entries = (*(image.config.history or ()), history) if history is not None else image.config.history
    config = _reencode(replace(image.config, rootfs=rootfs, history=entries, raw=b""))
    return _with_config(image.manifest, config, (*image.manifest.layers, layer))


def set_config(image: Built, *, container: ContainerConfig | None = None, **fields: Any) -> Built:
    """The image with config fields replaced: `created`, `author`, … and `container` for the "config" object."""
    if "rootfs" in fields or "raw" in fields:
        raise InvalidArgument("set config: rootfs changes only through append_layer")
    if container is not None:
        fields["config"] = container
    config = _reencode(replace(image.config, raw=b"", **fields))
    return _with_config(image.manifest, config)


def store_layer(
    content: ContentStore, tar: BinaryIO, *, compression: str = "gzip", docker: bool = False
) -> tuple[Descriptor, Digest]:
    """Write the uncompressed tar stream `tar` into `content` as a layer blob ("gzip" or "none");
    returns its descriptor and its diff_id (sha256 of the tar)."""
    if compression not in ("gzip", "none"):
        raise InvalidArgument(f"store layer: unsupported compression `{compression}`")
    diff = hashlib.sha256()
    with content.writer() as writer:
        sink = _WriterSink(writer)
        out: Any = gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0) if compression == "gzip" else sink
        while chunk := tar.read(_CHUNK):
            diff.update(chunk)
            out.write(chunk)
        if out is not sink:
            out.close()
        info = writer.commit()
    if docker:
        media_type = mediatypes.DOCKER_LAYER_GZIP if compression == "gzip" else mediatypes.DOCKER_LAYER
    else:
        media_type = mediatypes.OCI_LAYER_GZIP if compression == "gzip" else mediatypes.OCI_LAYER
    descriptor = Descriptor(media_type=media_type, digest=info.digest, size=info.size)
    return descriptor, Digest(algorithm="sha256", hex=diff.hexdigest())


class _WriterSink:
    """A write-only file object over a BlobWriter, for GzipFile."""

    def __init__(self, writer: BlobWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> int:
        return self._writer.write(bytes(data))

    def flush(self) -> None:
        pass
