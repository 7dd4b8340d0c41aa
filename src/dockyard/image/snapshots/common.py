"""The file-backed snapshot metadata both snapshotters share: one JSON per key, directories by short id, a lock.

Layout under a snapshotter root: `meta/<quoted key>.json` (kind, id, parent, created, usage), `snapshots/<id>/`
(`fs/` the snapshot's own content, `work/` overlay's work dir), `trash/` (directories being deleted), `lock`.
Every change holds the lock (flock) and publishes metadata by rename after fsync, in an order that a crash can
only leave remnants `recover` recognises: a directory without metadata, an active key whose id a committed key
took over (an interrupted commit), or a directory in trash/. Subclasses decide content and mounts only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import stat
import time
import urllib.parse
from collections.abc import Iterator

from dockyard.errors import Conflict, InternalError, InvalidArgument, NotFound
from dockyard.image.snapshots.base import KEY_MAX, Info, Kind, Mount, Usage
from dockyard.oci.model import Model


class _Record(Model):
    kind: Kind
    id: str
    parent: str | None
    created: float
    size: int = -1
    inodes: int = -1


def not_found(key: str) -> NotFound:
    return NotFound(f"snapshot `{key}`: not found")


def write_atomic(path: str, data: bytes, *, durable: bool = True) -> None:
    """tmp + fsync + rename + fsync of the directory: the file has the old or the new bytes after any crash.
    `durable=False` leaves out both fsyncs: still whole or absent after a killed process, not after a power loss."""
    tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(os.path.dirname(path))


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tree(path: str) -> None:
    """rmtree that also removes read-only directories a layer left (mode 0555 and the like) when not root."""

    def retry(func: object, name: str, _exc: object) -> None:
        parent = os.path.dirname(name)
        with contextlib.suppress(OSError):
            os.chmod(parent, stat.S_IRWXU)
            if os.path.isdir(name) and not os.path.islink(name):
                os.chmod(name, stat.S_IRWXU)
                shutil.rmtree(name, ignore_errors=True)
            else:
                os.unlink(name)

    shutil.rmtree(path, onerror=retry)


def tree_usage(path: str) -> Usage:
    """Bytes and inodes of a tree, each hard-linked inode counted once (containerd's fs.DiskUsage)."""
    seen: set[int] = set()
    size = 0
    for directory, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            try:
                st = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            size += st.st_size if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) else 0
    return Usage(size=size, inodes=len(seen))


