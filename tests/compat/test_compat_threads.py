"""dockyardd frees the worker thread of a request whose client hung up: `run -d`'s abandoned wait, a killed
`docker logs -f` or `docker events` (else ~500 detached containers would exhaust the daemon's pool)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from compat_harness import DOCKER, Daemon, docker_available, log_tail, start_daemon

from privileged_gate import require

pytestmark = pytest.mark.privileged

DETACHED = 30


def _threads(daemon: Daemon) -> int:
    return len(os.listdir(f"/proc/{daemon.proc.pid}/task"))


def _settled(daemon: Daemon, most: int, timeout: float = 5) -> int:
    """The daemon's thread count once it is at most `most` (or the last count seen after `timeout`)."""
    deadline = time.monotonic() + timeout
    count = _threads(daemon)
    while count > most and time.monotonic() < deadline:
        time.sleep(0.05)
        count = _threads(daemon)
    return count


def test_detached_runs_do_not_hold_threads(tmp_path: Path) -> None:
    require(docker_available(), "the docker CLI is not installed")
    with start_daemon(tmp_path) as daemon:
        assert daemon.docker("ps").returncode == 0
        idle = _threads(daemon)
        for _ in range(DETACHED):
            run = daemon.docker("run", "-d", "--network", "none", "busybox", "sleep", "300")
            assert run.returncode == 0, f"{run.stderr}\n{log_tail(daemon)}"
        # each `docker run -d` abandons its wait; a held wait would keep one pool thread per container
        assert _settled(daemon, idle + 8) <= idle + 8, f"threads: idle {idle}, now {_threads(daemon)}"
        running = daemon.docker("ps", "-q").stdout.split()
        assert len(running) == DETACHED  # the containers themselves keep running


def test_killed_followers_free_their_threads(tmp_path: Path) -> None:
    require(docker_available(), "the docker CLI is not installed")
    with start_daemon(tmp_path) as daemon:
        run = daemon.docker("run", "-d", "--network", "none", "busybox", "sleep", "300")
        assert run.returncode == 0, run.stderr
        cid = run.stdout.strip()
        counts: list[int] = []
        quiet = subprocess.DEVNULL
        for _ in range(3):  # a leak grows the pool by a dozen each round; freed threads are reused instead
            followers = [
                subprocess.Popen([DOCKER, *args], env=daemon.env(), stdout=subprocess.DEVNULL, stderr=quiet)
                for args in [("events",)] * 6 + [("logs", "-f", cid)] * 6
            ]
            time.sleep(1.0)  # every follower has its stream open
            counts.append(_threads(daemon))
            for follower in followers:
                follower.kill()
                follower.wait()
            time.sleep(0.3)  # the daemon sees the hang-ups; the follows end at their next poll
        assert counts[-1] < counts[0] + 6, f"threads per round: {counts}"
