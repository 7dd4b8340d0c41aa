"""The CLI's exit statuses and warnings end to end: `start -a` of an --rm container gives the container's code, a
stdout reader that goes away ends the CLI quietly with 141 (in process, through the launcher and through the CLI
zygote), and create warnings are printed as the docker CLI does (its side: tests/compat/test_compat_create_warnings)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import _harness as support
import pytest
from _harness import Dockyard, checked, make_root
from test_cli_zygote_e2e import Daemon

from dockyard.runtime.launcher import write_launcher

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-cli-exits"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    yield from checked(image_root)


def test_start_attach_of_an_rm_container_gives_its_exit_code(d: Dockyard) -> None:
    created = d("create", "--rm", "busybox", "sh", "-c", "echo out; exit 3")
    assert created.code == 0, created.err
    cid = created.out.strip()
    started = d("start", "-a", cid)
    assert (started.code, started.out) == (3, "out\n"), started.err
    assert d("ps", "-aq", "--no-trunc").out.split() == []  # removed, as --rm asks


def test_create_warnings_in_process(d: Dockyard) -> None:
    result = d("run", "--rm", "--network", "host", "-p", "8080:80", "--oom-kill-disable", "busybox", "true")
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        "WARNING: OOM killer is disabled for the container, but no memory limit is set, this can result in the "
        "system running out of resources.",
        "WARNING: Published ports are discarded when using host network mode",
    ]
    quiet = d("create", "-m", "64m", "--oom-kill-disable", "busybox", "true")
    assert (quiet.code, quiet.err) == (0, "")


def closed_pipe_run(cli: list[str], env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run the CLI with stdout a pipe whose reader is already closed; its status and stderr."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([*cli, *args], env=env, stdout=write, stderr=subprocess.PIPE, text=True, timeout=60,
                              check=False)  # fmt: skip
    finally:
        os.close(write)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    "args", [("ps", "-a"), ("images",), ("inspect", "busybox"), ("version",), ("--version",), ("--help",)]
)
def test_closed_stdout_is_a_quiet_141(d: Dockyard, tmp_path: Path, args: tuple[str, ...]) -> None:
    launcher = str(tmp_path / "dockyard")
    write_launcher(launcher, program="dockyard")
    for cli in (support.CLI, [launcher]):
        assert closed_pipe_run(cli, d.env, *args) == (141, ""), cli


def test_closed_stdout_of_logs_is_a_quiet_141(d: Dockyard) -> None:
    assert d("run", "--name", "chatty", "busybox", "seq", "1", "20000").code == 0
    assert closed_pipe_run(support.CLI, d.env, "logs", "chatty") == (141, "")


def test_closed_stdout_through_the_cli_zygote(tmp_path: Path) -> None:
    make_root(tmp_path / "data")
    daemon = Daemon(tmp_path)
    try:
        env = daemon.cli(True).env
        assert closed_pipe_run([daemon.launcher], env, "ps", "-a") == (141, "")
        assert closed_pipe_run([daemon.launcher], env, "images") == (141, "")
    finally:
        daemon.proc.terminate()
        assert daemon.proc.wait(timeout=15) == 0
