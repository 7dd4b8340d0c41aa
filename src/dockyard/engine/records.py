"""Container records: one JSON file per container (<data>/containers/<id>/config.v2.json) and their lookup.

Writes are atomic (temp file + rename) and read-modify-write updates hold the container's record lock, because the
engine and the container's monitor both update a record. Knows nothing of Docker's wire format or the runtime.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator

from dockyard.errors import Conflict, InternalError, InvalidArgument, NotFound, SpecError
from dockyard.oci.jsonmodel import decode, encode
from dockyard.oci.model import Model, replace
from dockyard.paths import Paths

REMOVING_PREFIX = ".removing-"  # a container directory being deleted (RecordStore.delete); a crash may leave one

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def now() -> str:
    """The current time as RFC 3339 with nanoseconds in UTC, as Docker writes it (`2026-01-02T03:04:05.123456789Z`)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


class ContainerConfig(Model):
    """What the container runs, already merged with the image's defaults (as Docker stores it)."""

    image: str
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    domainname: str = ""
    labels: dict[str, str] | None = None
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    stop_signal: str = ""
    stop_timeout: int | None = None
    healthcheck: Healthcheck | None = None
    exposed_ports: tuple[str, ...] = ()  # `80/tcp` keys (image EXPOSE + --expose)
    mac_address: str = ""


