"""OCI image layouts (image-spec `image-layout.md`): `oci-layout`, `index.json`, `blobs/<alg>/<hex>`, read from an
archive (oci-archive, Docker ≥ 25's save) and written into one.

Reading follows nested indexes to the host's platform and takes names from the `io.containerd.image.name`
annotation (what Docker writes) or a `org.opencontainers.image.ref.name` that is a full reference. Writing emits
one index entry per name, as Docker does. Verifies nothing beyond the documents' shape; `load` verifies blobs.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from dockyard.errors import InvalidArgument, NotFound
from dockyard.image.transfer.sources import NamedSource
from dockyard.image.transfer.tarindex import ArchiveFiles, read_small
from dockyard.image.transfer.tarwriter import TarWriter
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor, ImageSpecError, Index, Manifest, Platform
from dockyard.oci.reference import Reference, parse_normalized_named

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LAYOUT_VERSION = "1.0.0"
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
_MAX_DEPTH = 4


def blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def host_platform() -> Platform:
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)
    return Platform(architecture=arch, os="linux")


class LayoutSource:
    """An image in an OCI layout: the manifest bytes from the index, blobs from `blobs/`."""

    def __init__(self, files: ArchiveFiles, manifest: bytes) -> None:
        self.files = files
        self._manifest = manifest

    def raw_manifest(self) -> bytes:
        return self._manifest

    def raw_config(self) -> bytes:
        try:
            config = Manifest.from_bytes(self._manifest).config
        except ImageSpecError as err:
            raise InvalidArgument(f"{self.files.label}: {err.message}") from err
        return read_small(self.files, blob_path(config.digest), "config")

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        path = blob_path(descriptor.digest)
        if not self.files.exists(path):
            raise NotFound(f"blob `{descriptor.digest}`: not found")
        return self.files.open(path)


def is_layout(files: ArchiveFiles) -> bool:
    return files.exists(INDEX_FILE)


def _check_layout_file(files: ArchiveFiles) -> None:
    if not files.exists(LAYOUT_FILE):
        return  # Docker's and skopeo's readers do not insist either
    raw = read_small(files, LAYOUT_FILE, "layout file")
    try:
        version = json.loads(raw).get("imageLayoutVersion")
    except (ValueError, AttributeError) as err:
        raise InvalidArgument(f"{files.label}: `{LAYOUT_FILE}`: not valid JSON") from err
    if version != LAYOUT_VERSION:
        raise InvalidArgument(f"{files.label}: `{LAYOUT_FILE}`: unsupported layout version `{version}`")


def read_index(files: ArchiveFiles) -> Index:
    _check_layout_file(files)
    raw = read_small(files, INDEX_FILE, "index")
    try:
        return Index.from_bytes(raw)
    except ImageSpecError as err:
        raise InvalidArgument(f"{files.label}: `{INDEX_FILE}`: {err.message}") from err


def _names(descriptor: Descriptor) -> tuple[Reference, ...]:
    annotations = descriptor.annotations or {}
    for text in (annotations.get(NAME_ANNOTATION), annotations.get(REF_ANNOTATION)):
        if not text or not any(c in text for c in "/:@"):
            continue  # a bare ref.name is a tag without a repository: no name to give
        try:
            ref = parse_normalized_named(text)
        except InvalidArgument:
            continue
        if ref.tag is None and ref.digest is None:
            ref = ref.with_tag("latest")
        return (ref,)
    return ()


def _matches(candidate: Platform | None, wanted: Platform) -> bool:
    return candidate is not None and candidate.os == wanted.os and candidate.architecture == wanted.architecture


def _manifests(files: ArchiveFiles, descriptor: Descriptor, depth: int) -> Iterator[tuple[Descriptor, bytes]]:
    """The image manifest(s) `descriptor` leads to: itself, or the host platform's entry of a nested index."""
    if depth > _MAX_DEPTH:
        raise InvalidArgument(f"{files.label}: index `{descriptor.digest}`: nested too deep")
    if not files.exists(blob_path(descriptor.digest)):
        raise InvalidArgument(f"{files.label}: manifest `{descriptor.digest}`: blob is missing from the archive")
    raw = read_small(files, blob_path(descriptor.digest), "manifest")
    if Digest.of_bytes(raw, descriptor.digest.algorithm) != descriptor.digest:
        raise InvalidArgument(f"{files.label}: manifest `{descriptor.digest}`: digest mismatch")
    if mediatypes.is_manifest(descriptor.media_type):
        yield descriptor, raw
        return
    if not mediatypes.is_index(descriptor.media_type):
        raise InvalidArgument(f"{files.label}: `{descriptor.digest}`: unsupported media type `{descriptor.media_type}`")
    try:
        nested = Index.from_bytes(raw)
    except ImageSpecError as err:
        raise InvalidArgument(f"{files.label}: index `{descriptor.digest}`: {err.message}") from err
    wanted = host_platform()
    images = [d for d in nested.manifests if mediatypes.is_manifest(d.media_type)]
    chosen = [d for d in images if _matches(d.platform, wanted)] or (images if len(images) == 1 else [])
    if not chosen:
        raise NotFound(
            f"{files.label}: index `{descriptor.digest}`: no image for platform {wanted.os}/{wanted.architecture}"
        )
    yield from _manifests(files, chosen[0], depth + 1)


def read_layout(files: ArchiveFiles) -> list[NamedSource]:
    """The images of the layout's index.json in order; entries naming the same manifest are merged."""
    index = read_index(files)
    by_digest: dict[Digest, tuple[bytes, list[Reference]]] = {}
    for top in index.manifests:
        for descriptor, raw in _manifests(files, top, 0):
            _, names = by_digest.setdefault(descriptor.digest, (raw, []))
            names.extend(n for n in _names(top) if n not in names)
    return [
        NamedSource(
            source=LayoutSource(files, raw),
            names=tuple(names),
            label=names[0].familiar_string() if names else str(digest),
        )
        for digest, (raw, names) in by_digest.items()
    ]


def index_entries(manifest: Descriptor, names: Iterable[Reference]) -> list[dict[str, object]]:
    """index.json entries for one manifest: one per name (annotated as Docker does), or one bare entry."""
    base = {"mediaType": manifest.media_type, "digest": str(manifest.digest), "size": manifest.size}
    entries: list[dict[str, object]] = []
    for ref in names:
        annotations = {NAME_ANNOTATION: ref.string()}
        if ref.tag is not None:
            annotations[REF_ANNOTATION] = ref.tag
        entries.append({**base, "annotations": annotations})
    return entries or [base]


def write_layout_files(writer: TarWriter, entries: list[dict[str, object]]) -> None:
    """`oci-layout` and `index.json`; the blobs are written by the caller."""
    writer.add_bytes(LAYOUT_FILE, json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries}
    writer.add_bytes(INDEX_FILE, json.dumps(index, separators=(",", ":")).encode())
