"""Crash safety of the volume store: leftovers of an interrupted create/remove are swept on open, and a process
killed with SIGKILL at any step (or at random moments) never leaves a half-made or half-removed volume."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.volume import FakeMounter, VolumeStore


def assert_consistent(root: str) -> VolumeStore:
    """Reopen (which recovers) and check every entry is a whole volume and nothing else is left."""
    store = VolumeStore(root, mounter=FakeMounter())
    for entry in os.listdir(root):
        assert entry == ".lock" or not entry.startswith("."), entry
    for name in store.names():
        volume = store.get(name)
        assert os.path.isdir(volume.mountpoint)
        with open(os.path.join(root, name, "refs.json")) as f:
            assert set(json.load(f)) == {"refs", "mounts"}
        assert sorted(os.listdir(os.path.join(root, name))) == ["_data", "refs.json", "volume.json"]
    return store


def test_leftovers_are_swept_on_open(tmp_path: Path) -> None:
    root = str(tmp_path / "v")
    store = VolumeStore(root, mounter=FakeMounter())
    store.create("keep")
    (Path(store.data_path("keep")) / "file").write_text("data")
    half = tmp_path / "v" / ".tmp-0123456789abcdef"
    (half / "_data").mkdir(parents=True)
    trash = tmp_path / "v" / ".trash-fedcba9876543210"
    (trash / "_data" / "deep").mkdir(parents=True)
    (trash / "_data" / "deep" / "f").write_text("x")
    os.symlink("/etc", trash / "_data" / "link")  # never followed while deleting
    part = tmp_path / "v" / "keep" / ".refs.json.part-1234"
    part.write_text("{")
    reopened = VolumeStore(root, mounter=FakeMounter())
    assert not half.exists() and not trash.exists() and not part.exists()
    assert os.path.isdir("/etc")
    assert reopened.names() == ["keep"]
    assert (Path(reopened.data_path("keep")) / "file").read_text() == "data"


def test_sweep_never_deletes_through_a_mount(tmp_path: Path) -> None:
    root = str(tmp_path / "v")
    mounter = FakeMounter()
    VolumeStore(root, mounter=mounter)
    trash = tmp_path / "v" / ".trash-0000000000000000"
    (trash / "_data").mkdir(parents=True)
    (trash / "_data" / "precious").write_text("host data")

    class StuckMounter(FakeMounter):
        def unmount(self, target: str) -> None:
            self.calls.append(("unmount", target))  # the kernel says busy: stays mounted

    stuck = StuckMounter()
    stuck.mount("/host", str(trash / "_data"), "none", "bind")
    VolumeStore(root, mounter=stuck)
    assert (trash / "_data" / "precious").exists()  # left for a later sweep
    VolumeStore(root, mounter=mounter)
    assert not trash.exists()


def _in_child(action: Callable[[], None]) -> int:
    """Run `action` in a forked child; returns the signal that ended it (0 when it exited normally)."""
    pid = os.fork()
    if pid == 0:
        try:
            action()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0


def _kill_at(store: VolumeStore, step: str) -> None:
    def hook(name: str) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    store.crash_hook = hook


CREATE_STEPS = ["create:tmp", "create:data", "create:meta", "create:refs", "create:done"]
REMOVE_STEPS = ["remove:unmounted", "remove:renamed", "remove:done"]


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_sigkill_during_create(tmp_path: Path, step: str) -> None:
    root = str(tmp_path / "v")

    def create() -> None:
        store = VolumeStore(root, mounter=FakeMounter())
        _kill_at(store, step)
        store.create("vol", labels={"a": "b"}, ref="c1")

    assert _in_child(create) == signal.SIGKILL
    store = assert_consistent(root)
    if step == "create:done":
        assert store.get("vol").refs == ("c1",)
    else:
        assert store.names() == []
    store.create("vol")  # the name is usable again either way


@pytest.mark.parametrize("step", REMOVE_STEPS)
def test_sigkill_during_remove(tmp_path: Path, step: str) -> None:
    root = str(tmp_path / "v")
    store = VolumeStore(root, mounter=FakeMounter())
    volume = store.create("vol")
    for i in range(50):
        (Path(volume.mountpoint) / f"f{i}").write_text("x" * i)

    def remove() -> None:
        child_store = VolumeStore(root, mounter=FakeMounter())
        _kill_at(child_store, step)
        child_store.remove("vol")

    assert _in_child(remove) == signal.SIGKILL
    store = assert_consistent(root)
    assert store.names() == ([] if step != "remove:unmounted" else ["vol"])


def test_sigkill_during_prune(tmp_path: Path) -> None:
    root = str(tmp_path / "v")
    store = VolumeStore(root, mounter=FakeMounter())
    for _ in range(3):
        store.create()

    def prune() -> None:
        child_store = VolumeStore(root, mounter=FakeMounter())
        _kill_at(child_store, "remove:renamed")
        child_store.prune()

    assert _in_child(prune) == signal.SIGKILL
    assert len(assert_consistent(root).names()) == 2


def _churn(root: str, seed: int) -> None:
    rng = random.Random(seed)
    store = VolumeStore(root, mounter=FakeMounter())
    i = 0
    while True:
        name = f"v{i % 4}"
        volume = store.create(name, labels={"i": str(i)})
        for j in range(rng.randrange(1, 30)):
            (Path(volume.mountpoint) / f"f{j}").write_bytes(b"x" * 100)
        store.register(name, f"c{i}")
        store.unregister(name, f"c{i}")
        if rng.random() < 0.3:
            store.create()
            store.prune()
        for ref in store.get(name).refs:  # a reference a killed round left behind is (rightly) still there
            store.unregister(name, ref)
        store.remove(name)
        i += 1


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    root = str(tmp_path / "v")
    VolumeStore(root, mounter=FakeMounter())
    rng = random.Random(20261128)
    for round_ in range(20):
        pid = os.fork()
        if pid == 0:
            try:
                _churn(root, round_)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.001, 0.05))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        assert_consistent(root)
