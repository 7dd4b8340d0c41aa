"""Named volumes of the `local` driver under one root directory: create, inspect, list, remove, prune, usage
references and mounting of option-backed volumes. Knows no containers beyond the reference ids it is given.

Docker semantics and wording (moby daemon/volume/{service,local}); crash safety from the layout in storefs.py:
a volume appears by one rename of a complete temp directory and disappears by one rename into the trash, so a
`kill -9` at any point leaves either a whole volume or a leftover that `recover()` (run on open) deletes.
"""

from __future__ import annotations

import builtins
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dockyard.errors import Conflict, InternalError, InvalidArgument, NotFound
from dockyard.volume import gocompat, storefs
from dockyard.volume.filters import Filters, list_predicate, prune_predicate
from dockyard.volume.model import ANONYMOUS_LABEL, LOCAL_DRIVER, PruneReport, Volume
from dockyard.volume.mounter import LinuxMounter, Mounter

# moby daemon/names: RestrictedNameChars / RestrictedNamePattern
NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(NAME_CHARS + "+")
# moby volume/local/local_unix.go validOpts and mandatoryOpts
_VALID_OPTIONS = ("device", "o", "size", "type")
_REQUIRED_OPTIONS = (("device", ("type",)), ("o", ("device", "type")), ("type", ("device",)))


def name_error(name: str) -> str | None:
    """Why `name` cannot name a local volume (moby volume/local/local.go validateName), or None."""
    if len(name) == 1:
        return "volume name is too short, names should be at least two alphanumeric characters"
    if not _NAME.fullmatch(name):
        return (
            f"{gocompat.quote(name)} includes invalid characters for a local volume name, only "
            f"{gocompat.quote(NAME_CHARS)} are allowed. If you intended to pass a host directory, use absolute path"
        )
    return None


def options_error(options: Mapping[str, str]) -> str | None:
    """Why the local driver refuses these driver options (moby local_unix.go validateOpts), or None."""
    for key in sorted(options):
        if key not in _VALID_OPTIONS:
            return f"invalid option: {gocompat.quote(key)}"
    if "size" in options:
        try:
            size = gocompat.ram_in_bytes(options["size"])
        except gocompat.GoValueError as err:
            return str(err)
        if size > 0:
            return "quota size requested but no quota support"  # dockyard has no project quotas
    for key, required in _REQUIRED_OPTIONS:
        if key in options:
            for other in required:
                if other not in options:
                    return f"missing required option: {gocompat.quote(other)}"
    return None


def needs_mount(options: Mapping[str, str] | None) -> bool:
    """A volume with a device or type is a mount, made on first use (moby localVolume.needsMount)."""
    return bool(options) and bool(options.get("device") or options.get("type"))  # type: ignore[union-attr]


def rfc3339(timestamp: float) -> str:
    """Go's time.RFC3339 in the host's zone: seconds precision, `Z` for UTC."""
    moment = datetime.fromtimestamp(int(timestamp)).astimezone()
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if moment.utcoffset() == timedelta(0) else text


def random_id() -> str:
    """64 hex digits whose 12-digit prefix is not all decimal (moby stringid.GenerateRandomID)."""
    while True:
        value = secrets.token_hex(32)
        if not value[:12].isdigit():
            return value


@dataclass
class _Record:
    meta: dict[str, Any]
    refs: set[str] = field(default_factory=set)
    mounts: set[str] = field(default_factory=set)


def _no_such_volume(name: str) -> NotFound:
    # moby volume/service/errors.go: OpErr{Op: "get"} around errNoSuchVolume
    return NotFound(f"get {name}: no such volume")


