"""The Snapshotter protocol and its data: snapshot info, usage and mounts (as data, never performed here).

A snapshot is a directory tree known by a key. `prepare` makes a writable (active) one on top of a committed
parent, `view` a read-only one, `commit` turns an active snapshot into a committed one under a new name (the chain
ID of an image layer), `remove` deletes one that nothing builds on. The mounts a snapshot needs are returned
as data (containerd's model): the caller decides where and in which mount namespace to mount them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol

from dockyard.oci.model import Model

Kind = Literal["active", "view", "committed"]
KEY_MAX = 200  # keys become file names (quoted); Linux allows 255 bytes per name


class Mount(Model):
    """One mount(2) to perform: `type` (overlay, bind), `source` and the option list (flags and data mixed,
    as in /etc/fstab: `ro`, `rbind`, `lowerdir=…`)."""

    type: str
    source: str
    options: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"type": self.type, "source": self.source, "options": list(self.options)}


class Info(Model):
    key: str
    kind: Kind
    parent: str | None  # the key of the committed parent snapshot
    created: float  # seconds since the epoch
    id: str  # the snapshotter's internal directory id


class Usage(Model):
    size: int  # bytes of the snapshot's own content (not its parents')
    inodes: int


class Snapshotter(Protocol):
    """Snapshots by key; implementations keep their metadata crash-safe (atomic renames under a lock).

    Contract:
    - `prepare(key, parent)` creates an active (writable) snapshot whose content starts as `parent`'s; `view`
      a read-only one. Both return the mounts that show it. A key in use: Conflict "snapshot `k`: already
      exists". A parent that is missing or not committed: NotFound "snapshot `p`: not found" / InvalidArgument.
    - `commit(name, key)` turns the active snapshot `key` into the committed `name` (the key is gone after);
      views and committed snapshots cannot be committed (InvalidArgument).
    - `mounts(key)` the mounts of an active or view snapshot (InvalidArgument for a committed one).
    - `remove(key)` deletes a snapshot; Conflict while another snapshot has it as parent. `detach(key)` is its
      first half: the key is gone at once and the snapshot's directory is moved aside; it returns that
      directory, which the caller deletes (`remove_tree`) when it suits it, or the next recovery does.
    - `stat(key)`, `usage(key)`; `walk()` yields every snapshot; `path(key)` is the directory holding the
      snapshot's own content (for committing tools and tests; an active overlay snapshot's upper directory).
    - Unknown keys raise NotFound("snapshot `<key>`: not found"). Nothing here mounts anything.
    """

    name: str

    def prepare(self, key: str, parent: str | None = None) -> list[Mount]: ...

    def view(self, key: str, parent: str | None = None) -> list[Mount]: ...

    def commit(self, name: str, key: str) -> Info: ...

    def mounts(self, key: str) -> list[Mount]: ...

    def remove(self, key: str) -> None: ...

    def detach(self, key: str) -> str: ...

    def stat(self, key: str) -> Info: ...

    def exists(self, key: str) -> bool: ...

    def walk(self) -> Iterator[Info]: ...

    def usage(self, key: str) -> Usage: ...

    def path(self, key: str) -> str: ...

    def check(self) -> list[str]: ...
