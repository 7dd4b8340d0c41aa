"""Named network namespaces made with our own syscalls (network/netns.py): bound, `lo` up, made from a threaded
process without touching the other threads, removed without a trace; bad paths give a clear error."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from dockyard.errors import DockyardError
from dockyard.network import netns
from privileged_gate import require

pytestmark = pytest.mark.privileged


@pytest.fixture
def root(tmp_path: Path) -> Path:
    require(os.geteuid() == 0, "needs root")
    return tmp_path


def _lo_flags(path: str) -> str:
    done = subprocess.run(["nsenter", f"--net={path}", "ip", "-o", "link", "show", "lo"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


def test_create_binds_a_new_namespace_with_lo_up_and_remove_undoes_it(root: Path) -> None:
    path = str(root / "netns" / "one")
    home = os.readlink("/proc/thread-self/ns/net")
    netns.create(path)
    try:
        assert netns.is_bound(path)
        assert os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino
        assert "<LOOPBACK,UP,LOWER_UP>" in _lo_flags(path)
        assert os.readlink("/proc/thread-self/ns/net") == home
    finally:
        netns.remove(path)
    assert not os.path.lexists(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        assert path not in f.read()
    netns.remove(path)  # missing is fine


def test_create_from_a_thread_leaves_the_other_threads_home(root: Path) -> None:
    home = os.readlink("/proc/thread-self/ns/net")
    stop = threading.Event()
    seen: list[str] = []

    def watch() -> None:
        while not stop.is_set():
            seen.append(os.readlink("/proc/thread-self/ns/net"))

    watcher = threading.Thread(target=watch)
    watcher.start()
    paths = [str(root / "netns" / f"n{i}") for i in range(5)]
    try:
        for path in paths:
            netns.create(path)
    finally:
        stop.set()
        watcher.join()
        for path in paths:
            netns.remove(path)
    assert seen and set(seen) == {home}
    assert os.readlink("/proc/thread-self/ns/net") == home


def test_create_under_a_file_fails_clearly_and_leaves_nothing(root: Path) -> None:
    (root / "file").write_text("")
    target = root / "file" / "ns"
    with pytest.raises(DockyardError) as caught:
        netns.create(str(target))
    assert caught.value.message == f"create network namespace `{target}`: file exists"
    assert (root / "file").read_text() == ""
