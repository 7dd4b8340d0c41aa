"""`docker exec` on the engine side: exec records (create/inspect), and running the process through the runtime's
`exec --process` — attached (the caller relays its stdio) or detached (a small waiter process outlives the caller
and records the exit code).

Exec records live at <container>/execs/<id>.json, updated under a per-record flock. The process spec is the
container's own process (config.json in its bundle) with the exec's overrides, as runc/containerd do. Never joins
namespaces itself: only the runtime does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dockyard.engine import cgroup_warm, events
from dockyard.engine.runtime_client import error_from_log
from dockyard.engine.spec import merge_env
from dockyard.engine.users import resolve_user
from dockyard.errors import Conflict, InternalError, NotFound
from dockyard.oci.jsonmodel import decode, encode
from dockyard.oci.model import replace
from dockyard.paths import Paths

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.records import ContainerRecord

_START_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecConfig:
    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    tty: bool = False
    privileged: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    detach_keys: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecRecord:
    id: str
    container_id: str
    config: ExecConfig
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    error: str = ""


class ExecStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    def directory(self, container_id: str) -> str:
        return os.path.join(self.paths.container_dir(container_id), "execs")

    def path(self, container_id: str, exec_id: str) -> str:
        return os.path.join(self.directory(container_id), f"{exec_id}.json")

    def save(self, record: ExecRecord) -> None:
        path = self.path(record.container_id, record.id)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(encode(record), f)
        os.replace(tmp, path)

    def ids(self, container_id: str) -> tuple[str, ...]:
        """The container's exec ids that have not finished (Docker's ExecIDs)."""
        try:
            names = sorted(os.listdir(self.directory(container_id)))
        except FileNotFoundError:
            return ()
        out = []
        for name in names:
            if name.endswith(".json") and "." not in name.removesuffix(".json"):
                with contextlib.suppress(NotFound, InternalError):
                    record = self._read(os.path.join(self.directory(container_id), name))
                    if record.exit_code is None:
                        out.append(record.id)
        return tuple(out)

    def find(self, exec_id: str) -> ExecRecord:
        try:
            containers = os.listdir(self.paths.containers)
        except FileNotFoundError:
            containers = []
        for cid in containers:
            path = self.path(cid, exec_id)
            if os.path.exists(path):
                return self._read(path)
        raise NotFound(f"No such exec instance: {exec_id}")

    def _read(self, path: str) -> ExecRecord:
        try:
            with open(path, "rb") as f:
                data: Any = json.load(f)
        except FileNotFoundError as err:
            raise NotFound(f"No such exec instance: {os.path.basename(path).removesuffix('.json')}") from err
        except (OSError, ValueError) as err:
            raise InternalError(f"read exec record `{path}`: {err}") from err
        return decode(ExecRecord, data)

    @contextlib.contextmanager
    def locked(self, record: ExecRecord) -> Iterator[None]:
        fd = os.open(self.path(record.container_id, record.id) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update(self, record: ExecRecord, **changes: Any) -> ExecRecord:
        with self.locked(record):
            current = self._read(self.path(record.container_id, record.id))
            current = replace(current, **changes)
            self.save(current)
            return current


def not_running(record: ContainerRecord) -> Conflict | None:
    state = record.state
    if state.status == "paused" or getattr(state, "paused", False):
        return Conflict(f"Container {record.id} is paused, unpause the container before exec")
    if state.status != "running":
        return Conflict(f"Container {record.id} is not running")
    return None


def create(containers: Containers, ref: str, config: ExecConfig) -> ExecRecord:
    record = containers.get(ref)
    refused = not_running(record)
    if refused is not None:
        raise refused
    cgroup_warm.kick()  # the exec'd process joins the container's cgroups when it starts
    exec_record = ExecRecord(id=secrets.token_hex(32), container_id=record.id, config=config)
    ExecStore(containers.paths).save(exec_record)
    events.emit_container(containers.paths, record, f"exec_create: {' '.join(config.cmd)}", execID=exec_record.id)
    return exec_record


def inspect(containers: Containers, exec_id: str) -> ExecRecord:
    return ExecStore(containers.paths).find(exec_id)


# ---- running ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """Everything a runtime `exec` needs: the argv (without stdio) and the files it writes."""

    argv: tuple[str, ...]
    pid_file: str
    log_file: str
    process_file: str


def prepare(containers: Containers, exec_record: ExecRecord, *, console_socket: str | None = None) -> Prepared:
    """Write the exec's process.json (the container's process with the exec's overrides) and build the argv."""
    cid = exec_record.container_id
    record = containers.get(cid)
    refused = not_running(record)
    if refused is not None:
        raise refused
    if exec_record.started:
        raise Conflict(f"Error: Exec command {exec_record.id} has already run")
    process = _process(containers, record, exec_record.config)
    directory = ExecStore(containers.paths).directory(cid)
    base = os.path.join(directory, exec_record.id)
    with open(base + ".process.json", "w", encoding="utf-8") as f:
        json.dump(process, f)
    for leftover in (base + ".pid", base + ".log"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)
    argv = [containers.runtime_binary, "--root", containers.paths.runtime_root, "--log", base + ".log"]
    argv += ["--log-format", "json", "exec", "--process", base + ".process.json", "--pid-file", base + ".pid"]
    if console_socket:
        # why: with a terminal the runtime detaches (runc refuses a console socket otherwise) and the caller,
        # a child subreaper, waits for the process itself — containerd-shim's way
        argv += ["--detach", "--console-socket", console_socket]
    return Prepared(argv=(*argv, cid), pid_file=base + ".pid", log_file=base + ".log",
                    process_file=base + ".process.json")  # fmt: skip


