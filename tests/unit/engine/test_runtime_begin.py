"""`begin_delete` and `begin_start` of both runtime clients: they return at once, and waiting reports what `delete`
and `start` would; the fork runtime's `start` runs in the calling process."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from dockyard.engine.runtime_client import CliRuntime, RuntimeFailure
from dockyard.engine.runtime_fork import ForkRuntime


def _fake_runtime(tmp_path: Path, code: int, stderr: str) -> str:
    script = tmp_path / "fake-runtime"
    log = tmp_path / "argv"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {log}\necho '{stderr}' >&2\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_cli_runtime_begin_delete_runs_the_binary_and_reports_its_error(tmp_path: Path) -> None:
    runtime = CliRuntime(_fake_runtime(tmp_path, 1, "runc: container `c1` does not exist"), str(tmp_path / "root"))
    finish = runtime.begin_delete("c1", force=True)
    with pytest.raises(RuntimeFailure, match=r"container `c1` does not exist"):
        finish()
    assert (tmp_path / "argv").read_text().split() == ["--root", str(tmp_path / "root"), "delete", "--force", "c1"]


def test_cli_runtime_begin_delete_succeeds_quietly(tmp_path: Path) -> None:
    runtime = CliRuntime(_fake_runtime(tmp_path, 0, ""), str(tmp_path / "root"))
    runtime.begin_delete("c2")()
    assert (tmp_path / "argv").read_text().split()[-2:] == ["delete", "c2"]


def test_fork_runtime_begin_delete_reports_the_runtimes_own_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # why: pytest's capture points sys.stderr away from fd 2, which the forked runtime's stderr pipe replaces
    monkeypatch.setattr(sys, "stderr", open(2, "w", closefd=False))  # noqa: SIM115
    runtime = ForkRuntime("dockyard-runtime", str(tmp_path / "root"))
    os.makedirs(tmp_path / "root")
    finish = runtime.begin_delete("missing")
    with pytest.raises(RuntimeFailure, match=r"delete failed: container `missing` does not exist"):
        finish()
    runtime.begin_delete("missing", force=True)()  # a forced delete of a missing container succeeds, as runc's


def test_cli_runtime_begin_start_runs_the_binary(tmp_path: Path) -> None:
    runtime = CliRuntime(_fake_runtime(tmp_path, 1, "runc: cannot start a container that has stopped"), "/r")
    finish = runtime.begin_start("c3")
    with pytest.raises(RuntimeFailure, match=r"start failed: cannot start a container that has stopped"):
        finish()
    assert (tmp_path / "argv").read_text().split() == ["--root", "/r", "start", "c3"]


def test_fork_runtime_starts_in_this_process_and_fails_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise AssertionError("start forked")

    monkeypatch.setattr(os, "fork", no_fork)
    runtime = ForkRuntime("dockyard-runtime", str(tmp_path / "root"))
    os.makedirs(tmp_path / "root")
    with pytest.raises(RuntimeFailure, match=r"start failed: container `missing` does not exist"):
        runtime.begin_start("missing")
