"""Docker's `docker save` archives: manifest.json (Config, RepoTags, Layers), `<config>.json`, `<id>/layer.tar`
(legacy) or `blobs/sha256/…` (Docker ≥ 25, with an OCI layout beside it), and `repositories`.

Reading: each manifest.json entry becomes an image source. When the OCI layout in the same archive has a manifest
for the same config (Docker ≥ 25), that manifest is kept byte for byte; otherwise a Docker schema 2 manifest is
made from the config and the layer files (an uncompressed layer's digest is its diff ID). Writing: the legacy
layout's files (`<v1 id>/{VERSION,json,layer.tar}`, `repositories`) and manifest.json. Verifies nothing itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard.errors import InvalidArgument, NotFound
from dockyard.image.transfer.compression import detect
from dockyard.image.transfer.oci_layout import read_layout
from dockyard.image.transfer.sources import NamedSource
from dockyard.image.transfer.tarindex import ArchiveFiles, read_small
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor, ImageConfig, ImageSpecError, Manifest
from dockyard.oci.reference import Reference, parse_normalized_named

MANIFEST_FILE = "manifest.json"
REPOSITORIES_FILE = "repositories"
_LAYER_TYPES = {
    "none": mediatypes.DOCKER_LAYER,
    "gzip": mediatypes.DOCKER_LAYER_GZIP,
    "zstd": mediatypes.DOCKER_LAYER_ZSTD,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestEntry:
    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


def is_docker_archive(files: ArchiveFiles) -> bool:
    return files.exists(MANIFEST_FILE)


def _strings(value: Any, where: str, label: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{label}: `{MANIFEST_FILE}` {where}: expected an array of strings")
    return tuple(value)


def read_manifest_json(files: ArchiveFiles) -> list[ManifestEntry]:
    raw = read_small(files, MANIFEST_FILE, "manifest")
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise InvalidArgument(f"{files.label}: `{MANIFEST_FILE}`: not valid JSON: {err}") from err
    if not isinstance(data, list):
        raise InvalidArgument(f"{files.label}: `{MANIFEST_FILE}`: expected an array of images")
    entries = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str):
            raise InvalidArgument(f"{files.label}: `{MANIFEST_FILE}` [{i}].Config: expected a string")
        entries.append(
            ManifestEntry(
                config=item["Config"],
                repo_tags=_strings(item.get("RepoTags"), f"[{i}].RepoTags", files.label),
                layers=_strings(item.get("Layers"), f"[{i}].Layers", files.label),
            )
        )
    return entries


def _tag(text: str, label: str) -> Reference:
    try:
        ref = parse_normalized_named(text)
    except InvalidArgument as err:
        raise InvalidArgument(f"{label}: invalid tag `{text}` in `{MANIFEST_FILE}`: {err.message}") from err
    if ref.digest is not None:
        raise InvalidArgument(f"{label}: invalid tag `{text}` in `{MANIFEST_FILE}`: a digest is not a tag")
    return ref if ref.tag is not None else ref.with_tag("latest")


class DockerArchiveSource:
    """One manifest.json entry; the schema 2 manifest is made on first use (compressed layers are hashed)."""

    def __init__(self, files: ArchiveFiles, entry: ManifestEntry) -> None:
        self.files = files
        self.entry = entry
        self._manifest: bytes | None = None
        self._paths: dict[Digest, str] = {}

    def raw_config(self) -> bytes:
        return read_small(self.files, self.entry.config, "config")

    def raw_manifest(self) -> bytes:
        if self._manifest is None:
            self._manifest = self._make_manifest()
        return self._manifest

    def _make_manifest(self) -> bytes:
        label = self.files.label
        raw_config = self.raw_config()
        try:
            config = ImageConfig.from_bytes(raw_config)
        except ImageSpecError as err:
            raise InvalidArgument(f"{label}: `{self.entry.config}`: {err.message}") from err
        diff_ids = config.rootfs.diff_ids
        if len(diff_ids) != len(self.entry.layers):
            raise InvalidArgument(
                f"{label}: `{self.entry.config}`: {len(self.entry.layers)} layers in `{MANIFEST_FILE}`,"
                f" {len(diff_ids)} diff ids in the config"
            )
        layers = [self._layer(path, diff_id) for path, diff_id in zip(self.entry.layers, diff_ids, strict=True)]
        manifest = {
            "schemaVersion": 2,
            "mediaType": mediatypes.DOCKER_MANIFEST,
            "config": {
                "mediaType": mediatypes.DOCKER_CONFIG,
                "size": len(raw_config),
                "digest": str(Digest.of_bytes(raw_config)),
            },
            "layers": layers,
        }
        return json.dumps(manifest, indent=3).encode()

    def _layer(self, path: str, diff_id: Digest) -> dict[str, Any]:
        if not self.files.exists(path):
            raise InvalidArgument(f"{self.files.label}: layer `{path}` is missing from the archive")
        with self.files.open(path) as f:
            compression = detect(f.read(6))
            if compression not in _LAYER_TYPES:
                raise InvalidArgument(f"{self.files.label}: layer `{path}`: unsupported compression `{compression}`")
            if compression == "none":
                digest = diff_id  # verified against the bytes when the layer is copied in
            else:
                f.seek(0)
                digest = Digest.of_stream(f)
        self._paths[digest] = path
        return {"mediaType": _LAYER_TYPES[compression], "size": self.files.size(path), "digest": str(digest)}

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        self.raw_manifest()
        path = self._paths.get(descriptor.digest)
        if path is None:
            if descriptor.digest == Digest.of_bytes(self.raw_config()):
                return self.files.open(self.entry.config)
            raise NotFound(f"blob `{descriptor.digest}`: not found")
        return self.files.open(path)


def read_docker_archive(files: ArchiveFiles) -> list[NamedSource]:
    """The images of manifest.json, with the OCI layout's manifests used where the archive has them."""
    by_config: dict[Digest, NamedSource] = {}
    if files.exists("index.json"):
        for found in read_layout(files):
            try:
                by_config[Manifest.from_bytes(found.source.raw_manifest()).config.digest] = found
            except ImageSpecError:
                continue  # reported when the entry is used, if it is
    out = []
    for entry in read_manifest_json(files):
        names = tuple(_tag(t, files.label) for t in entry.repo_tags)
        label = names[0].familiar_string() if names else entry.config
        config_digest = Digest.of_bytes(read_small(files, entry.config, "config"))
        layout = by_config.get(config_digest)
        source = layout.source if layout is not None else DockerArchiveSource(files, entry)
        out.append(NamedSource(source=source, names=names, label=label))
    return out


