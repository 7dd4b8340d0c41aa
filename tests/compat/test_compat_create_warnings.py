"""Create warnings: the real docker CLI (v28) and the dockyard CLI against the same dockyardd print the same
`WARNING: …` lines on stderr for the same flags (the in-process path: tests/e2e/test_cli_exits_e2e.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from compat_harness import Daemon, needs_docker, start_daemon

pytestmark = [
    pytest.mark.privileged,
    needs_docker,
]

CASES = [
    (("--oom-kill-disable",), [
        "WARNING: OOM killer is disabled for the container, but no memory limit is set, this can result in the "
        "system running out of resources.",
    ]),
    (("--network", "host", "-p", "8080:80"), ["WARNING: Published ports are discarded when using host network mode"]),
    (("--dns", "127.0.0.1"), ["WARNING: Localhost DNS (127.0.0.1) may fail in containers."]),
    (("-m", "64m", "--oom-kill-disable"), []),
]  # fmt: skip


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_daemon(tmp_path_factory.mktemp("compat-warnings")) as d:
        yield d


def dockyard(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in daemon.env().items() if k != "DOCKER_HOST"}
    env.update(DOCKYARD_HOST=daemon.host, DOCKYARD_CLI_SOCKET="")
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING:")]


@pytest.mark.parametrize(("flags", "expected"), CASES)
def test_same_warning_lines(daemon: Daemon, flags: tuple[str, ...], expected: list[str]) -> None:
    args = ("run", "--rm", *flags, "busybox", "true")
    docker = daemon.docker(*args, timeout=60)
    assert docker.returncode == 0, docker.stderr
    assert warnings(docker.stderr) == expected
    ours = dockyard(daemon, *args)
    assert (ours.returncode, warnings(ours.stderr)) == (0, expected), ours.stderr


def test_create_prints_them_too(daemon: Daemon) -> None:
    created = dockyard(daemon, "create", "--network", "host", "-p", "9090:90", "busybox", "true")
    assert created.returncode == 0, created.stderr
    assert warnings(created.stderr) == ["WARNING: Published ports are discarded when using host network mode"]
    assert len(created.stdout.strip()) == 64
    assert daemon.docker("rm", created.stdout.strip()).returncode == 0
