"""The local store's side of save: which images and tags a list of names means (moby's tarexport parseNames),
and a save streamed as byte chunks from a worker thread, under the store's lease so GC waits for it.

Reads the store only; never changes it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dockyard.errors import NotFound
from dockyard.image.transfer.save import Layout, SaveItem, save
from dockyard.image.transfer.sources import ContentSource
from dockyard.oci.digest import Digest
from dockyard.oci.reference import Reference, parse_any

if TYPE_CHECKING:
    from dockyard.image.store import Image, ImageStore

_CHUNK = 1 << 20
_DEPTH = 8


def save_items(store: ImageStore, names: Sequence[str]) -> list[SaveItem]:
    """One item per image, in the order first named, with every tag the names select.

    A full reference selects that tag; a repository name alone every tag of that repository (or, when it has
    none, the image whose ID starts so); an ID or digest the image without a tag. NotFound as `store.get`.
    """
    chosen: dict[Digest, tuple[Image, list[Reference]]] = {}

    def add(image: Image, ref: Reference | None) -> None:
        _, refs = chosen.setdefault(image.id, (image, []))
        if ref is not None and ref.tag is not None and ref.digest is None and ref not in refs:
            refs.append(ref)

    images = store.list()
    for name in names:
        parsed = parse_any(name)
        if isinstance(parsed, Reference) and parsed.tag is None and parsed.digest is None:
            tagged = [(i, r) for i in images for r in i.names if r.name == parsed.name and r.tag is not None]
            for image, ref in sorted(tagged, key=lambda pair: str(pair[1])):
                add(image, ref)
            if tagged:
                continue
        image = store.get(name)
        add(image, parsed if isinstance(parsed, Reference) and parsed.tag is not None else None)
    return [
        SaveItem(
            source=ContentSource(store.content, image.manifest_digest),
            names=tuple(refs),
            label=refs[0].familiar_string() if refs else str(image.id),
        )
        for image, refs in chosen.values()
    ]


class _QueueWriter:
    """A write-only file whose chunks a consumer takes from a queue; gives up when the consumer left."""

    def __init__(self, chunks: queue.Queue[bytes | BaseException | None], stop: threading.Event) -> None:
        self._chunks = chunks
        self._stop = stop
        self._buffer = bytearray()
        self._dead = False

    def write(self, data: bytes) -> int:
        if self._dead:
            return len(data)  # tarfile's finaliser flushes once more after the failure: drop it
        self._buffer += data
        if len(self._buffer) >= _CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self.put(bytes(self._buffer))
            self._buffer.clear()

    def put(self, item: bytes | BaseException | None) -> None:
        while True:
            if self._stop.is_set():
                self._dead = True
                raise BrokenPipeError("save: the reader went away")
            with contextlib.suppress(queue.Full):
                self._chunks.put(item, timeout=0.1)
                return


def stream_save(store: ImageStore, items: Sequence[SaveItem], layout: Layout = "combined") -> Iterator[bytes]:
    """The archive as chunks, produced by a worker thread; an error there ends the stream by raising it."""
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(_DEPTH)
    stop = threading.Event()
    out = _QueueWriter(chunks, stop)

    def produce() -> None:
        try:
            with store.lease():
                save(items, out, layout=layout, spool_dir=store.root)  # type: ignore[arg-type]
            out.flush()
            out.put(None)
        except BrokenPipeError:
            return
        except BaseException as err:
            with contextlib.suppress(BrokenPipeError):
                out.put(err)

    worker = threading.Thread(target=produce, name="image-save", daemon=True)
    worker.start()
    try:
        while True:
            item = chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def check_names(store: ImageStore, names: Sequence[str]) -> None:
    """Raise NotFound before any byte is sent when a name selects nothing."""
    if not names:
        raise NotFound("save: no image names given")
    save_items(store, names)