def _process(containers: Containers, record: ContainerRecord, config: ExecConfig) -> dict[str, Any]:
    bundle_config = os.path.join(containers.paths.bundle(record.id), "config.json")
    try:
        with open(bundle_config, encoding="utf-8") as f:
            process: dict[str, Any] = dict(json.load(f)["process"])
    except (OSError, ValueError, KeyError) as err:
        raise InternalError(f"exec in container `{record.id}`: read `{bundle_config}`: {err}") from err
    process["args"] = list(config.cmd)
    process["env"] = list(merge_env(list(process.get("env") or ()), config.env))
    process["terminal"] = config.tty
    if config.tty and not any(e.startswith("TERM=") for e in process["env"]):
        process["env"].append("TERM=xterm")
    if config.working_dir:
        process["cwd"] = config.working_dir
    if config.user:
        user = resolve_user(config.user, containers.paths.rootfs(record.id))
        process["user"] = {"uid": user.uid, "gid": user.gid, "additionalGids": list(user.additional_gids)}
    if config.privileged:
        caps = list(containers.host.capabilities)
        process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    process.pop("consoleSize", None)
    return process


def started(containers: Containers, exec_record: ExecRecord, pid: int) -> ExecRecord:
    record = ExecStore(containers.paths).update(exec_record, running=True, started=True, pid=pid)
    with contextlib.suppress(NotFound):
        events.emit_container(containers.paths, containers.get(record.container_id),
                              f"exec_start: {' '.join(record.config.cmd)}", execID=record.id)  # fmt: skip
    return record


def finished(containers: Containers, exec_record: ExecRecord, exit_code: int, error: str = "") -> ExecRecord:
    record = ExecStore(containers.paths).update(
        exec_record, running=False, started=True, exit_code=exit_code, error=error
    )
    with contextlib.suppress(NotFound):
        events.emit_container(containers.paths, containers.get(record.container_id), "exec_die",
                              execID=record.id, exitCode=str(exit_code))  # fmt: skip
    return record


def start_error_code(message: str) -> int:
    """moby's translateContainerdStartErr: 127 when the command is not found, 126 when it cannot be run."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "is a directory" in message or "not a directory" in message:
        return 126
    return 126


def runtime_error(prepared: Prepared, fallback: str) -> str:
    return error_from_log(prepared.log_file) or fallback


def read_pid(prepared: Prepared) -> int:
    try:
        with open(prepared.pid_file, encoding="ascii") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def start_detached(containers: Containers, exec_record: ExecRecord) -> ExecRecord:
    """Run the exec with no stdio under a waiter process that records its exit; returns once it runs."""
    prepared = prepare(containers, exec_record)
    read_fd, write_fd = os.pipe()
    job = {"data_root": containers.paths.data_root, "exec_root": containers.paths.exec_root,
           "exec": exec_record.id, "container": exec_record.container_id, "argv": list(prepared.argv),
           "pid_file": prepared.pid_file, "log_file": prepared.log_file, "process_file": prepared.process_file,
           "ready_fd": write_fd}  # fmt: skip
    try:
        subprocess.Popen(
            [sys.executable, "-m", "dockyard.engine.exec", json.dumps(job)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,), start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        report = f.read()
    try:
        data = json.loads(report)
    except ValueError as err:
        raise InternalError(f"exec `{exec_record.id}`: the waiter exited without reporting") from err
    if "error" in data:
        from dockyard.engine.runtime_client import RuntimeFailure

        raise RuntimeFailure("exec", str(data["error"]))
    return ExecStore(containers.paths).find(exec_record.id)


def _waiter(job: dict[str, Any]) -> int:
    """The detached exec's waiter: run the runtime's exec, report start, wait, record the exit code."""
    from dockyard.engine.engine import Engine

    paths = Paths(data_root=job["data_root"], exec_root=job["exec_root"])
    containers = Engine(paths).containers
    store = ExecStore(paths)
    exec_record = store.find(job["exec"])
    prepared = Prepared(argv=tuple(job["argv"]), pid_file=job["pid_file"], log_file=job["log_file"],
                        process_file=job["process_file"])  # fmt: skip
    ready = int(job["ready_fd"])
    null = os.open(os.devnull, os.O_RDWR)
    proc = subprocess.Popen(prepared.argv, stdin=null, stdout=null, stderr=null)
    deadline = time.monotonic() + _START_TIMEOUT
    pid = 0
    while proc.poll() is None and time.monotonic() < deadline:
        pid = read_pid(prepared)
        if pid:
            break
        time.sleep(0.002)
    pid = pid or read_pid(prepared)
    if not pid:
        code = proc.wait()
        message = runtime_error(prepared, f"exit status {code}")
        finished(containers, exec_record, start_error_code(message), message)
        os.write(ready, json.dumps({"error": message}).encode())
        os.close(ready)
        return 0
    exec_record = started(containers, exec_record, pid)
    os.write(ready, json.dumps({"pid": pid}).encode())
    os.close(ready)
    code = proc.wait()
    finished(containers, exec_record, code if code >= 0 else 128 - code)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m dockyard.engine.exec JOB_JSON`: the waiter of a detached exec."""
    args = sys.argv[1:] if argv is None else argv
    try:
        return _waiter(json.loads(args[0]))
    except Exception:  # why: the waiter is detached; its failures can only be recorded, never shown
        return 1


if __name__ == "__main__":
    sys.exit(main())
