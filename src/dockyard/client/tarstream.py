"""Tars of local trees written by a thread into a pipe while the other end is uploaded (build contexts, `cp` into
a container), so a large tree is never held in memory nor spooled. Which entries go in is the caller's choice;
no HTTP, no Docker JSON here.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

Fill = Callable[[tarfile.TarFile], None]
Filter = Callable[[tarfile.TarInfo], tarfile.TarInfo | None]


def add_tree(tar: tarfile.TarFile, path: str, name: str, *, filter: Filter | None = None) -> None:
    """Add `path` (recursively, links kept as links) under the name `name`; `.`: the directory's entries under
    their own names, sorted, without an entry for the directory itself."""
    if name == ".":
        for entry in sorted(os.listdir(path)):
            tar.add(os.path.join(path, entry), arcname=entry, filter=filter)
    else:
        tar.add(path, arcname=name, filter=filter)


def _write(fill: Fill, out: BinaryIO, failure: list[BaseException]) -> None:
    try:
        with out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            fill(tar)
    except BrokenPipeError:
        pass  # the reader stopped early (the daemon answered an error before the end): its error is the one
    except Exception as err:  # re-raised on the reader's side once the upload is over
        failure.append(err)


@contextlib.contextmanager
def piped_tar(fill: Fill) -> Iterator[BinaryIO]:
    """A file whose reads give the tar that `fill(tar)` writes, written as it is read. A failure of `fill` (an
    unreadable file) ends the tar early and is raised when the block exits, in place of the upload's own error."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []
    writer = threading.Thread(
        target=_write, args=(fill, os.fdopen(write_fd, "wb"), failure), name="tar-writer", daemon=True
    )
    writer.start()
    try:
        with os.fdopen(read_fd, "rb") as reader:
            yield reader
    finally:
        writer.join()  # the reader is closed: a writer still blocked on the pipe gets EPIPE
        if failure:  # why first: the daemon only saw the tar end early, the cause is here
            raise failure[0]
