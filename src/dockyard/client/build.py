"""The client side of POST /build: a context directory sent as a tar written while it is uploaded.

The tar is made by a thread into a pipe whose other end is the request's upload (client/tarstream.py), so a
large context is never held in memory (nor spooled) on the client side. No `.dockerignore` handling yet: every
file goes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from dockyard.client.client import Client
from dockyard.client.images import _raw, messages
from dockyard.client.tarstream import add_tree, piped_tar


def context_tar(directory: str) -> contextlib.AbstractContextManager[BinaryIO]:
    """A file whose reads give a tar of `directory` (names relative to it), written as it is read."""
    return piped_tar(lambda tar: add_tree(tar, directory, "."))


def build(
    client: Client, context: BinaryIO, *, tags: Sequence[str] = (), dockerfile: str = ""
) -> Iterator[dict[str, Any]]:
    """POST /build with `context` as a streamed (chunked) upload; the progress messages as they arrive."""
    query = {"t": "\n".join(tags)} if tags else {}
    if dockerfile:
        query["dockerfile"] = dockerfile
    return messages(_raw(client, "POST", "/build", query=query, body=context))
