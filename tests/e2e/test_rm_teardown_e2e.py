"""`run --rm` reports the container gone before its monitor has done the slow part of the cleanup
(engine/monitor_teardown.py): what a user can do right after it returns, and what a monitor killed in that part
leaves for the next start to sweep (engine/recovery.py `sweep_orphan_bundles`)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, checked, holders, make_root, wait_for

pytestmark = pytest.mark.privileged
NET = ("--network", "none")
PAUSE_ENV = "DOCKYARD_MONITOR_TEST_PAUSE_AT"


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-rm-teardown"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    yield from checked(image_root, cgroups=True)


def _mounted(path: Path) -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return any(line.split()[4] == str(path) for line in f)


def test_a_removed_container_is_gone_at_once_its_name_and_image_free(d: Dockyard) -> None:
    d.ok("create", "--name", "base", *NET, "busybox", "true")
    d.ok("commit", "base", "layered:1")  # an image of its own, one layer above busybox's
    d.ok("rm", "base")
    d.ok("run", "--rm", *NET, "--name", "once", "layered:1", "true")
    assert "once" not in d.ok("ps", "-a", "--format", "{{.Names}}").split()
    # right away, whatever the monitor still unmounts and deletes: the name is free, the image can go
    removed = d("rmi", "layered:1")
    assert removed.code == 0, removed.err
    assert "layered" not in d.ok("images", "--format", "{{.Repository}}")
    d.ok("run", "--rm", *NET, "--name", "once", "busybox", "true")


def test_a_monitor_killed_after_the_removal_leaves_a_bundle_the_next_start_sweeps(d: Dockyard) -> None:
    d.env[PAUSE_ENV] = "deferred"  # the monitor stops itself once `run --rm` has its answer
    try:
        d.ok("run", "--rm", *NET, "busybox", "true")
    finally:
        del d.env[PAUSE_ENV]
    bundles = d.root / "run/containers"
    (orphan,) = bundles.iterdir()
    assert not (d.root / "containers" / orphan.name).exists()
    assert _mounted(orphan / "rootfs")
    (monitor,) = holders(d.root)

    d.ok("run", "--rm", *NET, "busybox", "true")  # a monitor still at it (it holds the lock) is left alone
    assert orphan.is_dir() and _mounted(orphan / "rootfs")

    os.kill(monitor, signal.SIGKILL)
    assert wait_for(lambda: not Path(f"/proc/{monitor}").exists())
    d.ok("run", "--rm", *NET, "busybox", "true")
    assert not orphan.exists()
    assert not _mounted(orphan / "rootfs")
    assert not (d.root / "run/runtime" / orphan.name).exists()
