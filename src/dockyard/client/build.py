"""The client side of POST /build: a context directory sent as a tar written while it is uploaded.

The tar is made by a thread into a pipe whose other end is the request's upload, so a large context is never
held in memory (nor spooled) on the client side. No `.dockerignore` handling yet: every file goes.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import threading
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from dockyard.client.client import Client
from dockyard.client.images import _raw, messages


def _write_tar(directory: str, out: BinaryIO, failure: list[BaseException]) -> None:
    try:
        with out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for entry in sorted(os.listdir(directory)):
                tf.add(os.path.join(directory, entry), entry)
    except BrokenPipeError:
        pass  # the daemon answered before the end (an error): the reader closed its end
    except OSError as err:
        failure.append(err)


@contextlib.contextmanager
def context_tar(directory: str) -> Iterator[BinaryIO]:
    """A file whose reads give a tar of `directory` (names relative to it), written as it is read."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []
    writer = threading.Thread(
        target=_write_tar, args=(directory, os.fdopen(write_fd, "wb"), failure), name="context-tar", daemon=True
    )
    writer.start()
    try:
        with os.fdopen(read_fd, "rb") as reader:
            yield reader
    finally:
        writer.join()  # the reader is closed: a writer still blocked on the pipe gets EPIPE
        if failure:  # why first: the daemon only saw the tar end early, the cause is here
            raise failure[0]


def build(
    client: Client, context: BinaryIO, *, tags: Sequence[str] = (), dockerfile: str = ""
) -> Iterator[dict[str, Any]]:
    """POST /build with `context` as a streamed (chunked) upload; the progress messages as they arrive."""
    query = {"t": "\n".join(tags)} if tags else {}
    if dockerfile:
        query["dockerfile"] = dockerfile
    return messages(_raw(client, "POST", "/build", query=query, body=context))
