"""cgroups/warmup.py: which cgroup.procs file the helper writes, and the helper's fork, write and reaping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.runtime.cgroups import warmup

HYBRID = "12:pids:/user.slice\n1:name=systemd:/user.slice/session-1.scope\n0::/user.slice/session-1.scope\n"


def _procs(root: Path, *parts: str) -> Path:
    directory = root.joinpath(*parts)
    directory.mkdir(parents=True)
    (directory / "cgroup.procs").write_text("")
    return directory / "cgroup.procs"


def test_v1_controller_directory(tmp_path: Path) -> None:
    target = _procs(tmp_path, "pids", "user.slice")
    assert warmup.procs_file(str(tmp_path), HYBRID) == str(target)


def test_named_and_comounted_hierarchies(tmp_path: Path) -> None:
    target = _procs(tmp_path, "systemd", "user.slice", "session-1.scope")
    assert warmup.procs_file(str(tmp_path), HYBRID) == str(target)
    text = "4:cpu,cpuacct:/a\n"
    target = _procs(tmp_path, "cpu,cpuacct", "a")
    assert warmup.procs_file(str(tmp_path), text) == str(target)


def test_cgroup2_at_the_root_or_under_unified(tmp_path: Path) -> None:
    unified = _procs(tmp_path / "hybrid", "unified", "user.slice", "session-1.scope")
    assert warmup.procs_file(str(tmp_path / "hybrid"), "0::/user.slice/session-1.scope\n") == str(unified)
    root = _procs(tmp_path / "v2", "x")
    assert warmup.procs_file(str(tmp_path / "v2"), "0::/x\n") == str(root)


def test_nothing_mounted(tmp_path: Path) -> None:
    assert warmup.procs_file(str(tmp_path), HYBRID) is None
    assert warmup.procs_file(str(tmp_path), "garbage\n3:memory:relative\n") is None


def test_not_root_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert warmup.start() is None
    warmup.reap(None)


def test_helper_writes_zero_and_is_reaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open("/proc/self/cgroup") as f:
        first = f.read().splitlines()[0]
    hierarchy, controllers, path = first.split(":", 2)
    name = "unified" if hierarchy == "0" else controllers.removeprefix("name=")
    target = _procs(tmp_path, name, path.lstrip("/"))  # a plain file stands in for cgroupfs
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    pid = warmup.start(str(tmp_path))
    assert pid is not None
    warmup.reap(pid)
    assert target.read_text() == "0"
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    warmup.reap(pid)  # reaping twice (someone else waited for any child) is fine
