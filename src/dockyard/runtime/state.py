"""On-disk container state under `<root>/<id>` and the status computed from it; never forks, signals or mounts.

Layout of a container's directory (mode 0711, like runc's):
    state.json   this module's `State`, rewritten atomically (tmp file + rename) at every step of `create`
    config.json  the bundle's config.json as it was at create time (exec and delete read it)
    exec.fifo    exists from create until start: init blocks opening it for writing (runc's design)

The status is never trusted from disk alone: the init process is looked up in /proc, guarded against pid reuse
by its start time (field 22 of /proc/<pid>/stat), and a zombie counts as stopped, as in runc. The /proc, fifo
and freezer probes are injected so the logic is unit-tested without processes.
"""

from __future__ import annotations

import os
import time

from dockyard.errors import Conflict, InternalError, InvalidArgument, NotFound
from dockyard.oci.model import Model, replace
from dockyard.runtime import jsonio

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DEFAULT_ROOT = "/run/dockyard-runtime"
STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
FIFO_NAME = "exec.fifo"
OCI_VERSION = "1.0.2"

# Stored phases (what create has reached) and computed statuses (what `state` reports).
CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

# runc's container id rule (libcontainer validateID): ASCII letters, digits, '_', '+', '-', '.'; not "." or "..".
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


class ProcInfo(Model):
    """What /proc/<pid>/stat says about a process: its start time in clock ticks and whether it is a zombie."""

    start_time: int
    zombie: bool


