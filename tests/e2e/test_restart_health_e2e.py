"""Restart policies and health checks end to end: RestartCount, backoff, manual stop, status in ps/inspect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, checked, make_root, wait_for

pytestmark = pytest.mark.privileged
NET = ("--network", "none")


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-restart"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    yield from checked(image_root)


def test_on_failure_restarts_exactly_n_times(d: Dockyard) -> None:
    d("run", "-d", *NET, "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3")
    assert wait_for(lambda: d.inspect("flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 2", timeout=20)
    assert d.inspect("flaky", "{{.State.ExitCode}} {{json .HostConfig.RestartPolicy}}") == (
        '3 {"Name":"on-failure","MaximumRetryCount":2}'  # docker's json keeps Go's field order
    )
    assert d("logs", "flaky").out == "run\nrun\nrun\n"


def test_on_failure_does_not_restart_a_success(d: Dockyard) -> None:
    d("run", "-d", *NET, "--name", "fine", "--restart", "on-failure", "busybox", "true")
    assert d("wait", "fine").out == "0\n"
    assert wait_for(lambda: d.inspect("fine", "{{.State.Status}}") == "exited")
    assert d.inspect("fine", "{{.RestartCount}}") == "0"


def test_always_restarts_until_stopped(d: Dockyard) -> None:
    d("run", "-d", *NET, "--name", "phoenix", "--restart", "always", "busybox", "sh", "-c", "echo up; sleep 0.2")
    assert wait_for(lambda: int(d.inspect("phoenix", "{{.RestartCount}}") or 0) >= 2, timeout=20)
    assert d("stop", "-t", "1", "phoenix").code == 0
    count = d.inspect("phoenix", "{{.RestartCount}}")
    assert not wait_for(lambda: d.inspect("phoenix", "{{.State.Status}}") != "exited", timeout=1.5)
    assert d.inspect("phoenix", "{{.RestartCount}}") == count
    assert d("start", "phoenix").code == 0
    assert d.inspect("phoenix", "{{.State.Status}} {{.RestartCount}}").split()[0] in ("running", "restarting")


def test_bad_restart_policies(d: Dockyard) -> None:
    retries = d("run", *NET, "--restart", "always:3", "busybox", "true")
    assert "maximum retry count cannot be used with restart policy 'always'" in retries.err
    assert "maximum retry count must be an integer" in d("run", *NET, "--restart", "on-failure:x", "busybox").err


def test_failing_health_check_turns_unhealthy(d: Dockyard) -> None:
    d("run", "-d", *NET, "--name", "sick", "--health-cmd", "echo probing; exit 1", "--health-interval", "100ms",
      "--health-retries", "2", "busybox", "sleep", "60")  # fmt: skip
    assert d.inspect("sick", "{{.State.Health.Status}}") in ("starting", "unhealthy")
    assert wait_for(lambda: d.inspect("sick", "{{.State.Health.Status}}") == "unhealthy", timeout=20)
    health = json.loads(d.inspect("sick", "{{json .State.Health}}"))
    assert health["FailingStreak"] >= 2 and 2 <= len(health["Log"]) <= 5
    assert health["Log"][-1]["ExitCode"] == 1 and health["Log"][-1]["Output"] == "probing\n"
    assert health["Log"][-1]["Start"] <= health["Log"][-1]["End"]
    assert "(unhealthy)" in d("ps").out
    assert wait_for(lambda: len(json.loads(d.inspect("sick", "{{json .State.Health}}"))["Log"]) == 5, timeout=20)


def test_passing_health_check_and_no_healthcheck(d: Dockyard) -> None:
    d("run", "-d", *NET, "--name", "well", "--health-cmd", "true", "--health-interval", "100ms", "busybox",
      "sleep", "60")  # fmt: skip
    assert wait_for(lambda: d.inspect("well", "{{.State.Health.Status}}") == "healthy", timeout=20)
    assert "(healthy)" in d("ps").out
    d("run", "-d", *NET, "--name", "plain", "--no-healthcheck", "busybox", "sleep", "60")
    assert json.loads(d.inspect("plain", "{{json .Config.Healthcheck}}"))["Test"] == ["NONE"]
    assert d.inspect("plain", "{{json .State.Health}}") in ("null", "<no value>", "")
    bad = d("run", *NET, "--no-healthcheck", "--health-cmd", "true", "busybox", "true")
    assert bad.code == 125 and "--no-healthcheck conflicts with --health-* options" in bad.err
    interval = d("run", *NET, "--health-interval", "soon", "busybox", "true")
    assert 'invalid argument "soon" for "--health-interval" flag: time: invalid duration "soon"' in interval.err