def v1_ids(chain_ids: Sequence[Digest]) -> list[str]:
    """Stable legacy layer IDs (the `<id>/` directories): a hash of the chain ID; only names, never checked."""
    return [Digest.of_bytes(f"dockyard-v1 {c}".encode()).hex for c in chain_ids]


def v1_json(layer_id: str, parent: str | None, config: ImageConfig, top: bool) -> bytes:
    """A legacy layer's `json`: its ID, parent and, for the top layer, the image's runtime config."""
    data: dict[str, Any] = {"id": layer_id}
    if parent:
        data["parent"] = parent
    data["created"] = config.created or "1970-01-01T00:00:00Z"
    data["container_config"] = {"Cmd": None}
    if top:
        data["architecture"] = config.architecture
        data["os"] = config.os
        if config.config is not None:
            data["config"] = json.loads(config.to_bytes()).get("config")
    return json.dumps(data, separators=(",", ":")).encode()


def manifest_json_entry(config_path: str, tags: Sequence[Reference], layer_paths: Sequence[str]) -> dict[str, Any]:
    return {
        "Config": config_path,
        "RepoTags": [t.familiar_string() for t in tags] or None,
        "Layers": list(layer_paths),
    }


def repositories(entries: Sequence[tuple[Sequence[Reference], str]]) -> bytes:
    """The legacy `repositories` file: familiar repository → tag → top layer's v1 ID."""
    repos: dict[str, dict[str, str]] = {}
    for tags, top in entries:
        for ref in tags:
            if ref.tag is not None:
                repos.setdefault(ref.familiar_name(), {})[ref.tag] = top
    return json.dumps(repos, separators=(",", ":")).encode()
