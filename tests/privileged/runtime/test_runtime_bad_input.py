"""dockyard-runtime refuses bad bundles with an error naming the field, exit 1 and nothing left behind, and a
create killed half-way leaves state that `delete --force` cleans completely."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from runtime_bundle import (  # noqa: F401
    RUNTIME,
    Bundle,
    Runtime,
    cgroup_dirs,
    make_bundle_fixture,
    mountinfo,
    runtime_fixture,
)

pytestmark = pytest.mark.privileged
MakeBundle = Callable[..., Bundle]


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        config = config[int(key)] if key.isdigit() else config[key]  # type: ignore[index]
    last = keys[-1]
    if last.isdigit():
        config[int(last)] = value  # type: ignore[index]
    else:
        config[last] = value


BAD_INPUTS = [
    ("process.args", "sh", "invalid config `process.args`: expected an array, got a string"),
    ("process.terminal", "yes", "invalid config `process.terminal`: expected a boolean, got a string"),
    ("linux.namespaces.0.type", "bogus", "invalid config `linux.namespaces[0].type`: unknown namespace type `bogus`"),
    ("process.capabilities.bounding.0", "CAP_BOGUS",
     "invalid config `process.capabilities.bounding[0]`: unknown capability `CAP_BOGUS`"),
    ("root.path", "no-such-rootfs", "invalid config `root.path`"),
    ("process.cwd", "relative/dir", "invalid config `process.cwd`: `relative/dir` is not an absolute path"),
    ("process.rlimits", [{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}],
     "invalid config `process.rlimits[0].type`: unknown rlimit `RLIMIT_BOGUS`"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 2}],
     "invalid config `process.rlimits[0]`: soft limit 2 exceeds hard limit 1"),
    ("linux.seccomp", {"defaultAction": "SCMP_ACT_BOGUS"},
     "invalid config `linux.seccomp.defaultAction`: unknown seccomp action `SCMP_ACT_BOGUS`"),
    ("process.args", [], "invalid config `process.args`: must not be empty"),
    ("linux.namespaces.0.path", "/no/such/ns",
     "invalid config `linux.namespaces[0].path`: `/no/such/ns` does not exist"),
    ("linux.cgroupsPath", "system.slice:dy:x", "linux.cgroupsPath"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "message"), BAD_INPUTS, ids=[f"{b[0]}={b[1]!r}" for b in BAD_INPUTS])
def test_bad_config_is_refused_and_leaves_nothing(
    runtime: Runtime, make_bundle: MakeBundle, field: str, value: Any, message: str
) -> None:
    bundle = make_bundle("true")
    _set(bundle.config, field, value)
    bundle.config["linux"]["cgroupsPath"] = bundle.config["linux"].get("cgroupsPath") or "/dockyard-bad/x"
    bundle.write()
    cid = runtime.new_id()
    result = runtime("create", "--bundle", bundle.path, cid)
    assert result.returncode == 1
    assert result.stderr.startswith("dockyard-runtime: "), result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert cgroup_dirs("dockyard-bad/x") == [] and cgroup_dirs(f"dockyard/{cid}") == []
    assert [line for line in mountinfo() if bundle.path in line or runtime.root in line] == []


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({}, 'exec: "/no-such-program": stat /no-such-program: no such file or directory'),  # fails in the init
        ({"pids": {"limit": 10}, "cpu": {"shares": 1}}, "cgroup `cpu.shares` = `1`: out of range"),  # in the parent
    ],
)
def test_a_create_failing_late_removes_its_pid_file_and_cgroup(
    runtime: Runtime, make_bundle: MakeBundle, limits: dict[str, Any], message: str
) -> None:
    # the pid file is written while the init finishes its setup, the cgroup made while it starts: a create that
    # fails after either leaves neither behind
    bundle = make_bundle("/no-such-program") if not limits else make_bundle("true")
    cid = runtime.new_id()
    bundle.config["linux"]["cgroupsPath"] = f"/dockyard-test/{cid}"
    bundle.config["linux"]["resources"] = limits
    bundle.write()
    pid_file = os.path.join(bundle.path, "init.pid")
    result = runtime("create", "--bundle", bundle.path, "--pid-file", pid_file, cid)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert not os.path.exists(pid_file)
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert cgroup_dirs(f"dockyard-test/{cid}") == []


def test_missing_config_and_bad_id(runtime: Runtime, tmp_path: Any) -> None:
    missing = runtime("create", "--bundle", str(tmp_path), runtime.new_id())
    assert missing.returncode == 1 and "invalid config `config.json`" in missing.stderr
    bad_id = runtime("state", "../etc")
    assert bad_id.returncode == 1 and "container id `../etc`: invalid format" in bad_id.stderr


def test_errors_also_go_to_the_json_log(runtime: Runtime, tmp_path: Any) -> None:
    import json

    log = tmp_path / "runtime.log"
    proc = runtime("--log", str(log), "--log-format", "json", "state", "nosuch")
    assert proc.returncode == 1 and "container `nosuch` does not exist" in proc.stderr
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container `nosuch` does not exist" and entry["time"]


def test_systemd_cgroup_flag_is_refused(runtime: Runtime) -> None:
    proc = subprocess.run([*RUNTIME, "--systemd-cgroup", "list"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "--systemd-cgroup" in proc.stderr


def _wait_stopped(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("stage", ["state-dir", "cgroup", "child"])
def test_create_killed_midway_is_cleaned_by_delete_force(runtime: Runtime, make_bundle: MakeBundle, stage: str) -> None:
    bundle = make_bundle("sleep", "100")
    cid = runtime.new_id()
    bundle.config["linux"]["cgroupsPath"] = f"/dockyard-test/{cid}"
    bundle.write()
    env = dict(os.environ, DOCKYARD_RUNTIME_TEST_PAUSE_AT=stage)
    proc = subprocess.Popen(
        [*RUNTIME, "--root", runtime.root, "create", "--bundle", bundle.path, cid],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_stopped(proc.pid), f"create did not stop at {stage}"
        init_pid = runtime.state(cid)["pid"] if stage == "child" else 0
    finally:
        proc.kill()
        proc.wait()
    assert runtime.status(cid) == "stopped"
    runtime("delete", "--force", cid, check=True)
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert cgroup_dirs(f"dockyard-test/{cid}") == []
    if init_pid:
        try:
            os.kill(init_pid, 0)
            with open(f"/proc/{init_pid}/stat") as f:
                assert f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"), "the init must be gone"
        except ProcessLookupError:
            pass


def test_kill_signal_validation(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    cid = runtime.new_id()
    runtime("create", "--bundle", bundle.path, cid, check=True)
    bad = runtime("kill", cid, "SIGNOPE")
    assert bad.returncode == 1 and "invalid signal `SIGNOPE`" in bad.stderr
    runtime("kill", cid, str(int(signal.SIGKILL)), check=True)
    assert runtime.wait_status(cid, "stopped") == "stopped"
