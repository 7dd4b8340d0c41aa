"""Repairing what a killed CLI or monitor left behind, on the next look at the container.

As Docker does on a daemon restart with live-restore off, a container whose monitor is gone is stopped: its
processes are killed (the runtime's `delete --force`, after thawing a paused one), its rootfs unmounted and its
bundle removed, and the record says `exited` (137 when something had to be killed, 255 when its fate is unknown)
with an error; its network and volumes are released. A start interrupted before its monitor took over (a mounted
rootfs, no monitor) is undone the same way. Starts hold <container>/start.lock, so a start in progress in another
process is never mistaken for debris.

Restart policies then apply as at dockerd's start-up (daemon.restore): `always`, `unless-stopped` when the user did
not stop it, and `on-failure` within its retry budget are started again, the count going back to 0 (moby's
containerStart with resetRestartManager). Without a daemon this happens on the next look at the container; with
dockyardd, at its start (`Engine.recover`). Nothing here decides a policy: engine/restart.py does.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dockyard.engine.records import REMOVING_PREFIX, ZERO_TIME, now
from dockyard.engine.restart import RESET_AFTER, BackoffState, should_restart
from dockyard.engine.rootfs import unmount
from dockyard.engine.runtime_client import RuntimeFailure
from dockyard.engine.runtime_fork import runtime_for
from dockyard.errors import DockyardError, NotFound
from dockyard.oci.model import replace

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.records import ContainerRecord

EXIT_KILLED = 137
EXIT_UNKNOWN = 255
LIVE = ("running", "restarting")


@contextlib.contextmanager
def start_lock(c: Containers, cid: str, *, blocking: bool = True, missing_ok: bool = False) -> Iterator[bool]:
    """Hold <container>/start.lock; yields False (non-blocking) when another process holds it, or (`missing_ok`)
    when the container is gone; NotFound for a container gone otherwise."""
    path = os.path.join(c.paths.container_dir(cid), "start.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError as err:
        if missing_ok:
            yield False
            return
        raise NotFound(f"No such container: {cid}") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def needs_repair(c: Containers, record: ContainerRecord) -> bool:
    if c._monitor_alive(record.id):
        return False
    return record.state.status in LIVE or os.path.isdir(c.paths.bundle(record.id))


def repair(c: Containers, record: ContainerRecord, *, restart: bool = True) -> ContainerRecord:
    """Stop and clean a container whose monitor is gone, then (`restart`) start it again if its policy says so;
    returns the record as it is afterwards."""
    cid = record.id
    with start_lock(c, cid, blocking=False, missing_ok=True) as mine:
        if not mine:
            # a start is in progress elsewhere, or the container was removed meanwhile (an auto-removed one's
            # monitor finishing its cleanup: engine/monitor_teardown.py)
            return record
        try:
            record = c.records.load(cid)
        except NotFound:
            return record
        if not needs_repair(c, record):
            return record
        killed = _stop_leftovers(c, cid)
        if record.state.status not in LIVE:
            return record
        code = EXIT_KILLED if killed else EXIT_UNKNOWN
        finished = now()
        record = c.records.update(cid, lambda r: replace(r, state=replace(
            r.state, status="exited", pid=0, exit_code=code, finished_at=finished, paused=False, restarting=False,
            error="monitor exited unexpectedly")))  # fmt: skip
    if record.host_config.auto_remove:
        with contextlib.suppress(Exception):
            c.remove(cid, force=True, volumes=True)  # --rm removes anonymous volumes too
        return record
    if restart and wants_restart(record):
        return restart_by_policy(c, record)
    return record


def wants_restart(record: ContainerRecord) -> bool:
    """moby's ShouldRestart at daemon start for a stopped container: its policy, its manual-stop flag, its exit
    code and restart count (never a container that was only created, nor one removed with --rm)."""
    state = record.state
    if state.status != "exited" or state.started_at == ZERO_TIME or record.host_config.auto_remove:
        return False
    decision = should_restart(record.host_config.restart_policy, BackoffState(count=record.restart_count),
                              exit_code=state.exit_code, manually_stopped=record.manually_stopped,
                              ran_for=RESET_AFTER)  # fmt: skip
    return decision.restart


def restart_by_policy(c: Containers, record: ContainerRecord) -> ContainerRecord:
    """Start a container again under its restart policy; a failure is recorded in its State.Error, not raised
    (the command that looked at the container is not the one that failed)."""
    try:
        return c.start(record.id)
    except (DockyardError, OSError) as err:
        message = getattr(err, "message", None) or str(err)
        with contextlib.suppress(NotFound):
            return c.records.update(record.id, lambda r: replace(r, state=replace(r.state, error=message)))
        return record


def _stop_leftovers(c: Containers, cid: str) -> bool:
    """Kill the container's processes and remove the runtime state, the rootfs mount and the bundle."""
    killed = _stop_processes(c, cid)
    shutil.rmtree(c.paths.bundle(cid), ignore_errors=True)
    with contextlib.suppress(DockyardError, OSError):
        c.networks.release(cid)  # the monitor's exit hook never ran: endpoints, leases and NAT rules go now
    with contextlib.suppress(DockyardError, OSError):
        c.volumes.release(cid)
    _remove_cgroups(cid)
    return killed


def _stop_processes(c: Containers, cid: str) -> bool:
    """Kill the container's processes, remove its runtime state and unmount its rootfs; whether any was alive."""
    runtime = runtime_for(c.runtime_binary, c.paths.runtime_root)
    killed = False
    if os.path.isdir(os.path.join(c.paths.runtime_root, cid)):
        with contextlib.suppress(RuntimeFailure):
            killed = runtime.state(cid).status in ("running", "paused", "created")
        with contextlib.suppress(RuntimeFailure):
            runtime.resume(cid)  # frozen tasks do not die before they are thawed
        with contextlib.suppress(RuntimeFailure):
            runtime.delete(cid, force=True)
    unmount(c.paths.rootfs(cid))
    return killed


def sweep_orphan_bundles(c: Containers) -> list[str]:
    """Bundles left by a monitor killed while it finished an auto-removal (engine/monitor_teardown.py): the record
    is gone and no monitor holds the bundle's lock. Their runtime state, rootfs mount, cgroups, the container's
    files (detached: RecordStore.detach) and the bundle go; the network and volumes went before the record, the
    snapshot's directory waits in the snapshotter's trash for its next recovery. Cheap enough for every start:
    one directory listing."""
    try:
        names = os.listdir(c.paths.bundles)
    except FileNotFoundError:
        return []
    swept = []
    for cid in names:
        if os.path.isdir(c.paths.container_dir(cid)):
            continue  # why: `rm` and a start make and remove the bundle inside the container directory's life
        try:
            fd = os.open(c.paths.bundle(cid), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # its monitor is still at it
        try:
            _stop_processes(c, cid)
            shutil.rmtree(os.path.join(c.paths.containers, REMOVING_PREFIX + cid), ignore_errors=True)
            shutil.rmtree(c.paths.bundle(cid), ignore_errors=True)
            _remove_cgroups(cid)
            swept.append(cid)
        finally:
            os.close(fd)
    return swept


def _remove_cgroups(cid: str) -> None:
    """rmdir the container's default cgroups left behind when the runtime's state was already gone (v1 and v2)."""
    # why: rmdir of a cgroup only succeeds once its last task is reaped; a busy one is left for the runtime
    for path in (*glob.glob(f"/sys/fs/cgroup/*/dockyard/{cid}"), f"/sys/fs/cgroup/dockyard/{cid}"):
        with contextlib.suppress(OSError):
            os.rmdir(path)
