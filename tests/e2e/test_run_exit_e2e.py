"""`run --rm`'s exit status: the wait is posted before the start, so an auto-removed container's code is kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import RUNTIME, Dockyard, checked, make_root

pytestmark = pytest.mark.privileged
ROUNDS = 6


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-runexit"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    yield from checked(image_root)


@pytest.fixture
def daemon_cli(image_root: Path, tmp_path: Path) -> Iterator[Dockyard]:
    sock = str(tmp_path / "d.sock")
    env = {**os.environ, "DOCKYARD_RUNTIME": RUNTIME, "DOCKYARD_CLI_ZYGOTE": "0"}
    env.pop("DOCKYARD_EXEC_ROOT", None)
    proc = subprocess.Popen([sys.executable, "-m", "dockyard.daemon.main", "-H", f"unix://{sock}", "--data-root",
                             str(image_root)], env=env, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(1000):
            if os.path.exists(sock) or proc.poll() is not None:
                break
            time.sleep(0.01)
        assert os.path.exists(sock)
        dockyard = Dockyard(image_root)
        dockyard.env["DOCKYARD_HOST"] = f"unix://{sock}"
        yield dockyard
        dockyard.cleanup()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _exits(d: Dockyard) -> list[int]:
    codes = []
    for _ in range(ROUNDS):
        codes.append(d("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo hi; exit 3").code)
    return codes


def test_run_rm_reports_the_exit_code_in_process(d: Dockyard) -> None:
    assert _exits(d) == [3] * ROUNDS
    assert d("ps", "-aq").out == ""


def test_run_rm_reports_the_exit_code_through_dockyardd(daemon_cli: Dockyard) -> None:
    assert _exits(daemon_cli) == [3] * ROUNDS
    assert daemon_cli("ps", "-aq").out == ""


def test_run_rm_start_failure_removes_the_container(d: Dockyard) -> None:
    result = d("run", "--rm", "--network", "none", "busybox", "/no/such/binary")
    assert result.code == 127 and "/no/such/binary" in result.err
    assert d("ps", "-aq").out == ""


def test_a_start_that_finds_its_rm_container_gone_already_succeeds(
    d: Dockyard, image_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick --rm container's monitor may remove it before the start reads its record back: the start still
    succeeded (it was a 404 `No such container` from the start request, seen as a failed `run --rm`)."""
    from dockyard.engine import monitor
    from dockyard.engine.containers import CreateRequest
    from dockyard.engine.engine import Engine
    from dockyard.engine.records import HostConfig
    from dockyard.paths import Paths

    monkeypatch.setenv("DOCKYARD_RUNTIME", RUNTIME)
    engine = Engine(Paths.from_env(str(image_root)))
    real_launch = monitor.launch

    def launch_then_removed(config: monitor.MonitorConfig) -> int:
        pid = real_launch(config)
        record = engine.paths.record(config.container_id)
        deadline = time.monotonic() + 10
        while os.path.exists(record) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not os.path.exists(record), "the --rm container was not removed"
        return pid

    monkeypatch.setattr(monitor, "launch", launch_then_removed)
    host_config = HostConfig(auto_remove=True, network_mode="none")
    request = CreateRequest(image="busybox", cmd=("true",), host_config=host_config)
    record = engine.containers.create(request)
    assert engine.containers.start(record.id).id == record.id
    assert d("ps", "-aq").out == ""
