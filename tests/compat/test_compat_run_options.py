"""The real docker CLI (v28) against dockyardd with the resource/limit/device/namespace flags of `run`/`update`:
the daemon decodes what the docker CLI sends and the container gets it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from compat_harness import Daemon, log_tail, needs_docker, start_daemon

pytestmark = [
    pytest.mark.privileged,
    needs_docker,
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_daemon(tmp_path_factory.mktemp("compat-run-options")) as d:
        yield d


def ok(daemon: Daemon, *args: str) -> str:
    result = daemon.docker(*args, timeout=60)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}\n--- daemon log:\n{log_tail(daemon)}"
    return result.stdout


def test_docker_cli_flags_reach_the_container(daemon: Daemon) -> None:
    out = ok(daemon, "run", "--rm", "--ulimit", "nofile=100:200", "--device", "/dev/null:/dev/mynull", "--ipc",
             "host", "--cpu-shares", "300", "--sysctl", "net.core.somaxconn=99", "--group-add", "777",
             "--oom-score-adj", "50", "--shm-size", "16m", "busybox", "sh", "-c",
             "grep 'open files' /proc/self/limits; stat -c %t:%T /dev/mynull; readlink /proc/self/ns/ipc; cat "
             "/sys/fs/cgroup/cpu/cpu.shares /proc/sys/net/core/somaxconn /proc/self/oom_score_adj; id -G")  # fmt: skip
    lines = out.splitlines()
    assert lines[0].split()[3:5] == ["100", "200"]
    assert lines[1:6] == ["1:3", os.readlink("/proc/self/ns/ipc"), "300", "99", "50"]
    assert "777" in lines[6].split()


def test_docker_inspect_and_update(daemon: Daemon) -> None:
    cid = ok(daemon, "run", "-d", "-m", "64m", "--memory-swap", "-1", "--ulimit", "nproc=50", "--cgroupns",
             "private", "busybox", "sleep", "60").strip()  # fmt: skip
    try:
        ok(daemon, "update", "--cpuset-cpus", "0", "--memory-reservation", "10m", cid)
        hc = json.loads(ok(daemon, "inspect", cid))[0]["HostConfig"]
        assert hc["Ulimits"] == [{"Name": "nproc", "Hard": 50, "Soft": 50}]
        assert (hc["MemorySwap"], hc["CgroupnsMode"], hc["CpusetCpus"]) == (-1, "private", "0")
        assert hc["MemoryReservation"] == 10 << 20
    finally:
        daemon.docker("rm", "-f", cid)


def test_docker_cli_sees_dockers_refusal(daemon: Daemon) -> None:
    result = daemon.docker("run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true")
    assert result.returncode == 125
    assert "sysctl 'net.ipv4.ip_forward' is not allowed in host network namespace" in result.stderr
