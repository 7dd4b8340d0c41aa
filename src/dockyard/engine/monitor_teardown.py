"""What a monitor releases once its container is done for good: the rootfs mount and bundle, network and volumes,
and for `--rm` the snapshot and the record; each step independent of the others. Runs in the monitor only.

An auto-removed container is reported gone as soon as nothing can see it any more (`remove_first`): its ports,
anonymous volumes, snapshot key and record are gone, the `destroy` event sent. What only takes time (the
runtime's delete and its cgroup rmdirs, the rootfs unmount, deleting the snapshot's directory and the bundle,
the host veths) runs after `run --rm` returned (`run_later`), under a lock on the bundle directory that tells
the orphan sweep (engine/recovery.py `sweep_orphan_bundles`) this monitor is still at it.
"""

from __future__ import annotations

import contextlib
import os

from dockyard.errors import NotFound

PAUSE_ENV = "DOCKYARD_MONITOR_TEST_PAUSE_AT"

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.paths import Paths


def release_all(paths: Paths, cid: str) -> list[Callable[[], None]]:
    """Every release of a container that stays (it may be started again: nothing is left for later but what the
    network defers); one failing (a missing module, a busy mount) leaves the others done and is logged to the
    container's monitor.log."""
    later: list[Callable[[], None]] = []
    _run_steps(paths, cid, [
        ("rootfs", lambda: release_rootfs(paths, cid)),
        ("network", lambda: _defer(later, release_network(paths, cid, auto_remove=False))),
        ("volumes", lambda: release_volumes(paths, cid, auto_remove=False)),
    ])  # fmt: skip
    return later


def remove_first(
    paths: Paths, cid: str, *, destroyed: Callable[[], None], begin_delete: Callable[[], Callable[[], None]]
) -> list[Callable[[], None]]:
    """An auto-removed container's releases up to its removal (network, volumes, snapshot key, record; `destroyed`
    is called once the record is gone); returns the rest, in order, for `run_later`: the runtime's delete
    (`begin_delete` starts it and returns its wait) runs while the rootfs is unmounted and the snapshot's
    directory deleted. The bundle directory is locked first and stays so until it is removed, after the
    runtime's delete: only the host veths come later."""
    bundle_fd = hold_bundle(paths, cid)
    network: list[Callable[[], None]] = []
    trash: list[str] = []
    _run_steps(paths, cid, [
        ("network", lambda: _defer(network, release_network(paths, cid, auto_remove=True))),
        ("volumes", lambda: release_volumes(paths, cid, auto_remove=True)),
        ("snapshot and record", lambda: trash.extend(detach_container(paths, cid, destroyed))),
    ])  # fmt: skip
    runtime_deleted = [lambda: None]

    def delete_runtime() -> None:
        runtime_deleted[0] = begin_delete()

    return [
        delete_runtime,
        lambda: _unmount_rootfs(paths, cid),
        lambda: _remove_trees(trash),
        lambda: runtime_deleted[0](),
        lambda: _remove_bundle(paths, cid, bundle_fd),
        *network,
    ]


def _run_steps(paths: Paths, cid: str, steps: list[tuple[str, Callable[[], None]]]) -> None:
    """Each step, whatever the ones before did; a failure is logged to the container's monitor.log."""
    from dockyard import tracing

    for name, step in steps:
        try:
            step()
        except Exception:
            log_exception(paths, cid)
        tracing.mark(f"teardown: {name} released")


def hold_bundle(paths: Paths, cid: str) -> int:
    """An exclusive flock on the container's bundle directory (-1 without one): while held, a bundle without a
    record is this monitor's work in progress, not debris."""
    import fcntl

    try:
        fd = os.open(paths.bundle(cid), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return -1
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def run_later(paths: Paths, cid: str, later: list[Callable[[], None]], lock_fd: int) -> None:
    """The deferred part of the releases, once the monitor's lock is released (its final status written), each
    failure logged like theirs while the container's directory exists (a removed one's is gone: what fails here
    is left to the orphan sweep and the snapshotter's recovery). Why unlock first: waiters (`wait`, `run --rm`)
    block on that lock until the monitor is done, and what is left is a removed container's, which nothing can
    see or start again."""
    if not later:
        return
    import fcntl

    from dockyard import tracing

    fcntl.flock(lock_fd, fcntl.LOCK_UN)
    if os.environ.get(PAUSE_ENV) == "deferred":  # tests: a monitor killed here leaves a bundle to sweep
        import signal

        os.kill(os.getpid(), signal.SIGSTOP)
    for step in later:
        try:
            step()
        except Exception:
            log_exception(paths, cid)
    tracing.mark("monitor: deferred releases done")


def release_rootfs(paths: Paths, cid: str) -> None:
    _unmount_rootfs(paths, cid)
    _remove_bundle(paths, cid)


def _unmount_rootfs(paths: Paths, cid: str) -> None:
    from dockyard.engine.rootfs import unmount  # lazy, as every import here: the slim monitor must not carry them

    unmount(paths.rootfs(cid))


def _remove_bundle(paths: Paths, cid: str, lock_fd: int = -1) -> None:
    import shutil

    shutil.rmtree(paths.bundle(cid), ignore_errors=True)
    if lock_fd >= 0:
        os.close(lock_fd)


def _remove_trees(paths: list[str]) -> None:
    from dockyard.image.snapshots.common import remove_tree

    for path in filter(None, paths):
        with contextlib.suppress(FileNotFoundError):  # the snapshotter's recovery may have emptied its trash first
            remove_tree(path)  # why this one: it also deletes directories a layer left read-only


def _defer(later: list[Callable[[], None]], step: Callable[[], None] | None) -> None:
    if step is not None:
        later.append(step)


def release_network(paths: Paths, cid: str, *, auto_remove: bool) -> Callable[[], None] | None:
    """The network goes; what is returned deletes the host veths of an auto-removed container, left for later."""
    from dockyard.engine.networks import release_on_exit  # lazy: networking is paid for only at exit

    return release_on_exit(paths, cid, remove_netns=auto_remove)


def release_volumes(paths: Paths, cid: str, *, auto_remove: bool) -> None:
    from dockyard.engine.volumes import release_on_exit

    release_on_exit(paths, cid, remove=auto_remove)  # --rm also drops anonymous volumes


def detach_container(paths: Paths, cid: str, destroyed: Callable[[], None]) -> list[str]:
    """The snapshot's key, then the record; returns the trees left for the caller to delete: the snapshot's
    directory (in the snapshotter's trash) and the container's files (RecordStore.detach). The snapshotter is
    opened without its crash recovery: that scan reads every snapshot's metadata (it grows with the number of
    images and containers) and is run by the next store open."""
    from dockyard.engine.records import RecordStore
    from dockyard.image import open_snapshotter

    trash = ""
    try:
        with contextlib.suppress(NotFound):
            trash = open_snapshotter(paths, recover=False).detach(cid)
    finally:
        files = RecordStore(paths).detach(cid)
        destroyed()
    return [trash, files]


def log_exception(paths: Paths, cid: str) -> None:
    import traceback

    with contextlib.suppress(OSError), open(os.path.join(paths.container_dir(cid), "monitor.log"), "a") as f:
        f.write(traceback.format_exc())
