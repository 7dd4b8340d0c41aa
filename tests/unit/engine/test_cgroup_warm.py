"""engine/cgroup_warm.py: which cgroup.procs it picks, and a warmer that writes while kicked, then stops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.engine import cgroup_warm
from privileged_gate import require


def _cgroup_tree(root: Path, mount: str, path: str) -> Path:
    base = root / mount if mount else root
    (base / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (base / "cgroup.controllers").write_text("")
    procs = base / path.lstrip("/") / "cgroup.procs"
    procs.write_text("")
    return procs


def test_hybrid_layout_uses_the_unified_mount(tmp_path: Path) -> None:
    procs = _cgroup_tree(tmp_path, "unified", "/system.slice/dockyardd.service")
    text = "12:pids:/system.slice\n0::/system.slice/dockyardd.service\n"
    assert cgroup_warm.own_procs_file(text, str(tmp_path)) == str(procs)


def test_unified_layout_uses_the_root_mount(tmp_path: Path) -> None:
    procs = _cgroup_tree(tmp_path, "", "/")
    assert cgroup_warm.own_procs_file("0::/\n", str(tmp_path)) == str(procs)


def test_no_cgroup2_line_or_mount_gives_none(tmp_path: Path) -> None:
    assert cgroup_warm.own_procs_file("3:memory:/x\n", str(tmp_path)) is None
    assert cgroup_warm.own_procs_file("0::/x\n", str(tmp_path)) is None  # nothing mounted there


def test_a_kicked_warmer_writes_until_it_lingered_then_stops(tmp_path: Path) -> None:
    target = tmp_path / "cgroup.procs"
    target.write_bytes(b"")
    warmer = cgroup_warm.CgroupWarmer(str(target), interval=0.001, linger=0.05)
    warmer.kick()
    thread = warmer.thread
    assert thread is not None
    thread.join(timeout=5)
    assert not thread.is_alive() and warmer.thread is None
    written = target.read_bytes()
    assert written and set(written) == {ord("0")}  # "0": the writing process itself, never another pid
    target.write_bytes(b"")
    warmer.kick()  # a later kick starts it again
    assert warmer.thread is not None
    warmer.thread.join(timeout=5)
    assert target.read_bytes()


def test_a_warmer_that_cannot_open_its_file_gives_up_for_good(tmp_path: Path) -> None:
    warmer = cgroup_warm.CgroupWarmer(str(tmp_path / "missing" / "cgroup.procs"), interval=0.001, linger=0.05)
    warmer.kick()
    assert warmer.thread is not None
    warmer.thread.join(timeout=5)
    assert warmer.failed
    warmer.kick()
    assert warmer.thread is None


def test_install_is_off_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_CGROUP_WARM", "0")
    assert cgroup_warm.install() is None


def test_kick_without_a_daemon_forks_one_helper_per_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    cgroup_warm.uninstall()
    forked: list[tuple[str, float]] = []
    monkeypatch.setattr(cgroup_warm, "_own_procs_path", lambda: "/fake/cgroup.procs")
    monkeypatch.setattr(cgroup_warm, "_fork_helper", lambda path, linger: forked.append((path, linger)))
    monkeypatch.setattr(cgroup_warm, "_helper_until", 0.0)
    cgroup_warm.kick()
    cgroup_warm.kick()  # within the first helper's linger: no second one
    assert forked == [("/fake/cgroup.procs", cgroup_warm.HELPER_LINGER)]


@pytest.mark.privileged
def test_install_finds_this_hosts_cgroup2_procs_file(monkeypatch: pytest.MonkeyPatch) -> None:
    require(os.geteuid() == 0, "writing cgroup.procs needs root")
    monkeypatch.delenv("DOCKYARD_CGROUP_WARM", raising=False)
    try:
        warmer = cgroup_warm.install()
        require(warmer is not None, "no cgroup2 hierarchy mounted here")
        assert warmer is not None
        assert warmer.procs_path.endswith("/cgroup.procs") and os.path.exists(warmer.procs_path)
        cgroup_warm.kick()
        thread = warmer.thread
        assert thread is not None
    finally:
        cgroup_warm.uninstall()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert not warmer.failed, "the no-op move into our own cgroup was refused"


def test_the_cli_helper_writes_for_its_linger_then_goes(tmp_path: Path) -> None:
    import time

    target = tmp_path / "cgroup.procs"
    target.write_bytes(b"")
    cgroup_warm._fork_helper(str(target), 0.05)
    deadline = time.monotonic() + 10
    while not target.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(target.read_bytes()) == {ord("0")}
    size = -1
    while size != len(target.read_bytes()) and time.monotonic() < deadline:  # it stops writing after its linger
        size = len(target.read_bytes())
        time.sleep(0.2)
    assert len(target.read_bytes()) == size


def test_kick_without_a_daemon_is_off_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    cgroup_warm.uninstall()
    forked: list[str] = []
    monkeypatch.setattr(cgroup_warm, "_fork_helper", lambda path, linger: forked.append(path))
    monkeypatch.setattr(cgroup_warm, "_helper_until", 0.0)
    monkeypatch.setenv("DOCKYARD_CGROUP_WARM", "0")
    cgroup_warm.kick()
    assert forked == []
