"""`docker load`: read an archive (docker-archive, Docker ≥ 25's combined layout, oci-archive; plain, gzip, zstd,
bzip2 or xz), verify every blob while copying it into the content store, then add the images to the store.

Bad input leaves the store as it was: documents are checked before any blob is written, a layer whose digest,
size or diff ID does not match is refused, and the layers this load wrote are removed again when it fails. The
writes happen under the store's lease, so garbage collection never sweeps them half-way.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from dockyard.errors import DockyardError, InvalidArgument, NotFound, Unsupported
from dockyard.image.content import ContentStore
from dockyard.image.transfer.compression import decompress, detect
from dockyard.image.transfer.docker_archive import REPOSITORIES_FILE, is_docker_archive, read_docker_archive
from dockyard.image.transfer.oci_layout import is_layout, read_layout
from dockyard.image.transfer.sources import Described, NamedSource, describe
from dockyard.image.transfer.tarindex import ArchiveFiles, TarIndex
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor

if TYPE_CHECKING:
    from dockyard.image.store import ImageStore

LABEL = "load"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Loaded:
    image_id: Digest
    tags: tuple[str, ...]  # familiar names, `busybox:latest`


@contextlib.contextmanager
def open_archive(stream: BinaryIO, spool_dir: str | None = None) -> Iterator[ArchiveFiles]:
    """The archive read from `stream`, decompressed into an unnamed temporary file when needed."""
    head = stream.read(6)
    kind = detect(head)
    seekable = kind == "none" and _seekable(stream)
    if seekable:
        stream.seek(0)
        yield TarIndex(stream, LABEL)
        return
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        rest = _Prefixed(head, stream)
        if kind == "none":
            while chunk := rest.read(_CHUNK):
                spool.write(chunk)
        else:
            decompress(rest, spool, kind, LABEL)
        spool.flush()
        yield TarIndex(spool, LABEL)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, OSError):
        return False


class _Prefixed:
    """`head` followed by the rest of `stream`."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._stream.read(size)


def read_archive(files: ArchiveFiles) -> list[NamedSource]:
    """The images an archive holds, by its format: manifest.json first (Docker), else index.json (OCI)."""
    if is_docker_archive(files):
        return read_docker_archive(files)
    if is_layout(files):
        return read_layout(files)
    if files.exists(REPOSITORIES_FILE):
        raise Unsupported(f"{LABEL}: archives without manifest.json (Docker before 1.10) are not supported")
    raise InvalidArgument(f"{LABEL}: not an image archive: it has neither manifest.json nor index.json")


class _Tee:
    """Reads from `src`, writing every chunk to the blob writer on the way."""

    def __init__(self, src: BinaryIO, sink: Callable[[bytes], object]) -> None:
        self._src = src
        self._sink = sink

    def read(self, size: int = -1) -> bytes:
        data = self._src.read(size)
        if data:
            self._sink(data)
        return data


class _HashSink:
    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return len(data)


def copy_layer(content: ContentStore, named: NamedSource, index: int, layer: Descriptor, diff_id: Digest) -> bool:
    """Copy one layer blob into `content`, verifying size, digest and diff ID; False when it was there already."""
    what = f"{named.label}: layer {index} `{layer.digest}`"
    if content.exists(layer.digest):
        return False
    compression = mediatypes.layer_compression(layer.media_type) or "none"
    try:
        blob = named.source.open_blob(layer)
    except NotFound as err:
        raise InvalidArgument(f"{what}: blob is missing from the archive") from err
    with blob, content.writer(layer.digest, layer.size) as writer:
        try:
            if compression == "none":
                while chunk := blob.read(_CHUNK):
                    writer.write(chunk)
                diff = writer.digest()
            else:
                sink = _HashSink()
                decompress(_Tee(blob, writer.write), sink, compression, what)
                diff = Digest(algorithm="sha256", hex=sink.hash.hexdigest())
            if writer.digest() != layer.digest:
                raise InvalidArgument(f"{what}: digest mismatch, got {writer.digest()}")
            if diff != diff_id:
                raise InvalidArgument(f"{what}: diff id mismatch, the config says {diff_id}, the layer is {diff}")
            writer.commit()
        except DockyardError as err:
            if err.message.startswith(what):
                raise
            raise InvalidArgument(f"{what}: {err.message}") from err
    return True


def ingest(content: ContentStore, images: list[NamedSource]) -> tuple[list[Described], list[Digest]]:
    """Check every image's documents, then copy their layers; returns the documents and the blobs written.

    On failure the blobs this call wrote are deleted again before the error propagates.
    """
    described = [describe(named.source, named.label) for named in images]
    written: list[Digest] = []
    try:
        for named, doc in zip(images, described, strict=True):
            for i, (layer, diff_id) in enumerate(zip(doc.manifest.layers, doc.config.rootfs.diff_ids, strict=True)):
                if copy_layer(content, named, i, layer, diff_id):
                    written.append(layer.digest)
    except BaseException:
        discard(content, written)
        raise
    return described, written


def discard(content: ContentStore, digests: list[Digest]) -> None:
    for digest in digests:
        with contextlib.suppress(NotFound):
            content.delete(digest)


def load(store: ImageStore, stream: BinaryIO, progress: Callable[[str], None] = lambda _line: None) -> list[Loaded]:
    """Load every image of the archive in `stream` into `store`; `progress` gets Docker's output lines."""
    results: list[Loaded] = []
    with store.lease(), open_archive(stream, store.root) as files:
        images = read_archive(files)
        described, written = ingest(store.content, images)
        try:
            for named, doc in zip(images, described, strict=True):
                results.append(_add(store, named, doc, progress))
        except BaseException:
            if not results:
                discard(store.content, written)
            raise
    return results


def _add(store: ImageStore, named: NamedSource, doc: Described, progress: Callable[[str], None]) -> Loaded:
    tags = [ref.familiar_string() for ref in named.names]
    for tag in tags:
        with contextlib.suppress(NotFound):
            old = store.resolve_id(tag)
            if old != doc.image_id:
                progress(f"The image {tag} already exists, renaming the old one with ID {old} to empty string")
    image = store.add(doc.manifest.to_bytes(), doc.config.to_bytes(), [ref.string() for ref in named.names])
    for tag in tags:
        progress(f"Loaded image: {tag}")
    if not tags:
        progress(f"Loaded image ID: {image.id}")
    return Loaded(image_id=image.id, tags=tuple(tags))
