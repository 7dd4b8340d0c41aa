"""`docker save`: write images as a tar stream, in Docker ≥ 25's combined layout (the default: an OCI layout plus
manifest.json), the legacy docker-archive layout, or a plain OCI layout (oci-archive).

Docker's loaders want uncompressed layers in manifest.json, so for the combined and legacy layouts compressed
layers are decompressed (through an unnamed temporary file, to know their size before the tar header) and the
OCI manifest is re-made with uncompressed layers; an image whose layers are all uncompressed keeps its manifest
byte for byte. Blobs shared by several images are written once. Reads sources, writes only to `out`.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from dockyard.errors import InvalidArgument
from dockyard.image.transfer import docker_archive, oci_layout
from dockyard.image.transfer.compression import decompress
from dockyard.image.transfer.sources import Described, ImageSource, describe
from dockyard.image.transfer.tarwriter import TarWriter
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor
from dockyard.oci.reference import Reference

Layout = Literal["combined", "legacy", "oci"]
LAYOUTS: tuple[Layout, ...] = ("combined", "legacy", "oci")
_UNCOMPRESSED = {
    mediatypes.OCI_MANIFEST: mediatypes.OCI_LAYER,
    mediatypes.DOCKER_MANIFEST: mediatypes.DOCKER_LAYER,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveItem:
    source: ImageSource
    names: tuple[Reference, ...] = ()  # the tags to record (RepoTags, index annotations)
    label: str = ""


@contextlib.contextmanager
def _layer_stream(
    item: SaveItem, layer: Descriptor, uncompressed: bool, spool_dir: str | None
) -> Iterator[tuple[BinaryIO, int]]:
    """The layer's bytes and their size: as stored, or decompressed into a temporary file."""
    compression = mediatypes.layer_compression(layer.media_type)
    with item.source.open_blob(layer) as blob:
        if compression is None or not uncompressed:
            yield blob, layer.size
            return
        with tempfile.TemporaryFile(dir=spool_dir) as spool:
            size = decompress(blob, spool, compression, f"save: layer `{layer.digest}`")
            spool.seek(0)
            yield spool, size


def _uncompressed_manifest(doc: Described) -> tuple[bytes, bool]:
    """The manifest to write beside manifest.json: the stored one when no layer is compressed, else a new one."""
    if all(mediatypes.layer_compression(layer.media_type) is None for layer in doc.manifest.layers):
        return doc.manifest.to_bytes(), False
    layer_type = _UNCOMPRESSED.get(doc.manifest.media_type or mediatypes.OCI_MANIFEST, mediatypes.OCI_LAYER)
    layers = [{"mediaType": layer_type, "digest": str(diff_id), "size": -1} for diff_id in doc.config.rootfs.diff_ids]
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": doc.manifest.media_type or mediatypes.OCI_MANIFEST,
        "config": doc.manifest.config.to_json(),
        "layers": layers,
    }
    return json.dumps(data, separators=(",", ":")).encode(), True