class State(Model):
    """What a container's state.json holds. `phase` is creating until the init reported ready, then created."""

    id: str
    bundle: str
    rootfs: str
    created: str
    phase: str = CREATING
    pid: int = 0
    pid_start: int = 0
    creator_pid: int = 0
    creator_start: int = 0
    cgroups_path: str | None = None
    owner: str = ""
    annotations: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "phase": self.phase,
            "pid": self.pid,
            "pidStart": self.pid_start,
            "creatorPid": self.creator_pid,
            "creatorStart": self.creator_start,
            "cgroupsPath": self.cgroups_path,
            "owner": self.owner,
            "annotations": self.annotations,
        }

    @classmethod
    def from_json(cls, data: Any) -> State:
        try:
            return cls(
                id=str(data["id"]),
                bundle=str(data["bundle"]),
                rootfs=str(data["rootfs"]),
                created=str(data["created"]),
                phase=str(data["phase"]),
                pid=int(data["pid"]),
                pid_start=int(data["pidStart"]),
                creator_pid=int(data.get("creatorPid", 0)),
                creator_start=int(data.get("creatorStart", 0)),
                cgroups_path=data.get("cgroupsPath"),
                owner=str(data.get("owner", "")),
                annotations=data.get("annotations"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InternalError(f"read state of container `{data.get('id', '?')}`: malformed state file") from err

    def with_changes(self, **changes: Any) -> State:
        return replace(self, **changes)


def validate_id(container_id: str) -> None:
    if not container_id or container_id in (".", "..") or not _ID_CHARS.issuperset(container_id):
        raise InvalidArgument(f"container id `{container_id}`: invalid format")


def container_dir(root: str, container_id: str) -> str:
    return os.path.join(root, container_id)


def now_rfc3339() -> str:
    """UTC time with nanoseconds, as Go's time.RFC3339Nano prints it in runc's `created` field."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


def make_container_dir(root: str, container_id: str) -> str:
    """Create `<root>/<id>` atomically (mkdir); Conflict when it exists. The root is created 0700 if needed."""
    validate_id(container_id)
    os.makedirs(root, mode=0o700, exist_ok=True)
    path = container_dir(root, container_id)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError as err:
        raise Conflict(f"container `{container_id}` already exists") from err
    except OSError as err:
        raise InternalError(f"create state directory `{path}`: {(err.strerror or str(err)).lower()}") from err
    os.chmod(path, 0o711)  # why: mkdir's mode is filtered by the umask; exec.fifo must be reachable from a userns
    return path


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` through a temporary file and rename(2), so readers see the old or new file whole."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def save(root: str, state: State, encoded: bytes | None = None) -> None:
    """Write the state file; `encoded` is `encode(state)` made beforehand, when the write is on a hot path."""
    path = os.path.join(container_dir(root, state.id), STATE_FILE)
    write_atomic(path, encode(state) if encoded is None else encoded)


def encode(state: State) -> bytes:
    return jsonio.dumps(state.to_json()).encode()


def load(root: str, container_id: str) -> State:
    validate_id(container_id)
    path = os.path.join(container_dir(root, container_id), STATE_FILE)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError as err:
        raise NotFound(f"container `{container_id}` does not exist") from err
    except NotADirectoryError as err:
        raise NotFound(f"container `{container_id}` does not exist") from err
    try:
        data = jsonio.loads(raw)
    except ValueError as err:
        raise InternalError(f"read state of container `{container_id}`: malformed state file") from err
    if not isinstance(data, dict):
        raise InternalError(f"read state of container `{container_id}`: malformed state file")
    return State.from_json(data)


def exists(root: str, container_id: str) -> bool:
    return os.path.isdir(container_dir(root, container_id))


def list_ids(root: str) -> list[str]:
    """Ids of the containers under `root` (directories only), sorted; none when the root does not exist."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.isdir(os.path.join(root, n)))


def remove(root: str, container_id: str) -> None:
    """Remove `<root>/<id>` and what it holds, ignoring errors (shutil.rmtree's imports cost ~2 ms; the directory
    holds a few files and no subdirectories, but any are removed too)."""
    path = container_dir(root, container_id)
    for parent, dirs, files in os.walk(path, topdown=False):
        for name in files:
            _ignore_errors(os.unlink, os.path.join(parent, name))
        for name in dirs:
            child = os.path.join(parent, name)
            _ignore_errors(os.unlink if os.path.islink(child) else os.rmdir, child)
    _ignore_errors(os.rmdir, path)


def _ignore_errors(op: Callable[[str], None], path: str) -> None:
    try:
        op(path)
    except OSError:
        pass


def read_proc_info(pid: int) -> ProcInfo | None:
    """Start time and zombie-ness from /proc/<pid>/stat, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return parse_proc_stat(raw)


def parse_proc_stat(raw: bytes) -> ProcInfo | None:
    # why: field 2 (comm) is in parentheses and may hold spaces or ')'; fields after the last ')' are plain
    # (proc(5): field 3 is the state, field 22 the start time)
    rest = raw[raw.rfind(b")") + 2 :].split()
    if len(rest) < 20:
        return None
    state = rest[0]
    return ProcInfo(start_time=int(rest[19]), zombie=state in (b"Z", b"X", b"x"))


def process_alive(pid: int, start_time: int, proc_info: Callable[[int], ProcInfo | None] = read_proc_info) -> bool:
    """Whether `pid` still names the process that started at `start_time` and has not exited."""
    if pid <= 0:
        return False
    info = proc_info(pid)
    return info is not None and not info.zombie and (start_time == 0 or info.start_time == start_time)


def compute_status(
    state: State,
    *,
    fifo_exists: Callable[[], bool],
    frozen: Callable[[], bool],
    proc_info: Callable[[int], ProcInfo | None] = read_proc_info,
) -> str:
    """The OCI status: stopped unless the init lives; then paused (frozen), creating, created (fifo) or running.

    A create whose runtime died before the init reported ready is stopped: its init exits on the closed channel.
    """
    if state.phase == CREATING and not process_alive(state.creator_pid, state.creator_start, proc_info):
        return STOPPED
    if not process_alive(state.pid, state.pid_start, proc_info):
        return CREATING if state.phase == CREATING and state.pid == 0 else STOPPED
    if frozen():
        return PAUSED
    if state.phase == CREATING:
        return CREATING
    return CREATED if fifo_exists() else RUNNING


def oci_state(state: State, status: str, oci_version: str = OCI_VERSION) -> dict[str, Any]:
    """The `state` command's JSON (runtime-spec state plus runc's rootfs, created and owner); pid 0 once stopped."""
    out: dict[str, Any] = {
        "ociVersion": oci_version,
        "id": state.id,
        "pid": 0 if status == STOPPED else state.pid,
        "status": status,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": state.owner,
    }
    if state.annotations:
        out["annotations"] = state.annotations
    return out
