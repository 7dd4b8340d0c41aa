"""run_hooks feeds the state on stdin, honours args/env/timeout and names the phase and path on failure."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from dockyard.oci.runtime_spec import Hook
from dockyard.runtime.hooks import HookError, run_hooks

STATE = {"ociVersion": "1.1.0", "id": "c1", "status": "creating", "pid": 42, "bundle": "/b"}


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_hook_gets_state_args_and_only_its_env(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = script(tmp_path, "h", f'cat > {out}.state; echo "$0 $1 $2" > {out}.args; env > {out}.env\n')
    hook = Hook(path=path, args=("argv0", "one", "two"), env=("FOO=bar=baz", "PATH=/bin:/usr/bin"))
    run_hooks([hook], STATE, "createRuntime")
    assert json.loads((tmp_path / "out.state").read_text()) == STATE
    # A #! script sees its own path as $0 (the kernel rewrites argv); the rest of args follow.
    assert (tmp_path / "out.args").read_text() == f"{path} one two\n"
    env = set((tmp_path / "out.env").read_text().split())
    assert "FOO=bar=baz" in env
    assert not any(line.startswith("HOME=") for line in env)


def test_hook_argv0_is_args0(tmp_path: Path) -> None:
    out = tmp_path / "argv"
    # A #! script loses argv[0] to the kernel; a real binary keeps it: Python shows it in sys.orig_argv.
    code = f"import sys; open({str(out)!r}, 'w').write(repr(sys.orig_argv))"
    run_hooks([Hook(path=sys.executable, args=("custom-name", "-c", code))], STATE, "prestart")
    assert out.read_text() == repr(["custom-name", "-c", code])


def test_hooks_run_in_order_and_stop_at_first_failure(tmp_path: Path) -> None:
    log = tmp_path / "log"
    first = script(tmp_path, "a", f"echo a >> {log}\n")
    bad = script(tmp_path, "b", "echo oops >&2; exit 3\n")
    third = script(tmp_path, "c", f"echo c >> {log}\n")
    with pytest.raises(HookError) as info:
        run_hooks([Hook(path=first), Hook(path=bad), Hook(path=third)], STATE, "createRuntime")
    assert str(info.value) == f"hook createRuntime `{bad}`: exit status 3: oops"
    assert info.value.phase == "createRuntime"
    assert log.read_text() == "a\n"


def test_exit_status_without_output(tmp_path: Path) -> None:
    bad = script(tmp_path, "b", "exit 7\n")
    with pytest.raises(HookError) as info:
        run_hooks([Hook(path=bad)], STATE, "poststart")
    assert str(info.value) == f"hook poststart `{bad}`: exit status 7"


def test_killed_by_signal(tmp_path: Path) -> None:
    bad = script(tmp_path, "b", "kill -9 $$\n")
    with pytest.raises(HookError) as info:
        run_hooks([Hook(path=bad)], STATE, "startContainer")
    assert str(info.value) == f"hook startContainer `{bad}`: killed by signal SIGKILL"


def test_timeout_kills_the_hook(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    slow = script(tmp_path, "slow", f"echo $$ > {marker}; exec sleep 30\n")
    with pytest.raises(HookError) as info:
        run_hooks([Hook(path=slow, timeout=1)], STATE, "prestart")
    assert str(info.value) == f"hook prestart `{slow}`: ran past its timeout of 1s"
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_missing_hook(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(HookError) as info:
        run_hooks([Hook(path=missing)], STATE, "createContainer")
    assert str(info.value) == f"hook createContainer `{missing}`: no such file or directory"


def test_hook_that_ignores_stdin_is_fine(tmp_path: Path) -> None:
    quick = script(tmp_path, "q", "exit 0\n")
    big = {**STATE, "annotations": {"x": "y" * 1_000_000}}
    run_hooks([Hook(path=quick)], big, "poststart")


def test_warn_only_logs_and_continues(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "log"
    bad = script(tmp_path, "b", "exit 2\n")
    good = script(tmp_path, "g", f"echo g >> {log}\n")
    with caplog.at_level(logging.WARNING, logger="dockyard.runtime"):
        run_hooks([Hook(path=bad), Hook(path=good)], STATE, "poststop", warn_only=True)
    assert log.read_text() == "g\n"
    assert [r.getMessage() for r in caplog.records] == [f"hook poststop `{bad}`: exit status 2"]
