"""Container lifecycle: create, start, wait, logs, remove, list; the engine side of /containers/*.

Prepares the bundle (overlay rootfs + config.json) and hands the running container to its monitor. Owns no Docker
field names and never runs the container's processes itself: the runtime does, through the monitor.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from functools import cached_property

from dockyard import tracing
from dockyard.engine import cgroup_warm, events, health, initproc, lifecycle, monitor, recovery, rootfs, spec, waiting
from dockyard.engine.cancel import Cancel
from dockyard.engine.logs import LogEntry, LogQuery
from dockyard.engine.logs_access import container_logs as lifecycle_logs
from dockyard.engine.names import random_name, validate_name
from dockyard.engine.networks import ContainerNetworks, mode_of
from dockyard.engine.records import ContainerConfig, ContainerRecord, Healthcheck, HostConfig, RecordStore, State, now
from dockyard.engine.runtime_client import CliRuntime, RuntimeFailure, find_runtime
from dockyard.engine.spec_resources import SHM_DEFAULT
from dockyard.engine.users import resolve_user
from dockyard.engine.volumes import ContainerVolumes, MountRequest, apply_mounts
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.image.store import ImageStore
from dockyard.oci.model import Model, replace
from dockyard.paths import Paths


class CreateRequest(Model):
    """What a client asks for; `None` for cmd/entrypoint means "the image's", `()` means "none"."""

    image: str
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    domainname: str = ""
    labels: dict[str, str] | None = None
    tty: bool = False
    open_stdin: bool = False
    host_config: HostConfig = HostConfig()
    exposed_ports: tuple[str, ...] = ()  # `80/tcp` keys
    mac_address: str = ""
    stdin_once: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    stop_signal: str = ""
    stop_timeout: int | None = None
    healthcheck: Healthcheck | None = None
    storage: MountRequest = MountRequest()  # -v, --mount, --tmpfs, --volumes-from (engine/volumes.py)


class ExitStatus(Model):
    status_code: int
    error: str = ""


class Containers:
    def __init__(self, paths: Paths, images: ImageStore, runtime: str | None = None) -> None:
        self.paths = paths
        self.images = images
        self.records = RecordStore(paths)
        self._runtime_name = runtime

    @cached_property
    def runtime_binary(self) -> str:
        return find_runtime(self._runtime_name)

    @cached_property
    def host(self) -> spec.HostInfo:
        return spec.host_info()

    @cached_property
    def volumes(self) -> ContainerVolumes:
        return ContainerVolumes(self.paths, self.records.resolve)

    @cached_property
    def networks(self) -> ContainerNetworks:
        return ContainerNetworks(self.paths, self.get)

    # ---- create ------------------------------------------------------------------------------------------

    def create(self, request: CreateRequest, name: str | None = None) -> ContainerRecord:
        cgroup_warm.kick()  # a start usually follows: the kernel's cgroup lock warms up meanwhile
        image = self.images.get(request.image)
        spec.capabilities(request.host_config, self.host.capabilities)  # validates --cap-add/--cap-drop
        spec.parse_security_opts(request.host_config.security_opt)
        lifecycle.check_create(request)
        hc = request.host_config
        self.networks.validate(mode_of(hc.network_mode), ip=hc.network_ip, aliases=hc.network_aliases,
                               ports=hc.port_bindings)  # fmt: skip
        image_config = image.run_config
        entrypoint = request.entrypoint if request.entrypoint is not None else tuple(image_config.entrypoint or ())
        cmd = request.cmd
        if not cmd and not request.entrypoint:
            cmd = tuple(image_config.cmd or ())
        argv = (*entrypoint, *(cmd or ()))
        if not argv or not argv[0]:
            raise InvalidArgument("No command specified")
        config = ContainerConfig(
            image=request.image,
            cmd=tuple(cmd or ()),
            entrypoint=entrypoint,
            env=spec.merge_env(list(image_config.env or ()), request.env),
            working_dir=request.working_dir or image_config.working_dir or "",
            user=request.user or image_config.user or "",
            hostname=request.hostname,
            domainname=request.domainname,
            labels=_merge_labels(image_config.labels, request.labels),
            tty=request.tty,
            open_stdin=request.open_stdin,
            exposed_ports=tuple(sorted({*image_config.ports(), *request.exposed_ports})),
            mac_address=request.mac_address,
            stdin_once=request.stdin_once,
            attach_stdin=request.attach_stdin,
            attach_stdout=request.attach_stdout,
            attach_stderr=request.attach_stderr,
            stop_signal=request.stop_signal or image_config.stop_signal or "",
            stop_timeout=request.stop_timeout,
            healthcheck=health.merge(request.healthcheck, image_config.healthcheck),
        )
        planned_mounts = self.volumes.plan(request.storage, image_config.volume_paths())  # Docker's checks first
        container_id = secrets.token_hex(32)
        record = ContainerRecord(
            id=container_id,
            name="",
            created=now(),
            image_id=str(image.id),
            path=argv[0],
            args=argv[1:],
            config=config,
            host_config=request.host_config,
        )
        record = replace(record, snapshot_key=container_id)
        with self.images.lease():  # no image gc until the record that keeps the new snapshot is saved
            rootfs.prepare_snapshot(self.images, image, record.snapshot_key)
            try:
                with self._names_lock():
                    record = replace(record, name=self._pick_name(name))
                    directory = self.paths.container_dir(container_id)
                    os.makedirs(directory, mode=0o710)
                    rootfs.write_etc_files(directory, config.hostname or container_id[:12])
                    open(self.paths.log(container_id), "ab").close()
                    self.records.save(record)
                    self.volumes.attach(container_id, planned_mounts)
            except BaseException:
                rootfs.release_snapshot(self.images, record.snapshot_key)
                raise
        events.emit_container(self.paths, record, "create")
        return record

    def _pick_name(self, name: str | None) -> str:
        if name:
            name = validate_name(name)
            owner = self.records.name_in_use(name)
            if owner is not None:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container "{owner}". '
                    "You have to remove (or rename) that container to be able to reuse that name."
                )
            return name
        taken = self.records.names()
        for attempt in range(10):
            candidate = random_name(attempt)
            if candidate not in taken:
                return candidate
        return f"dockyard_{secrets.token_hex(4)}"

    @contextlib.contextmanager
    def _names_lock(self) -> Iterator[None]:
        os.makedirs(self.paths.containers, exist_ok=True)
        fd = os.open(os.path.join(self.paths.containers, ".names.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # ---- start -------------------------------------------------------------------------------------------

    def start(self, ref: str, record: ContainerRecord | None = None) -> ContainerRecord:
        """Start a created or exited container; returns it running. Already running: no-op (Docker's 304).
        `record`: the container as the caller has just read it (`get`), not read again."""
        record = record if record is not None and record.id == ref else self.get(ref)
        if record.state.status in lifecycle.LIVE:
            return record
        cgroup_warm.kick()
        recovery.sweep_orphan_bundles(self)
        with recovery.start_lock(self, record.id):
            return self._start(record.id)

    def _start(self, cid: str) -> ContainerRecord:
        tracing.mark("engine: start")
        lifecycle.await_monitor_gone(self, cid)
        record, expect_attach = lifecycle.prepare_start(self, cid)
        if record.state.status in lifecycle.LIVE:
            return record
        directory = self.paths.container_dir(cid)
        bundle = self.paths.bundle(cid)
        os.makedirs(bundle, mode=0o700, exist_ok=True)
        target = self.paths.rootfs(cid)
        rootfs.mount_snapshot(self.images, record.snapshot_key or cid, target)
        tracing.mark("engine: rootfs mounted")
        try:
            if record.host_config.ipc_mode == "shareable":  # --ipc container:<x> joiners bind it (moby's ShmPath)
                rootfs.mount_shm(target, record.host_config.shm_size or SHM_DEFAULT)
            user_mounts = self.volumes.setup(cid, target)  # needs the rootfs mounted: copy-up reads it
            files = spec.EtcFiles(
                hostname=os.path.join(directory, "hostname"),
                hosts=os.path.join(directory, "hosts"),
                resolv_conf=os.path.join(directory, "resolv.conf"),
            )
            user = resolve_user(record.config.user, target)
            netns = self.networks.setup(record)
            tracing.mark("engine: network set up")
            config = spec.build_spec(record, rootfs=target, user=user, files=files, host=self.host,
                                     netns_path=netns, lookup=self.get)  # fmt: skip
            config = initproc.apply(config, record)
            config = apply_mounts(config, user_mounts)
            with open(os.path.join(bundle, "config.json"), "w", encoding="utf-8") as f:
                f.write(json.dumps(config.to_json()))  # one write: json.dump writes chunk by chunk
            tracing.mark("engine: launch monitor")
            monitor.launch(
                monitor.MonitorConfig(
                    container_id=cid,
                    data_root=self.paths.data_root,
                    exec_root=self.paths.exec_root,
                    runtime=self.runtime_binary,
                    auto_remove=record.host_config.auto_remove,
                    expect_attach=expect_attach,
                )
            )
        except BaseException:
            with contextlib.suppress(DockyardError, OSError):
                self.networks.remove(cid)
            with contextlib.suppress(DockyardError, OSError):
                self.volumes.release(cid)
            rootfs.unmount(target)
            raise
        tracing.mark("engine: monitor reported")
        try:
            return self.records.load(cid)
        except NotFound:  # why: a quick `--rm` container may have exited and been removed by its monitor already
            return record

    # ---- observe -----------------------------------------------------------------------------------------

    def get(self, ref: str) -> ContainerRecord:
        return self._refresh(self.records.load(self.records.resolve(ref)))

    def list(self, all: bool = False) -> list[ContainerRecord]:
        records = [self._refresh(r) for r in self.records.list()]
        return records if all else [r for r in records if r.state.status == "running"]

    def _monitor_alive(self, cid: str) -> bool:
        try:
            fd = os.open(self.paths.monitor_lock(cid), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def _refresh(self, record: ContainerRecord) -> ContainerRecord:
        """A record whose monitor is gone while it says running (or a start that died half-way): stopped and
        cleaned as Docker does on a daemon restart (engine/recovery.py)."""
        if not recovery.needs_repair(self, record):
            return record
        return recovery.repair(self, record)

    def logs(self, ref: str, query: LogQuery | None = None, *, follow: bool = False) -> Iterator[LogEntry]:
        return lifecycle_logs(self, ref, query or LogQuery(follow=follow))

    def wait(self, ref: str, condition: str = "not-running", cancel: Cancel | None = None) -> ExitStatus:
        """Block until the condition (not-running, next-exit, removed); the exit code (also after an auto-remove).
        `Cancelled` once `cancel` is set."""
        return waiting.wait(self, ref, condition, cancel)

    def stop(self, ref: str, *, timeout: int | None = None, sig: str | None = None) -> bool:
        """The stop signal, then SIGKILL after the timeout; False when it was not running (Docker's 304)."""
        return lifecycle.stop(self, ref, timeout=timeout, sig=sig).was_running

    def restart(self, ref: str, *, timeout: int | None = None, sig: str | None = None) -> None:
        lifecycle.restart(self, ref, timeout=timeout, sig=sig)

    def pause(self, ref: str) -> None:
        lifecycle.pause(self, ref)

    def unpause(self, ref: str) -> None:
        lifecycle.unpause(self, ref)

    def resize(self, ref: str, height: int, width: int) -> None:
        lifecycle.resize(self, ref, height, width)

    def attach(self, ref: str, *, stdin: bool, stdout: bool, stderr: bool, pending: bool = False) -> socket.socket:
        """A socket with the container's attach stream (Docker's wire format); see engine/attach.py."""
        return lifecycle.attach_socket(self, ref, stdin=stdin, stdout=stdout, stderr=stderr, pending=pending)

    def prepare_wait(
        self, ref: str, condition: str = "not-running", cancel: Cancel | None = None
    ) -> Callable[[], ExitStatus]:
        """Resolve the container now and return the blocking wait for later (an API response's body).

        The monitor's lock file is opened now, while the container exists: the exit status the monitor writes
        into it stays readable through this descriptor after an auto-remove deletes the file."""
        cid = self.get(ref).id
        # why: a wait posted before the start (`run --rm`, as the docker CLI does) finds no monitor yet: the lock
        # file is created here, and the monitor, which opens it with O_CREAT and no truncation before its
        # LOCK_EX, writes its final status into this same inode
        try:
            lock_fd: int | None = os.open(self.paths.monitor_lock(cid), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            lock_fd = None

        def wait() -> ExitStatus:
            try:
                return self.wait(cid, condition, cancel)
            except NotFound:
                if lock_fd is None:
                    raise
                fcntl.flock(lock_fd, fcntl.LOCK_SH)  # the monitor holds it until its status is written
                return self._final_status(cid, os.pread(lock_fd, 4096, 0))
            finally:
                if lock_fd is not None:
                    os.close(lock_fd)

        return wait

    def _final_status(self, cid: str, lock_data: bytes) -> ExitStatus:
        try:
            state = self.records.load(cid).state
            return ExitStatus(status_code=state.exit_code, error=state.error)
        except NotFound:
            try:
                return ExitStatus(status_code=int(json.loads(lock_data)["StatusCode"]))
            except (ValueError, KeyError, TypeError) as err:
                raise NotFound(f"No such container: {cid}") from err

    # ---- remove ------------------------------------------------------------------------------------------

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        """Remove a container; `volumes` (`rm -v`) also removes its anonymous volumes."""
        record = self.get(ref)
        cid = record.id
        if record.state.status in lifecycle.LIVE:
            if not force:
                raise Conflict(
                    f'cannot remove container "/{record.name}": container is {record.state.status}: stop the '
                    "container before removing or force remove"
                )
            lifecycle.force_stop(self, cid)
        lifecycle.await_monitor_gone(self, cid)
        runtime = CliRuntime(self.runtime_binary, self.paths.runtime_root)
        with contextlib.suppress(RuntimeFailure):
            if os.path.isdir(os.path.join(self.paths.runtime_root, cid)):
                runtime.delete(cid, force=True)
        rootfs.unmount(self.paths.rootfs(cid))
        rootfs.release_snapshot(self.images, record.snapshot_key or cid)
        self.networks.remove(cid)
        shutil.rmtree(self.paths.bundle(cid), ignore_errors=True)
        self.volumes.detach(cid, remove_anonymous=volumes)
        self.records.delete(cid)
        events.emit_container(self.paths, record, "destroy")

    def kill(self, ref: str, sig: str = "SIGKILL") -> None:
        lifecycle.kill(self, ref, sig)


def _merge_labels(image: dict[str, str] | None, given: dict[str, str] | None) -> dict[str, str] | None:
    merged = {**(image or {}), **(given or {})}
    return merged or None


def _signal_number(sig: str) -> int:
    name = sig.upper()
    if name.isdigit():
        return int(name)
    try:
        return int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    except KeyError as err:
        raise InvalidArgument(f"invalid signal: {sig}") from err


__all__ = ["Containers", "CreateRequest", "ExitStatus", "State"]
