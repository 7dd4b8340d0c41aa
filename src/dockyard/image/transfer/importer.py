"""`docker import`: a root filesystem tarball (plain, gzip, zstd, bzip2 or xz; from a stream or an http(s) URL)
becomes a one-layer image, with `--change` instructions and a `-m` message (Docker's config and history comment).

The layer is stored uncompressed (its digest is its diff ID) after its tar headers were read through to the end;
a stream that is not a tar leaves nothing behind. Downloads go where the URL says: the caller decides which
URLs are acceptable. Config shape and wording follow moby's daemon/images/image_import.go.
"""

from __future__ import annotations

import json
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from dockyard.errors import InvalidArgument, NotFound, Unavailable
from dockyard.image.content import ContentStore
from dockyard.image.transfer.changes import apply_changes
from dockyard.image.transfer.compression import decompress, detect
from dockyard.image.transfer.oci_layout import host_platform
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import ContainerConfig
from dockyard.oci.jsonmodel import encode
from dockyard.oci.reference import Reference, parse_normalized_named, validate_tag

if TYPE_CHECKING:
    from dockyard.image.store import Image, ImageStore

_CHUNK = 1 << 20
_URL_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportOptions:
    source: str = "-"  # "-" for the request body, else a URL
    repo: str = ""
    tag: str = ""
    changes: tuple[str, ...] = ()
    message: str = ""


def import_reference(repo: str, tag: str) -> Reference | None:
    """The name to give the image (`repo` may carry a tag; `tag` overrides), as the daemon parses it."""
    if not repo:
        return None
    ref = parse_normalized_named(repo)
    if ref.digest is not None:
        raise InvalidArgument("cannot import digest reference")
    if tag:
        ref = ref.with_tag(validate_tag(tag))
    return ref if ref.tag is not None else ref.with_tag("latest")


def rfc3339_now() -> str:
    """UTC now as Go's RFC3339Nano writes it (trailing zeros of the fraction dropped)."""
    now = datetime.now(UTC)
    fraction = f"{now.microsecond:06d}".rstrip("0")
    return now.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


class _Prefixed:
    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._stream.read(size)


def store_rootfs(content: ContentStore, stream: BinaryIO) -> Digest:
    """Write the decompressed tar of `stream` into `content`, checking it is a tar; returns its digest (diff ID)."""
    head = stream.read(6)
    kind = detect(head)
    with content.writer() as writer:
        src = _Prefixed(head, stream)
        if kind == "none":
            while chunk := src.read(_CHUNK):
                writer.write(chunk)
        else:
            decompress(src, writer, kind, "import")
        digest = writer.digest()
        existed = content.exists(digest)
        writer.commit()
    try:
        with content.open(digest) as blob:
            _check_tar(blob)
    except InvalidArgument:
        if not existed:
            content.delete(digest)
        raise
    return digest


def _check_tar(blob: BinaryIO) -> None:
    if not blob.read(512).strip(b"\0"):
        return  # empty, or only end-of-archive blocks: an empty layer
    blob.seek(0)
    try:
        with tarfile.open(fileobj=blob, mode="r:") as tf:
            for _ in tf:
                pass
    except (tarfile.TarError, EOFError) as err:
        raise InvalidArgument(f"import: invalid tar archive: {err}") from err


def image_config(diff_id: Digest, container: ContainerConfig, comment: str, created: str) -> bytes:
    """The image config bytes, keys as Docker writes them (its image.Image struct order)."""
    platform = host_platform()
    config: dict[str, Any] = {
        "architecture": platform.architecture,
        "comment": comment,
        "config": encode(container),
        "created": created,
        "history": [{"created": created, "comment": comment}],
        "os": platform.os,
        "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def manifest_for(config_raw: bytes, layer_digest: Digest, layer_size: int) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.DOCKER_MANIFEST,
        "config": {
            "mediaType": mediatypes.DOCKER_CONFIG,
            "size": len(config_raw),
            "digest": str(Digest.of_bytes(config_raw)),
        },  # fmt: skip
        "layers": [{"mediaType": mediatypes.DOCKER_LAYER, "size": layer_size, "digest": str(layer_digest)}],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


@contextmanager
def open_url(url: str) -> Iterator[BinaryIO]:
    """GET `url` (a bare host/path gets http://, as Docker does); errors worded like Docker's."""
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise InvalidArgument(f"import: unsupported URL `{url}`: only http and https")
    try:
        response = urllib.request.urlopen(url, timeout=_URL_TIMEOUT)  # the scheme was checked above
    except urllib.error.HTTPError as err:
        body = err.read(4096).decode(errors="replace").strip()
        message = f"failed to GET {url} with status {err.code} {err.reason}: {body}"
        raise (NotFound(message) if err.code == 404 else InvalidArgument(message)) from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise Unavailable(f'Get "{url}": {reason}') from err
    with response:
        yield response


def import_image(
    store: ImageStore, stream: BinaryIO, options: ImportOptions, progress: Callable[[str], None] = lambda _s: None
) -> Image:
    """Import the rootfs tar read from `stream` as a new image (named when `options.repo` is set)."""
    ref = import_reference(options.repo, options.tag)
    container = apply_changes(ContainerConfig(), options.changes)
    comment = options.message or f"Imported from {options.source}"
    with store.lease():
        diff_id = store_rootfs(store.content, stream)
        size = store.content.info(diff_id).size
        config_raw = image_config(diff_id, container, comment, rfc3339_now())
        manifest_raw = manifest_for(config_raw, diff_id, size)
        return store.add(manifest_raw, config_raw, [ref.string()] if ref else [])