class FileSnapshotter:
    """Metadata and lifecycle shared by the overlay and native snapshotters (see the module docstring)."""

    name = "files"

    def __init__(self, root: str, *, recover: bool = True) -> None:
        """`recover=False` skips the crash recovery scan (for a caller that only removes one snapshot)."""
        self.root = os.path.abspath(root)
        self._meta = os.path.join(self.root, "meta")
        self._dirs = os.path.join(self.root, "snapshots")
        self._trash = os.path.join(self.root, "trash")
        for path in (self._meta, self._dirs, self._trash):
            os.makedirs(path, exist_ok=True)
        if recover:
            self.recover(block=False)

    # ---- subclass hooks ----------------------------------------------------------------------------------

    def _populate(self, directory: str, parent: _Record | None, kind: Kind) -> None:
        """Fill a new snapshot directory (`fs/` exists already)."""

    def _mounts(self, key: str, record: _Record, parents: list[_Record]) -> list[Mount]:
        raise NotImplementedError

    # ---- the protocol ------------------------------------------------------------------------------------

    def prepare(self, key: str, parent: str | None = None) -> list[Mount]:
        return self._create(key, parent, "active")

    def view(self, key: str, parent: str | None = None) -> list[Mount]:
        return self._create(key, parent, "view")

    def commit(self, name: str, key: str) -> Info:
        _check_key(name)
        record = self._require(key)
        if record.kind != "active":
            raise InvalidArgument(f"commit snapshot `{key}`: not an active snapshot")
        usage = tree_usage(self._fs(record.id))
        with self.locked():
            record = self._require(key)
            if self._read(name) is not None:
                raise Conflict(f"snapshot `{name}`: already exists")
            committed = _Record(
                kind="committed", id=record.id, parent=record.parent, created=time.time(),
                size=usage.size, inodes=usage.inodes,
            )  # fmt: skip
            self._write(name, committed)  # first the new name: a crash here leaves both, `recover` drops the key
            self._unlink_meta(key)
        return self._info(name, committed)

    def mounts(self, key: str) -> list[Mount]:
        record = self._require(key)
        if record.kind == "committed":
            raise InvalidArgument(f"mounts of snapshot `{key}`: a committed snapshot has none, prepare a child")
        return self._mounts(key, record, self._parents(record))

    def remove(self, key: str) -> None:
        remove_tree(self.detach(key))

    def detach(self, key: str) -> str:
        with self.locked():
            record = self._require(key)
            if record.kind == "committed":  # why: only committed snapshots are parents; this reads every record
                children = [k for k, r in self._records() if r.parent == key]
                if children:
                    raise Conflict(f"remove snapshot `{key}`: snapshot `{children[0]}` is based on it")
            self._unlink_meta(key, durable=record.kind == "committed")
            trash = os.path.join(self._trash, record.id)
            with contextlib.suppress(FileNotFoundError):
                os.rename(os.path.join(self._dirs, record.id), trash)
        return trash

    def stat(self, key: str) -> Info:
        return self._info(key, self._require(key))

    def exists(self, key: str) -> bool:
        return self._read(key) is not None

    def walk(self) -> Iterator[Info]:
        for key, record in self._records():
            yield self._info(key, record)

    def usage(self, key: str) -> Usage:
        record = self._require(key)
        if record.kind == "committed" and record.size >= 0:
            return Usage(size=record.size, inodes=record.inodes)
        return tree_usage(self._fs(record.id))

    def path(self, key: str) -> str:
        return self._fs(self._require(key).id)

    def check(self) -> list[str]:
        """Recover crash remnants, then report what is really wrong: missing directories and parents."""
        self.recover(block=True)
        records = dict(self._records())
        problems = []
        for key, record in sorted(records.items()):
            if not os.path.isdir(self._fs(record.id)):
                problems.append(f"snapshot `{key}`: directory `{self._fs(record.id)}` is missing")
            if record.parent is not None:
                parent = records.get(record.parent)
                if parent is None:
                    problems.append(f"snapshot `{key}`: parent `{record.parent}` not found")
                elif parent.kind != "committed":
                    problems.append(f"snapshot `{key}`: parent `{record.parent}` is not committed")
        return problems

    def recover(self, *, block: bool) -> list[str]:
        """Undo what an interrupted operation left (see the module docstring); returns what was removed."""
        done: list[str] = []
        try:
            with self.locked(block=block):
                records = list(self._records())
                committed_ids = {r.id for _, r in records if r.kind == "committed"}
                for key, record in records:
                    if record.kind != "committed" and record.id in committed_ids:
                        self._unlink_meta(key)
                        done.append(f"key {key}")
                known = {r.id for _, r in self._records()}
                for entry in os.listdir(self._dirs):
                    if entry not in known:
                        os.rename(os.path.join(self._dirs, entry), os.path.join(self._trash, entry))
                        done.append(f"directory {entry}")
                for name in os.listdir(self._meta):
                    if ".tmp-" in name:
                        os.unlink(os.path.join(self._meta, name))
                for entry in os.listdir(self._trash):
                    remove_tree(os.path.join(self._trash, entry))
        except BlockingIOError:
            pass
        return done

    @contextlib.contextmanager
    def locked(self, *, block: bool = True) -> Iterator[None]:
        fd = os.open(os.path.join(self.root, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
            yield
        finally:
            os.close(fd)

    # ---- internals ---------------------------------------------------------------------------------------

    def _create(self, key: str, parent: str | None, kind: Kind) -> list[Mount]:
        _check_key(key)
        with self.locked():
            if self._read(key) is not None:
                raise Conflict(f"snapshot `{key}`: already exists")
            parent_record = None
            if parent is not None:
                parent_record = self._require(parent)
                if parent_record.kind != "committed":
                    raise InvalidArgument(f"prepare snapshot `{key}`: parent `{parent}` is not committed")
            snapshot_id = self._new_id()
            directory = os.path.join(self._dirs, snapshot_id)
            os.makedirs(os.path.join(directory, "fs"))
            try:
                self._populate(directory, parent_record, kind)
                record = _Record(kind=kind, id=snapshot_id, parent=parent, created=time.time())
                self._write(key, record)
            except BaseException:
                remove_tree(directory)
                raise
        return self._mounts(key, record, self._parents(record))

    def _new_id(self) -> str:
        while True:
            candidate = secrets.token_hex(5)
            if not os.path.exists(os.path.join(self._dirs, candidate)):
                return candidate

    def _fs(self, snapshot_id: str) -> str:
        return os.path.join(self._dirs, snapshot_id, "fs")

    def _parents(self, record: _Record) -> list[_Record]:
        """The committed ancestors, nearest first."""
        out = []
        key = record.parent
        while key is not None:
            parent = self._read(key)
            if parent is None:
                raise InternalError(f"snapshot `{key}`: parent of a snapshot is missing")
            out.append(parent)
            key = parent.parent
            if len(out) > 1000:
                raise InternalError(f"snapshot `{key}`: parent chain loops")
        return out

    def _meta_path(self, key: str) -> str:
        return os.path.join(self._meta, urllib.parse.quote(key, safe="") + ".json")

    def _read(self, key: str) -> _Record | None:
        try:
            with open(self._meta_path(key), "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise InternalError(f"read snapshot `{key}`: {err}") from err
        try:
            return _Record(**data)
        except TypeError as err:
            raise InternalError(f"read snapshot `{key}`: {err}") from err

    def _require(self, key: str) -> _Record:
        record = self._read(key)
        if record is None:
            raise not_found(key)
        return record

    def _write(self, key: str, record: _Record) -> None:
        data = {"kind": record.kind, "id": record.id, "parent": record.parent, "created": record.created}
        if record.size >= 0:
            data.update(size=record.size, inodes=record.inodes)
        # why only committed ones durably: an active snapshot (a container's, or a layer being unpacked) is worth
        # no more after a power loss than the container record or the unpack that refers to it, which are not
        # fsynced either; its two fsyncs were ≈ 0.5 ms of every `create`
        write_atomic(self._meta_path(key), json.dumps(data).encode(), durable=record.kind == "committed")

    def _unlink_meta(self, key: str, *, durable: bool = True) -> None:
        os.unlink(self._meta_path(key))
        if durable:
            fsync_dir(self._meta)

    def _records(self) -> list[tuple[str, _Record]]:
        out = []
        for name in sorted(os.listdir(self._meta)):
            if not name.endswith(".json") or ".tmp-" in name:
                continue
            key = urllib.parse.unquote(name[: -len(".json")])
            record = self._read(key)
            if record is not None:
                out.append((key, record))
        return out

    def _info(self, key: str, record: _Record) -> Info:
        return Info(key=key, kind=record.kind, parent=record.parent, created=record.created, id=record.id)


def _check_key(key: str) -> None:
    if not key or len(urllib.parse.quote(key, safe="")) > KEY_MAX:
        raise InvalidArgument(f"snapshot key `{key[:KEY_MAX]}`: must be 1 to {KEY_MAX} bytes once quoted")
