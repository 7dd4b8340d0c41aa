"""dockyardd reads a build context as a stream: its peak RSS grows far less than a 192 MiB context sent by the
docker CLI's classic builder or by `dockyard build`, the spooled context is gone afterwards, and both clients get
the daemon's answer (builds themselves are not implemented: 501). A `cp -` of a tar cut short fails with a clear
error and, as with dockerd (archive.Untar streams straight into the container), keeps what was unpacked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from compat_harness import DOCKER, Daemon, docker_available, docker_ok, needs_docker, start_daemon

from privileged_gate import require

pytestmark = pytest.mark.privileged

SIZE = 192 << 20
GROWTH = 32 << 20  # the whole context read into memory would be > 192 MiB
UNSUPPORTED = "Error response from daemon: build: Dockerfile builds are not supported by this engine yet\n"


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Dockerfile that does not COPY the context's one 192 MiB file (sparse zeros: fast to write)."""
    work = tmp_path_factory.mktemp("ctx")
    (work / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    with (work / "big.bin").open("wb") as f:
        f.truncate(SIZE)
    return work


def _peak(daemon: Daemon) -> int:
    for line in Path(f"/proc/{daemon.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{daemon.proc.pid}/status")


def _build(daemon: Daemon, client: str, context: Path) -> subprocess.CompletedProcess[str]:
    if client == "docker":
        command = [DOCKER, "build", "-t", "big:1", str(context)]
        env = {**daemon.env(), "DOCKER_BUILDKIT": "0"}  # the classic builder: POST /build with the context tar
    else:
        command = [sys.executable, "-m", "dockyard.cli.main", "build", "-t", "big:1", str(context)]
        env = {**os.environ, "DOCKYARD_HOST": daemon.host}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.parametrize("client", ["docker", "dockyard"])
def test_a_big_build_context_keeps_the_daemon_memory_bounded(context: Path, tmp_path: Path, client: str) -> None:
    if client == "docker":
        require(docker_available(), "the docker CLI is not installed")
    with start_daemon(tmp_path, busybox=False) as daemon:
        assert daemon.request("GET", "/images/json")[0] == 200  # the daemon has served a request: steady state
        before = _peak(daemon)
        run = _build(daemon, client, context)
        growth = _peak(daemon) - before
        assert run.returncode == 1, run.stderr
        assert run.stderr.endswith(UNSUPPORTED), run.stderr
        assert os.listdir(daemon.root / "data" / "tmp") == []
        assert growth < GROWTH, f"dockyardd's peak RSS grew {growth >> 20} MiB for a {SIZE >> 20} MiB context"


@needs_docker
def test_cp_of_a_tar_cut_short_fails_clearly_and_keeps_what_was_unpacked(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(os.urandom(100_000))
    (src / "b").write_bytes(os.urandom(300_000))
    with tarfile.open(tmp_path / "full.tar", "w") as tf:
        tf.add(src / "a", "a")
        tf.add(src / "b", "b")
    cut = (tmp_path / "full.tar").read_bytes()[:200_000]  # ends inside `b`
    (tmp_path / "d").mkdir()
    with start_daemon(tmp_path / "d") as daemon:
        cid = docker_ok(daemon, "create", "busybox", "true").strip()
        run = subprocess.run([DOCKER, "cp", "-", f"{cid}:/tmp"], env=daemon.env(), input=cut, capture_output=True,
                             timeout=60, check=False)  # fmt: skip
        assert run.returncode == 1
        assert run.stderr.decode() == "Error response from daemon: apply layer: entry `b`: unexpected end of data\n"
        back = daemon.docker("cp", f"{cid}:/tmp/a", str(tmp_path / "a"))
        assert back.returncode == 0, back.stderr
        assert (tmp_path / "a").read_bytes() == (src / "a").read_bytes()


@needs_docker
def test_docker_build_contexts_the_classic_builder_sends(tmp_path: Path) -> None:
    """A context dir, a compressed one, and `-f -` (a tar without its final padding, as Go's reader allows)."""
    work = tmp_path / "ctx"
    work.mkdir()
    (work / "Dockerfile").write_text("FROM busybox\n")
    (work / "file").write_text("hello\n")
    (tmp_path / "d").mkdir()
    with start_daemon(tmp_path / "d", busybox=False) as daemon:
        env = {**daemon.env(), "DOCKER_BUILDKIT": "0"}
        for args, stdin in (
            ((str(work),), None),
            (("--compress", str(work)), None),
            (("-f", "-", str(work)), b"FROM a\n"),
        ):
            run = subprocess.run([DOCKER, "build", *args], env=env, input=stdin, capture_output=True, timeout=60,
                                 check=False)  # fmt: skip
            assert run.returncode == 1, run.stderr
            assert run.stderr.decode().endswith(UNSUPPORTED), (args, run.stderr)
        (work / "Dockerfile").unlink()
        run = subprocess.run([DOCKER, "build", "-f", "-", str(work)], env=env, input=b"", capture_output=True,
                             timeout=60, check=False)  # fmt: skip
        assert run.returncode == 1
        last = run.stderr.decode().splitlines()[-1]
        assert re.fullmatch(
            r"Error response from daemon: the Dockerfile \(\.dockerfile\.[0-9a-f]+\) cannot be empty", last
        )
        assert os.listdir(daemon.root / "data" / "tmp") == []