class VolumeStore:
    """The local volume driver rooted at `root`. Safe to use from several processes at once (flock)."""

    def __init__(self, root: str, *, mounter: Mounter | None = None, clock: Callable[[], float] = time.time) -> None:
        os.makedirs(root, mode=0o701, exist_ok=True)
        self.root = os.path.abspath(root)
        self._mounter = mounter
        self._clock = clock
        self._lock = storefs.StoreLock(self.root)
        # Test hook: called with a step name ("create:tmp", "remove:renamed", …) between the steps of a change.
        self.crash_hook: Callable[[str], None] | None = None
        self.recover()

    @property
    def mounter(self) -> Mounter:
        if self._mounter is None:
            self._mounter = LinuxMounter()
        return self._mounter

    def _step(self, name: str) -> None:
        if self.crash_hook is not None:
            self.crash_hook(name)

    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def data_path(self, name: str) -> str:
        return os.path.join(self.root, name, storefs.DATA_DIR)

    # -- reading ---------------------------------------------------------------------------------------------

    def _load(self, name: str) -> _Record | None:
        if name.startswith(".") or "/" in name or not name:
            return None
        try:
            meta = storefs.read_json(os.path.join(self._dir(name), storefs.META_FILE))
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            refs = storefs.read_json(os.path.join(self._dir(name), storefs.REFS_FILE))
        except FileNotFoundError:
            refs = {}
        return _Record(meta=meta, refs=set(refs.get("refs", ())), mounts=set(refs.get("mounts", ())))

    def _volume(self, record: _Record) -> Volume:
        meta = record.meta
        return Volume(
            name=meta["Name"],
            mountpoint=self.data_path(meta["Name"]),
            created_at=rfc3339(meta["CreatedAt"]),
            labels=meta.get("Labels"),
            options=meta.get("Options"),
            driver=meta.get("Driver", LOCAL_DRIVER),
            refs=tuple(sorted(record.refs | record.mounts)),
        )

    def get(self, name: str) -> Volume:
        record = self._load(name)
        if record is None:
            raise _no_such_volume(name)
        return self._volume(record)

    def names(self) -> builtins.list[str]:
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if not e.startswith("."))

    def list(self, filters: Filters | None = None) -> builtins.list[Volume]:
        """Volumes matching `filters` (dangling, name, driver, label), by name."""
        predicate = list_predicate(filters)
        volumes = []
        for name in self.names():
            record = self._load(name)
            if record is not None:
                volume = self._volume(record)
                if predicate(volume):
                    volumes.append(volume)
        return volumes

    def usage(self, name: str) -> int:
        """Bytes used by the volume's files (for `docker system df`)."""
        self.get(name)
        return storefs.disk_usage(self.data_path(name))

    # -- create ----------------------------------------------------------------------------------------------

    def create(
        self,
        name: str = "",
        *,
        driver: str = "",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        ref: str | None = None,
    ) -> Volume:
        """Create a volume, or return the existing one of that name (Docker's create is idempotent).

        No name: a random 64-hex name and the label com.docker.volume.anonymous. `ref` registers a user in the
        same step, so a concurrent prune cannot take the volume away before its container holds it.
        """
        if not name:
            name = random_id()
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        with self._lock.held():
            existing = self._load(name)
            if existing is None or (driver or LOCAL_DRIVER) != LOCAL_DRIVER:
                reason = self._create_error(name, driver or LOCAL_DRIVER, options or {})
                if reason is not None:
                    raise reason
            if existing is None:
                self._create_locked(name, labels, options, ref)
            elif ref:
                existing.refs.add(ref)
                self._write_refs(name, existing)
        return self.get(name)

    @staticmethod
    def _create_error(name: str, driver: str, options: Mapping[str, str]) -> InvalidArgument | NotFound | None:
        # moby volume/service/store.go wraps every create failure as OpErr{Op: "create", Name: name}
        if driver != LOCAL_DRIVER:
            # moby volume/drivers/extpoint.go lookup + pkg/plugin/errors.go errNotFound
            return NotFound(f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found')
        reason = name_error(name) or options_error(options)
        return InvalidArgument(f"create {name}: {reason}") if reason else None

    def _create_locked(
        self, name: str, labels: Mapping[str, str] | None, options: Mapping[str, str] | None, ref: str | None
    ) -> None:
        tmp = os.path.join(self.root, storefs.temp_name(storefs.TMP_PREFIX))
        os.mkdir(tmp, 0o701)
        self._step("create:tmp")
        os.mkdir(os.path.join(tmp, storefs.DATA_DIR), 0o755)
        os.chmod(os.path.join(tmp, storefs.DATA_DIR), 0o755)  # not filtered by the umask, as Docker's MkdirAll
        self._step("create:data")
        meta = {
            "Name": name,
            "Driver": LOCAL_DRIVER,
            "Labels": dict(labels) if labels is not None else None,
            "Options": dict(options) if options is not None else None,
            "CreatedAt": self._clock(),
        }
        storefs.write_json(os.path.join(tmp, storefs.META_FILE), meta)
        self._step("create:meta")
        storefs.write_json(os.path.join(tmp, storefs.REFS_FILE), {"refs": [ref] if ref else [], "mounts": []})
        self._step("create:refs")
        os.rename(tmp, self._dir(name))
        storefs.fsync_dir(self.root)
        self._step("create:done")

    # -- references and mounts -------------------------------------------------------------------------------

    def _write_refs(self, name: str, record: _Record) -> None:
        path = os.path.join(self._dir(name), storefs.REFS_FILE)
        storefs.write_json(path, {"refs": sorted(record.refs), "mounts": sorted(record.mounts)})

    def _locked_record(self, name: str) -> _Record:
        record = self._load(name)
        if record is None:
            raise _no_such_volume(name)
        return record

    def register(self, name: str, ref: str) -> None:
        """Record that `ref` (a container id) uses the volume: it cannot be removed or pruned meanwhile."""
        with self._lock.held():
            record = self._locked_record(name)
            if ref not in record.refs:
                record.refs.add(ref)
                self._write_refs(name, record)

    def unregister(self, name: str, ref: str) -> None:
        """Drop `ref` as a user (and as a mounter); the last one out unmounts an option-backed volume."""
        with self._lock.held():
            record = self._locked_record(name)
            record.refs.discard(ref)
            record.mounts.discard(ref)
            self._write_refs(name, record)
            self._unmount_if_unused(name, record)

    def mount(self, name: str, ref: str) -> str:
        """Make the volume's content available for `ref` and return its path (`_data`).

        A volume created with type/device/o is mounted there on first use, as Docker's local driver does.
        """
        with self._lock.held():
            record = self._locked_record(name)
            options = record.meta.get("Options")
            data = self.data_path(name)
            if needs_mount(options) and not self.mounter.mounted(data):
                self._mount_options(data, options or {})
            record.refs.add(ref)
            record.mounts.add(ref)
            self._write_refs(name, record)
            return data

    def _mount_options(self, data: str, options: Mapping[str, str]) -> None:
        if not options.get("device"):
            raise InternalError("missing device in volume options")  # moby local_unix.go getMountOptions
        try:
            self.mounter.mount(options["device"], data, options.get("type", ""), options.get("o", ""))
        except InternalError as err:
            text = str(err)
            password = next((w[9:] for w in options.get("o", "").split(",") if w.startswith("password=")), "")
            if password:
                text = text.replace("password=" + password, "password=********", 1)
            raise InternalError(f"failed to mount local volume: {text}") from err

    def unmount(self, name: str, ref: str) -> None:
        """`ref` no longer has the volume mounted (it stays a user); the last one out unmounts."""
        with self._lock.held():
            record = self._locked_record(name)
            if ref in record.mounts:
                record.mounts.discard(ref)
                self._write_refs(name, record)
            self._unmount_if_unused(name, record)

    def _unmount_if_unused(self, name: str, record: _Record) -> None:
        data = self.data_path(name)
        if needs_mount(record.meta.get("Options")) and not record.mounts and self.mounter.mounted(data):
            self.mounter.unmount(data)

    # -- remove, prune, recover ------------------------------------------------------------------------------

    def remove(self, name: str, *, force: bool = False) -> None:
        """Remove an unused volume. `force` only hides "no such volume", as `docker volume rm -f` does: a volume
        in use is refused either way (moby VolumesService.Remove)."""
        with self._lock.held():
            record = self._load(name)
            if record is None:
                if force:
                    return
                raise _no_such_volume(name)
            self._remove_locked(name, record)

    def _remove_locked(self, name: str, record: _Record) -> None:
        users = sorted(record.refs | record.mounts)
        if users:
            # moby volume/service/errors.go: OpErr{Op: "remove", Err: errVolumeInUse, Refs: refs}
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        data = self.data_path(name)
        if needs_mount(record.meta.get("Options")) and self.mounter.mounted(data):
            self.mounter.unmount(data)
        left = self.mounter.mounts_under(self._dir(name))
        if left:
            raise InternalError(f"remove {name}: still mounted at {', '.join(left)}")
        self._step("remove:unmounted")
        trash = os.path.join(self.root, storefs.temp_name(storefs.TRASH_PREFIX))
        os.rename(self._dir(name), trash)
        storefs.fsync_dir(self.root)
        self._step("remove:renamed")
        storefs.remove_tree(trash, self.mounter.mounts_under(trash))
        self._step("remove:done")

    def prune(self, filters: Filters | None = None) -> PruneReport:
        """Remove unused local volumes without mount options: anonymous ones, or all with `all=true`;
        `label` / `label!` narrow the choice. Volumes that fail to go are skipped, as Docker does."""
        predicate = prune_predicate(filters)
        deleted: builtins.list[str] = []
        reclaimed = 0
        with self._lock.held():
            for name in self.names():
                record = self._load(name)
                if record is None or not predicate(self._volume(record)):
                    continue
                size = storefs.disk_usage(self.data_path(name))
                try:
                    self._remove_locked(name, record)
                except (OSError, InternalError, Conflict):
                    continue
                deleted.append(name)
                reclaimed += size
        return PruneReport(volumes_deleted=tuple(deleted), space_reclaimed=reclaimed)

    def recover(self) -> builtins.list[str]:
        """Delete what an interrupted create or remove left behind; unmount option volumes nobody mounted.

        Returns the leftover entries it removed. Runs under the store lock, so it never sees another process's
        change half-way.
        """
        removed: builtins.list[str] = []
        with self._lock.held():
            for entry in sorted(os.listdir(self.root)):
                path = os.path.join(self.root, entry)
                if entry.startswith((storefs.TMP_PREFIX, storefs.TRASH_PREFIX)):
                    if self._sweep(path):
                        removed.append(entry)
                elif not entry.startswith(".") and os.path.isdir(path):
                    self._tidy_volume(entry)
        return removed

    def _sweep(self, path: str) -> bool:
        try:
            for target in sorted(self.mounter.mounts_under(path), reverse=True):
                self.mounter.unmount(target)
            storefs.remove_tree(path, self.mounter.mounts_under(path))
        except (InternalError, OSError):
            return False  # still mounted or not deletable: left for the next sweep
        return True

    def _tidy_volume(self, name: str) -> None:
        directory = self._dir(name)
        for entry in os.listdir(directory):
            if entry.startswith(".") and storefs.FILE_TMP_MARK in entry:
                os.unlink(os.path.join(directory, entry))
        record = self._load(name)
        if record is not None and not record.mounts:
            self._unmount_if_unused(name, record)