class _Saver:
    def __init__(self, out: BinaryIO, layout: Layout, spool_dir: str | None) -> None:
        self.writer = TarWriter(out)
        self.layout = layout
        self.spool_dir = spool_dir
        self.index: list[dict[str, object]] = []
        self.manifest_json: list[dict[str, Any]] = []
        self.repositories: list[tuple[Sequence[Reference], str]] = []

    def blob(self, digest: Digest, data: bytes) -> str:
        path = oci_layout.blob_path(digest)
        if path not in self.writer:
            self.writer.add_dir("blobs")
            self.writer.add_dir(f"blobs/{digest.algorithm}")
            self.writer.add_bytes(path, data)
        return path

    def layer_blob(self, item: SaveItem, layer: Descriptor, diff_id: Digest, uncompressed: bool) -> tuple[str, int]:
        digest = diff_id if uncompressed else layer.digest
        path = oci_layout.blob_path(digest)
        with _layer_stream(item, layer, uncompressed, self.spool_dir) as (stream, size):
            if path not in self.writer:
                self.writer.add_dir("blobs")
                self.writer.add_dir(f"blobs/{digest.algorithm}")
                self.writer.add_stream(path, stream, size)
        return path, size

    def add(self, item: SaveItem) -> None:
        doc = describe(item.source, item.label)
        config_raw = item.source.raw_config()
        if self.layout == "legacy":
            self._legacy(item, doc, config_raw)
            return
        uncompressed = self.layout == "combined"
        manifest_raw, remade = _uncompressed_manifest(doc) if uncompressed else (doc.manifest.to_bytes(), False)
        config_path = self.blob(doc.manifest.config.digest, config_raw)
        layer_paths, sizes = [], []
        for layer, diff_id in zip(doc.manifest.layers, doc.config.rootfs.diff_ids, strict=True):
            path, size = self.layer_blob(item, layer, diff_id, uncompressed)
            layer_paths.append(path)
            sizes.append(size)
        if remade:
            data = json.loads(manifest_raw)
            for entry, size in zip(data["layers"], sizes, strict=True):
                entry["size"] = size
            manifest_raw = json.dumps(data, separators=(",", ":")).encode()
        digest = Digest.of_bytes(manifest_raw)
        self.blob(digest, manifest_raw)
        media_type = doc.manifest.media_type or mediatypes.OCI_MANIFEST
        descriptor = Descriptor(media_type=media_type, digest=digest, size=len(manifest_raw))
        self.index.extend(oci_layout.index_entries(descriptor, item.names))
        if self.layout == "combined":
            self.manifest_json.append(docker_archive.manifest_json_entry(config_path, item.names, layer_paths))

    def _legacy(self, item: SaveItem, doc: Described, config_raw: bytes) -> None:
        config_path = f"{doc.image_id.hex}.json"
        if config_path not in self.writer:
            self.writer.add_bytes(config_path, config_raw)
        ids = docker_archive.v1_ids(doc.config.chain_ids())
        parent: str | None = None
        for i, layer in enumerate(doc.manifest.layers):
            layer_id = ids[i]
            if layer_id not in self.writer:
                self.writer.add_dir(layer_id)
                self.writer.add_bytes(f"{layer_id}/VERSION", b"1.0")
                top = i == len(ids) - 1
                self.writer.add_bytes(f"{layer_id}/json", docker_archive.v1_json(layer_id, parent, doc.config, top))
                with _layer_stream(item, layer, True, self.spool_dir) as (stream, size):
                    self.writer.add_stream(f"{layer_id}/layer.tar", stream, size)
            parent = layer_id
        paths = [f"{i}/layer.tar" for i in ids]
        self.manifest_json.append(docker_archive.manifest_json_entry(config_path, item.names, paths))
        if ids:
            self.repositories.append((item.names, ids[-1]))

    def finish(self) -> None:
        if self.layout != "legacy":
            oci_layout.write_layout_files(self.writer, self.index)
        if self.layout != "oci":
            manifest = json.dumps(self.manifest_json, separators=(",", ":")).encode()
            self.writer.add_bytes(docker_archive.MANIFEST_FILE, manifest)
        if self.layout == "legacy":
            self.writer.add_bytes(docker_archive.REPOSITORIES_FILE, docker_archive.repositories(self.repositories))
        self.writer.close()


def save(
    items: Sequence[SaveItem], out: BinaryIO, *, layout: Layout = "combined", spool_dir: str | None = None
) -> None:
    """Write `items` to `out` as one tar in `layout`."""
    if layout not in LAYOUTS:
        raise InvalidArgument(f"save: unknown layout `{layout}`, expected one of {', '.join(LAYOUTS)}")
    saver = _Saver(out, layout, spool_dir)
    for item in items:
        saver.add(item)
    saver.finish()