class Healthcheck(Model):
    """Docker's HEALTHCHECK: `test` is ["NONE"], ["CMD", …] or ["CMD-SHELL", cmd]; durations in nanoseconds."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0


class RestartPolicy(Model):
    name: str = "no"  # no | always | on-failure | unless-stopped
    maximum_retry_count: int = 0


class Ulimit(Model):
    name: str  # nofile, nproc, … (Docker's names, without RLIMIT_)
    soft: int
    hard: int


class DeviceMapping(Model):
    path_on_host: str
    path_in_container: str
    cgroup_permissions: str = "rwm"


class HostConfig(Model):
    auto_remove: bool = False
    restart_policy: RestartPolicy = RestartPolicy()
    log_driver: str = "json-file"  # json-file | none
    log_opts: dict[str, str] | None = None
    init: bool = False
    console_size: tuple[int, ...] = ()  # (height, width) of the pty before the first resize
    memory: int = 0
    memory_swap: int = 0  # Docker's MemorySwap: memory + swap; 0 unset (twice the memory), -1 unlimited
    cpu_shares: int = 0
    nano_cpus: int = 0
    pids_limit: int = 0
    read_only: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    # networking (engine/networks.py): `default`/`bridge`, `host`, `none`, `container:<id>` or a network name
    network_mode: str = ""
    port_bindings: tuple[str, ...] = ()  # `-p` specs as `ip:hostport:port/proto` (hostport empty: any)
    publish_all_ports: bool = False
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()  # `name:ip`
    network_ip: str = ""  # --ip on the first network
    network_aliases: tuple[str, ...] = ()  # --network-alias on the first network
    # run_options (cli/run_options.py, api/wire_resources.py): resources, limits, devices and namespaces
    memory_reservation: int = 0
    memory_swappiness: int = -1  # -1: unset (Docker's nil)
    oom_kill_disable: bool = False
    oom_score_adj: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    cpu_period: int = 0
    cpu_quota: int = 0
    blkio_weight: int = 0
    shm_size: int = 0  # bytes; 0: Docker's default 64 MiB
    ulimits: tuple[Ulimit, ...] = ()
    sysctls: dict[str, str] | None = None
    devices: tuple[DeviceMapping, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    ipc_mode: str = ""  # "" (private), private, shareable, none, host, container:<id>
    pid_mode: str = ""  # "", host, container:<id>
    uts_mode: str = ""  # "", host
    group_add: tuple[str, ...] = ()
    cgroup_parent: str = ""
    cgroupns_mode: str = ""  # "", host, private (Docker's default: host on cgroup v1, private on v2)
    runtime: str = ""  # as asked; the engine's one runtime runs every container
    annotations: dict[str, str] | None = None


class HealthResult(Model):
    start: str
    end: str
    exit_code: int
    output: str


class Health(Model):
    status: str = "starting"  # starting | healthy | unhealthy
    failing_streak: int = 0
    log: tuple[HealthResult, ...] = ()


class State(Model):
    status: str = "created"  # created | running | restarting | exited | dead (paused: running + `paused`)
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    paused: bool = False
    restarting: bool = False
    oom_killed: bool = False
    health: Health | None = None


class ContainerRecord(Model):
    id: str
    name: str  # without Docker's leading slash
    created: str
    image_id: str  # sha256:<hex>
    path: str
    args: tuple[str, ...] = ()
    config: ContainerConfig
    host_config: HostConfig = HostConfig()
    state: State = State()
    snapshot_key: str = ""  # the container's writable snapshot (image snapshotter); "" in older records: the id
    restart_count: int = 0
    manually_stopped: bool = False  # Docker's HasBeenManuallyStopped: no restart policy until the next start


# A cached record is trusted only if its file was last written this long before it was read (git's "racy
# index" rule): file times come from a coarse clock, so a rewrite within the same tick could keep mtime, size
# and even a reused inode; one second later, any rewrite shows a later mtime.
_STABLE_NS = 1_000_000_000


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    """What identifies one version of a record file for the listing caches."""
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _stable(st: os.stat_result) -> bool:
    return time.time_ns() - st.st_mtime_ns > _STABLE_NS


class RecordStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        # container id → ((inode, size, mtime, ctime) of the file read, its record): `list` decodes only records
        # that changed since the last listing (the daemon's `ps` over many containers).
        self._listed: dict[str, tuple[tuple[int, int, int, int], ContainerRecord]] = {}
        self._names: dict[str, tuple[tuple[int, int, int, int], str]] = {}  # the same, for `names` alone

    def save(self, record: ContainerRecord) -> None:
        path = self.paths.record(record.id)
        tmp = f"{path}.tmp{os.getpid()}"
        # why dumps: json.dump encodes in pure Python, piece by piece; dumps uses the C encoder in one go
        data = json.dumps(encode(record))
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, path)

    def delete(self, container_id: str) -> None:
        """Delete the container's directory, its record with it (`detach`, then the files)."""
        removing = self.detach(container_id)
        if removing:
            import shutil  # lazy: the slim monitor does not carry it

            shutil.rmtree(removing, ignore_errors=True)

    def detach(self, container_id: str) -> str:
        """Take the container's directory out of the containers directory: the container is gone at once. Returns
        where its files are now, for the caller to delete ("" when it was gone already); a crash leaves them to
        dockyardd's start-up. Why rename first: a lock file opened by path meanwhile (a concurrent repair's
        start.lock) would find the directory and keep it from going."""
        removing = f"{self.paths.containers}/{REMOVING_PREFIX}{container_id}"
        try:
            os.rename(self.paths.container_dir(container_id), removing)
        except FileNotFoundError:
            return ""
        return removing

    def load(self, container_id: str) -> ContainerRecord:
        path = self.paths.record(container_id)
        try:
            with open(path, "rb") as f:
                data: Any = json.load(f)
        except FileNotFoundError as err:
            raise NotFound(f"No such container: {container_id}") from err
        except (OSError, ValueError) as err:
            raise InternalError(f"read container record `{path}`: {err}") from err
        try:
            return decode(ContainerRecord, data)
        except SpecError as err:
            raise InternalError(f"read container record `{path}`: {err}") from err

    def _entries(self) -> list[str]:
        """The containers directory's entries, without the directories of removed containers still being deleted."""
        try:
            entries = os.listdir(self.paths.containers)
        except FileNotFoundError:
            return []
        return [e for e in entries if not e.startswith(REMOVING_PREFIX)]

    def ids(self) -> list[str]:
        return [e for e in self._entries() if os.path.isfile(self.paths.record(e))]

    def list(self) -> list[ContainerRecord]:
        entries = self._entries()
        out = []
        for container_id in entries:
            record = self._load_listed(container_id)
            if record is not None:
                out.append(record)
        for gone in self._listed.keys() - set(entries):
            del self._listed[gone]
        return sorted(out, key=lambda r: r.created, reverse=True)

    def _load_listed(self, container_id: str) -> ContainerRecord | None:
        """`load` for listing: None when there is no record (removed meanwhile, or not a container directory);
        a record unchanged since the last listing is not read again."""
        try:
            st = os.stat(self.paths.record(container_id))
        except (FileNotFoundError, NotADirectoryError):
            self._listed.pop(container_id, None)
            return None
        except OSError as err:
            raise InternalError(f"read container record `{self.paths.record(container_id)}`: {err}") from err
        key = _stamp(st)
        cached = self._listed.get(container_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            record = self.load(container_id)
        except NotFound:
            return None
        if _stable(st):
            self._listed[container_id] = (key, record)
        return record

    def resolve(self, ref: str) -> str:
        """The id a full id, a name (with or without `/`) or a unique id prefix names."""
        if not ref:
            raise InvalidArgument("container name or id must not be empty")
        ids = self.ids()
        if ref in ids:
            return ref
        name = ref.removeprefix("/")
        for record in self.list():
            if record.name == name:
                return record.id
        matches = [i for i in ids if i.startswith(ref)]
        if len(matches) > 1:
            raise Conflict(f"multiple IDs found with provided prefix: {ref}")
        if not matches:
            raise NotFound(f"No such container: {ref}")
        return matches[0]

    def name_in_use(self, name: str) -> str | None:
        """The id of the container called `name`, if any."""
        return self.names().get(name)

    def names(self) -> dict[str, str]:
        """Every container's name → id, read from the records' plain JSON, not decoded (a create picks a name among
        them: decoding each record was most of its cost right after other creates); cached as `list` caches."""
        entries = self._entries()
        out: dict[str, str] = {}
        for container_id in entries:
            path = self.paths.record(container_id)
            try:
                st = os.stat(path)
                key = _stamp(st)
                known = self._names.get(container_id)
                if known is not None and known[0] == key:
                    out[known[1]] = container_id
                    continue
                with open(path, "rb") as f:
                    name = json.load(f).get("name")
            except (OSError, ValueError, AttributeError):
                continue  # removed meanwhile, not a container directory, or unreadable: `list` reports those
            if isinstance(name, str) and name:
                out[name] = container_id
                if _stable(st):
                    self._names[container_id] = (key, name)
        for gone in self._names.keys() - set(entries):
            del self._names[gone]
        return out

    @contextlib.contextmanager
    def locked(self, container_id: str) -> Iterator[None]:
        """Hold the container's record lock (flock on <dir>/record.lock) for a read-modify-write."""
        path = os.path.join(self.paths.container_dir(container_id), "record.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError as err:
            raise NotFound(f"No such container: {container_id}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update_state(self, container_id: str, change: Callable[[State], State]) -> ContainerRecord:
        with self.locked(container_id):
            record = self.load(container_id)
            record = replace(record, state=change(record.state))
            self.save(record)
            return record

    def update(self, container_id: str, change: Callable[[ContainerRecord], ContainerRecord]) -> ContainerRecord:
        """Read-modify-write the whole record under its lock (restart count, manual-stop flag, state together)."""
        with self.locked(container_id):
            record = change(self.load(container_id))
            self.save(record)
            return record
