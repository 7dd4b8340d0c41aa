"""What a monitor releases once its container is done for good: the rootfs mount and bundle, network and volumes,
and for `--rm` the snapshot and the record; each step independent of the others. Runs in the monitor only.
"""

from __future__ import annotations

import contextlib
import os

from dockyard.errors import NotFound

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.paths import Paths


def release_all(
    paths: Paths, cid: str, *, auto_remove: bool, destroyed: Callable[[], None]
) -> list[Callable[[], None]]:
    """Every release; one failing (a missing module, a busy mount) leaves the others done and is logged to the
    container's monitor.log. `destroyed` is called once an auto-removed container's record is gone. Returns
    what may wait until the container is reported gone (`run_later`): nothing refers to it any more."""
    from dockyard import tracing

    later: list[Callable[[], None]] = []
    steps: list[tuple[str, Callable[[], None]]] = [
        ("rootfs", lambda: release_rootfs(paths, cid)),
        ("network", lambda: _defer(later, release_network(paths, cid, auto_remove=auto_remove))),
        ("volumes", lambda: release_volumes(paths, cid, auto_remove=auto_remove)),
    ]
    if auto_remove:
        steps.append(("snapshot and record", lambda: remove_container(paths, cid, destroyed)))
    for name, step in steps:
        try:
            step()
        except Exception:
            log_exception(paths, cid)
        tracing.mark(f"teardown: {name} released")
    return later


def run_later(paths: Paths, cid: str, later: list[Callable[[], None]], lock_fd: int) -> None:
    """The deferred part of the releases, once the monitor's lock is released (its final status written), each
    failure logged like theirs. Why unlock first: waiters (`wait`, `run --rm`) block on that lock until the
    monitor is done, and what is left touches nothing of the container any more (a --rm one's host veths)."""
    if not later:
        return
    import fcntl

    from dockyard import tracing

    fcntl.flock(lock_fd, fcntl.LOCK_UN)
    for step in later:
        try:
            step()
        except Exception:
            log_exception(paths, cid)
    tracing.mark("monitor: deferred releases done")


def release_rootfs(paths: Paths, cid: str) -> None:
    import shutil  # lazy, as every import here: the slim monitor must not carry them while its container runs

    from dockyard.engine.rootfs import unmount

    unmount(paths.rootfs(cid))
    shutil.rmtree(paths.bundle(cid), ignore_errors=True)


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


def remove_container(paths: Paths, cid: str, destroyed: Callable[[], None]) -> None:
    """The snapshot, then the record. The snapshotter is opened without its crash recovery: that scan reads every
    snapshot's metadata (it grows with the number of images and containers) and is run by the next store open."""
    import shutil

    from dockyard.image import open_snapshotter

    try:
        with contextlib.suppress(NotFound):
            open_snapshotter(paths, recover=False).remove(cid)
    finally:
        shutil.rmtree(paths.container_dir(cid), ignore_errors=True)
        destroyed()


def log_exception(paths: Paths, cid: str) -> None:
    import traceback

    with contextlib.suppress(OSError), open(os.path.join(paths.container_dir(cid), "monitor.log"), "a") as f:
        f.write(traceback.format_exc())
