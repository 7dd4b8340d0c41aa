"""`ImageSource`: one image as its manifest, its config and its blobs, wherever they live (an archive, an OCI
layout, the local content store); `describe` validates a source into the parsed documents.

Sources hand out bytes; they do not verify them. Verification against the descriptors is the reader's job
(`load.ingest` does it while copying into the store). No source writes anything.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from dockyard.errors import InvalidArgument, NotFound
from dockyard.image.content import ContentStore, read_blob
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor, ImageConfig, ImageSpecError, Manifest
from dockyard.oci.reference import Reference


class ImageSource(Protocol):
    """One image.

    Contract: `raw_manifest()` is the exact bytes of an OCI or Docker schema 2 image manifest (never an index);
    `raw_config()` the bytes of the config blob it names; `open_blob(d)` a reader of the bytes of the blob `d`
    describes (layers, config), which the caller closes and verifies; NotFound for a blob the source lacks.
    """

    def raw_manifest(self) -> bytes: ...

    def raw_config(self) -> bytes: ...

    def open_blob(self, descriptor: Descriptor) -> BinaryIO: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedSource:
    """An image found in an archive, with the names the archive gives it (possibly none)."""

    source: ImageSource
    names: tuple[Reference, ...] = ()
    label: str = ""  # how errors name it: a tag, or the archive path of its config


@dataclass(frozen=True, slots=True, kw_only=True)
class Described:
    """The validated documents of a source: image ID = `config.id()`."""

    manifest: Manifest
    config: ImageConfig

    @property
    def manifest_digest(self) -> Digest:
        return self.manifest.digest()

    @property
    def image_id(self) -> Digest:
        return self.config.id()


def describe(source: ImageSource, label: str) -> Described:
    """Parse and cross-check manifest and config: digest of the config, known media types, one diff ID per layer."""
    try:
        manifest = Manifest.from_bytes(source.raw_manifest())
    except ImageSpecError as err:
        raise InvalidArgument(f"{label}: {err.message}") from err
    if manifest.media_type is not None and not mediatypes.is_manifest(manifest.media_type):
        raise InvalidArgument(f"{label}: unsupported manifest media type `{manifest.media_type}`")
    if not mediatypes.is_config(manifest.config.media_type):
        raise InvalidArgument(f"{label}: unsupported config media type `{manifest.config.media_type}`")
    raw_config = source.raw_config()
    actual = Digest.of_bytes(raw_config, manifest.config.digest.algorithm)
    if actual != manifest.config.digest or len(raw_config) != manifest.config.size:
        raise InvalidArgument(f"{label}: config `{manifest.config.digest}`: digest mismatch, got {actual}")
    try:
        config = ImageConfig.from_bytes(raw_config)
    except ImageSpecError as err:
        raise InvalidArgument(f"{label}: {err.message}") from err
    for index, layer in enumerate(manifest.layers):
        if not mediatypes.is_layer(layer.media_type):
            raise InvalidArgument(
                f"{label}: layer {index} `{layer.digest}`: unsupported media type `{layer.media_type}`"
            )
    if len(manifest.layers) != len(config.rootfs.diff_ids):
        raise InvalidArgument(
            f"{label}: the manifest has {len(manifest.layers)} layers,"
            f" the config {len(config.rootfs.diff_ids)} diff ids"
        )
    return Described(manifest=manifest, config=config)


class ContentSource:
    """An image whose manifest and blobs are in a ContentStore (the local image store's images)."""

    def __init__(self, content: ContentStore, manifest_digest: Digest) -> None:
        self.content = content
        self.manifest_digest = manifest_digest
        self._manifest: bytes | None = None

    def raw_manifest(self) -> bytes:
        if self._manifest is None:
            self._manifest = read_blob(self.content, self.manifest_digest)
        return self._manifest

    def raw_config(self) -> bytes:
        manifest = Manifest.from_bytes(self.raw_manifest())
        return read_blob(self.content, manifest.config.digest)

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return self.content.open(descriptor.digest)


class MemorySource:
    """A source built in memory (tests, `import`): the manifest, the config and the blobs by digest."""

    def __init__(self, manifest: bytes, config: bytes, blobs: dict[Digest, bytes]) -> None:
        self._manifest = manifest
        self._config = config
        self._blobs = blobs

    def raw_manifest(self) -> bytes:
        return self._manifest

    def raw_config(self) -> bytes:
        return self._config

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        if descriptor.digest == Manifest.from_bytes(self._manifest).config.digest:
            return io.BytesIO(self._config)
        data = self._blobs.get(descriptor.digest)
        if data is None:
            raise NotFound(f"blob `{descriptor.digest}`: not found")
        return io.BytesIO(data)
