"""kill -9 dockyardd while a container runs: it keeps running, and a new dockyardd finds it with its state."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from compat_harness import log_tail, needs_docker, start_daemon

pytestmark = [
    pytest.mark.privileged,
    needs_docker,
]


def test_containers_survive_a_killed_daemon(tmp_path: Path) -> None:
    with start_daemon(tmp_path) as first:
        run = first.docker("run", "-d", "--name", "survivor", "busybox", "sh", "-c", "echo before; sleep 60")
        assert run.returncode == 0, run.stderr
        cid = run.stdout.strip()
        pid = int(first.docker("inspect", "-f", "{{.State.Pid}}", cid).stdout)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        os.kill(pid, 0)  # the container's process outlived the daemon
        assert os.path.exists(first.sock)  # a stale socket: the next daemon must replace it
    with start_daemon(tmp_path, busybox=False) as second:
        state = second.docker("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "survivor")
        assert state.stdout.split() == ["running", str(pid)], f"{state.stderr}\n{log_tail(second)}"
        assert second.docker("logs", "survivor").stdout == "before\n"
        assert second.docker("rm", "-f", "survivor").returncode == 0
