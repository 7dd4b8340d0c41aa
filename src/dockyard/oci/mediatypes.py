"""Media types of the OCI image spec and of Docker's image manifest v2 schema 2, and small predicates on them.

Pure constants: nothing here reads or fetches anything.
"""

from __future__ import annotations

# OCI image-spec v1.1
OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Non-distributable layers: deprecated in image-spec 1.1, still found in Windows images.
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# Docker image manifest v2, schema 2 (and the manifest list)
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Not in Docker's spec: BuildKit names zstd layers of Docker-type images so.
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
# Schema 1 is refused by current Docker ("support has been removed"); named only to recognise it.
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})
SCHEMA1 = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})

_GZIP_LAYERS = frozenset(
    {OCI_LAYER_GZIP, OCI_LAYER_NONDISTRIBUTABLE_GZIP, DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN_GZIP}
)
_ZSTD_LAYERS = frozenset({OCI_LAYER_ZSTD, OCI_LAYER_NONDISTRIBUTABLE_ZSTD, DOCKER_LAYER_ZSTD})
_PLAIN_LAYERS = frozenset({OCI_LAYER, OCI_LAYER_NONDISTRIBUTABLE, DOCKER_LAYER, DOCKER_LAYER_FOREIGN})
LAYERS = _GZIP_LAYERS | _ZSTD_LAYERS | _PLAIN_LAYERS
NON_DISTRIBUTABLE = frozenset(
    {
        OCI_LAYER_NONDISTRIBUTABLE,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
        DOCKER_LAYER_FOREIGN,
        DOCKER_LAYER_FOREIGN_GZIP,
    }
)


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFESTS


def is_index(media_type: str) -> bool:
    return media_type in INDEXES


def is_config(media_type: str) -> bool:
    return media_type in CONFIGS


def is_layer(media_type: str) -> bool:
    return media_type in LAYERS


def is_non_distributable(media_type: str) -> bool:
    """Foreign (Docker) or non-distributable (OCI) layers: pulled from their `urls`, never pushed."""
    return media_type in NON_DISTRIBUTABLE


def layer_compression(media_type: str) -> str | None:
    """`gzip`, `zstd`, or None for an uncompressed tar; raises KeyError for a media type that is not a layer."""
    if media_type in _GZIP_LAYERS:
        return "gzip"
    if media_type in _ZSTD_LAYERS:
        return "zstd"
    if media_type in _PLAIN_LAYERS:
        return None
    raise KeyError(media_type)
