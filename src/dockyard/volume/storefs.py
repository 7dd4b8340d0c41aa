"""The on-disk primitives of the volume store: the store lock, atomic JSON files, crash-leftover names, tree
removal that never crosses into a mount, and disk usage. Knows the file names, not what a volume means.

Layout under the root the engine gives (e.g. /var/lib/dockyard/volumes):
    .lock                   flock(2) held for every change
    <name>/_data            the volume's content (Docker's Mountpoint)
    <name>/volume.json      name, driver, labels, options, creation time
    <name>/refs.json        who uses the volume ({"refs": [...], "mounts": [...]})
    .tmp-<hex>/             a create in progress; .trash-<hex>/ a removal in progress (both swept on open)
Volume names start with an alphanumeric character, so the dot names never collide with a volume.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import stat
import threading
from collections.abc import Iterator
from typing import Any

from dockyard.errors import InternalError

DATA_DIR = "_data"
META_FILE = "volume.json"
REFS_FILE = "refs.json"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
FILE_TMP_MARK = ".part-"


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: str, value: Any) -> None:
    """Replace `path` atomically: write a hidden sibling, fsync it, rename it over, fsync the directory."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}{FILE_TMP_MARK}{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def temp_name(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


class StoreLock:
    """An exclusive lock on the store: a thread lock inside this process and flock(2) across processes.

    flock locks belong to the open file description, so two stores in one process would also exclude each other;
    the thread lock keeps threads of one store from racing on the same descriptor. Not re-entrant.
    """

    def __init__(self, root: str) -> None:
        self._path = os.path.join(root, LOCK_FILE)
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the last descriptor releases the flock


def remove_tree(path: str, mounts: list[str]) -> None:
    """Delete `path` and everything below it, refusing when a filesystem is still mounted inside it.

    A bind-backed volume that is still mounted would otherwise lose its host directory's content.
    shutil.rmtree does not follow symlinks (it uses the fd-based walk on Linux).
    """
    if mounts:
        raise InternalError(f"remove `{path}`: still mounted at {', '.join(sorted(mounts))}")
    try:
        top = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(top.st_mode):
        os.unlink(path)
        return
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_dev != top.st_dev:
                raise InternalError(f"remove `{path}`: `{entry.path}` is on another filesystem")

    def _ignore_missing(func: Any, failed: str, info: Any) -> None:
        if not isinstance(info[1], FileNotFoundError):
            raise info[1]

    shutil.rmtree(path, onerror=_ignore_missing)  # Python 3.11: `onerror` (3.12 renames it `onexc`)


def disk_usage(path: str) -> int:
    """Bytes in the files under `path`, each hard-linked inode once (moby internal/directory calcSize)."""
    total = 0
    seen: set[int] = set()
    for directory, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            try:
                st = os.lstat(os.path.join(directory, name))
            except FileNotFoundError:
                continue
            if st.st_size == 0 or st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            total += st.st_size
    return total
