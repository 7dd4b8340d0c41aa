"""Recovery when processes die: a killed monitor (daemonless: the next command repairs and restarts per policy;
dockyardd: `Engine.recover` at its start) and a dockyardd killed with SIGKILL in the middle of a burst of calls."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import RUNTIME, Dockyard, checked, make_root, wait_for

pytestmark = pytest.mark.privileged
NET = ("--network", "none")


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-recovery"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    yield from checked(image_root)


def _monitor_of(d: Dockyard, cid: str) -> int:
    lock = str(d.root / "containers" / cid / "monitor.lock")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if any(os.readlink(f"/proc/{entry}/fd/{fd}") == lock for fd in os.listdir(f"/proc/{entry}/fd")):
                    return int(entry)
            except OSError:
                continue
    raise AssertionError(f"no monitor for {cid}")


def _kill_monitor(d: Dockyard, cid: str) -> None:
    pid = _monitor_of(d, cid)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists())


def _run_d(d: Dockyard, name: str, *args: str) -> str:
    result = d("run", "-d", *NET, "--name", name, *args, "busybox", "sleep", "60")
    assert result.code == 0, result.err
    return result.out.strip()


class Daemon:
    def __init__(self, root: Path, sock: str) -> None:
        env = {**os.environ, "DOCKYARD_RUNTIME": RUNTIME, "DOCKYARD_CLI_ZYGOTE": "0"}
        env.pop("DOCKYARD_EXEC_ROOT", None)
        if os.path.exists(sock):
            os.unlink(sock)  # a daemon killed with SIGKILL leaves its socket behind
        self.proc = subprocess.Popen([sys.executable, "-m", "dockyard.daemon.main", "-H", f"unix://{sock}",
                                      "--data-root", str(root)], env=env, stderr=subprocess.DEVNULL)  # fmt: skip
        assert wait_for(lambda: os.path.exists(sock) or self.proc.poll() is not None, timeout=30)
        assert self.proc.poll() is None
        self.cli = Dockyard(root)
        self.cli.env["DOCKYARD_HOST"] = f"unix://{sock}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=20)


def test_daemonless_always_container_is_restarted_after_its_monitor_died(d: Dockyard) -> None:
    cid = _run_d(d, "phoenix", "--restart", "always")
    old_pid = d.inspect("phoenix", "{{.State.Pid}}")
    _kill_monitor(d, cid)
    assert d.inspect("phoenix", "{{.State.Status}} {{.RestartCount}}") == "running 0"
    assert d.inspect("phoenix", "{{.State.Pid}}") not in (old_pid, "0")
    assert d("exec", "phoenix", "true").code == 0
    _monitor_of(d, cid)


def test_daemonless_policies_that_do_not_restart(d: Dockyard) -> None:
    plain = _run_d(d, "plain")
    stopped = _run_d(d, "stopped", "--restart", "unless-stopped")
    assert d("stop", "-t", "0", "stopped").code == 0
    _kill_monitor(d, plain)
    assert d.inspect("plain", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    assert d.inspect("stopped", "{{.State.Status}}") == "exited"
    assert not (d.root / "run/containers" / plain).exists() and not (d.root / "run/containers" / stopped).exists()


def test_dockyardd_recovers_and_restarts_at_start(d: Dockyard, tmp_path: Path) -> None:
    keep = _run_d(d, "keep", "--restart", "unless-stopped")
    ghost = _run_d(d, "ghost")
    _kill_monitor(d, keep)
    _kill_monitor(d, ghost)  # no CLI look before the daemon: recover() is the one that repairs them
    daemon = Daemon(d.root, str(tmp_path / "d.sock"))
    try:
        assert daemon.cli.inspect("keep", "{{.State.Status}} {{.RestartCount}}") == "running 0"
        assert daemon.cli.inspect("ghost", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
        assert not (d.root / "run/containers" / ghost).exists()
        assert not any(Path(p).exists() for p in (f"/sys/fs/cgroup/memory/dockyard/{ghost}",
                                                   f"/sys/fs/cgroup/pids/dockyard/{ghost}"))  # fmt: skip
    finally:
        daemon.stop()


def _burst(cli: Dockyard, rnd: int) -> list[subprocess.Popen[str]]:
    calls = [
        ("create", *NET, "--name", f"c{rnd}", "busybox", "true"),
        ("run", "-d", *NET, "--name", f"r{rnd}", "busybox", "sh", "-c", f"echo log{rnd}; exit 4"),
        ("run", "-d", *NET, "--name", f"s{rnd}", "busybox", "sleep", "60"),
        ("rm", "-f", f"s{rnd - 1}"),
        ("start", f"c{rnd - 1}"),
    ]
    return [cli.popen(*args) for args in calls]


def _check_consistent(cli: Dockyard, root: Path) -> None:
    ids = cli("ps", "-aq", "--no-trunc").out.split()
    dirs = (root / "containers").iterdir() if (root / "containers").exists() else iter(())
    # a `.removing-*` directory is a removed container's files on their way out (RecordStore.detach)
    assert sorted(p.name for p in dirs if p.is_dir() and not p.name.startswith(".")) == sorted(ids)
    for cid in ids:
        info = json.loads(cli("inspect", cid).out)[0]
        state = info["State"]
        assert info["Name"].lstrip("/") and state["Status"] in ("created", "running", "exited", "restarting")
        live = state["Status"] in ("running", "restarting")
        assert (root / "run/containers" / cid).exists() == live, (cid, state)
        if live:
            _monitor_of(cli, cid)  # a running state always has its monitor
    check = cli("system", "check")
    assert check.code == 0, check.out + check.err


def test_dockyardd_killed_mid_burst_leaves_no_half_made_container(d: Dockyard, tmp_path: Path) -> None:
    sock = str(tmp_path / "d.sock")
    chance = random.Random()
    for rnd in range(1, 5):
        daemon = Daemon(d.root, sock)
        calls = _burst(daemon.cli, rnd)
        delay = chance.uniform(0.05, 0.45)
        time.sleep(delay)
        daemon.stop(signal.SIGKILL)
        codes = [(call.communicate(timeout=60), call.returncode)[1] for call in calls]
        print(f"round {rnd}: killed after {delay:.3f}s, exit codes {codes}")  # to reproduce a failure
        after = Daemon(d.root, sock)
        try:
            _check_consistent(after.cli, d.root)
            names = after.cli("ps", "-a", "--format", "{{.Names}}").out.split()
            assert len(names) == len(set(names))
            for name in (f"c{rnd}", f"r{rnd}"):
                if name not in names:  # the call did not happen: its name is free
                    assert after.cli("create", *NET, "--name", name, "busybox", "true").code == 0
            if after.cli("logs", f"r{rnd}").out:
                assert after.cli("logs", f"r{rnd}").out == f"log{rnd}\n"
                done = f"r{rnd}", "{{.State.Status}} {{.State.ExitCode}}"
                assert wait_for(lambda: after.cli.inspect(*done) == "exited 4")  # noqa: B023
        finally:
            after.stop()


def test_dockyardd_finishes_a_removal_interrupted_after_the_snapshot_went(d: Dockyard, tmp_path: Path) -> None:
    cid = d("create", *NET, "--name", "halfgone", "busybox", "true").out.strip()
    code = "from dockyard.engine.engine import Engine; from dockyard.engine.rootfs import release_snapshot; "
    code += f"release_snapshot(Engine.from_env().images, {cid!r})"  # what `rm` does just before it is killed
    done = subprocess.run([sys.executable, "-c", code], env=d.env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "snapshot" in d("system", "check").out + d("system", "check").err
    daemon = Daemon(d.root, str(tmp_path / "d.sock"))
    try:
        assert daemon.cli("ps", "-aq").out == ""
        assert daemon.cli("system", "check").code == 0
        assert daemon.cli("create", *NET, "--name", "halfgone", "busybox", "true").code == 0
    finally:
        daemon.stop()


def test_dockyardd_removes_a_container_directory_without_a_record(d: Dockyard, tmp_path: Path) -> None:
    cid = d("create", *NET, "--name", "orphan", "busybox", "true").out.strip()
    (d.root / "containers" / cid / "config.v2.json").unlink()  # a create or an `rm` killed half-way
    daemon = Daemon(d.root, str(tmp_path / "d.sock"))
    try:
        assert daemon.cli("ps", "-aq").out == ""
        assert not (d.root / "containers" / cid).exists()
        assert daemon.cli("system", "check").code == 0
    finally:
        daemon.stop()
