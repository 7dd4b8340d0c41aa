"""Published ports through the real docker CLI (v28) against dockyardd: `docker port` and `docker ps`'s PORTS print
what the dockyard CLI prints, IPv6 bindings (Docker ≥ 20.10's `::` beside 0.0.0.0) included."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from compat_harness import Daemon, needs_docker, start_daemon
from compat_harness import docker_ok as ok

from dockyard.network import portmap

pytestmark = [pytest.mark.privileged, needs_docker]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    from dockyard.engine.networks import ContainerNetworks
    from dockyard.paths import Paths

    root = tmp_path_factory.mktemp("compat-ports")
    with start_daemon(root) as d:
        yield d
    # the default bridge of this private data root (and its rules) go with it
    ContainerNetworks(Paths.from_env(str(root / "data")), lambda ref: pytest.fail(ref)).manager.purge()


def dockyard(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in daemon.env().items() if k != "DOCKER_HOST"}
    env.update(DOCKYARD_HOST=daemon.host, DOCKYARD_CLI_SOCKET="")
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_port_and_ps_match_the_docker_cli(daemon: Daemon) -> None:
    ok(daemon, "run", "-d", "--name", "compat-ports", "-p", "80", "-p", "127.0.0.1::81", "-p", "53/udp",
       "busybox", "sleep", "60")  # fmt: skip
    try:
        for args in (("port", "compat-ports"), ("port", "compat-ports", "80"), ("port", "compat-ports", "53/udp"),
                     ("ps", "--filter", "name=compat-ports", "--format", "{{.Ports}}")):  # fmt: skip
            theirs, ours = daemon.docker(*args), dockyard(daemon, *args)
            assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), args
        lines = ok(daemon, "port", "compat-ports").splitlines()
        v6 = portmap.v6_listenable()
        assert [line.split(" -> ")[1].rpartition(":")[0] for line in lines] == [
            "0.0.0.0", *(["[::]"] * v6), "0.0.0.0", *(["[::]"] * v6), "127.0.0.1"]  # fmt: skip
        for args in (("port", "compat-ports", "84"), ("port", "compat-ports", "x")):
            theirs, ours = daemon.docker(*args), dockyard(daemon, *args)
            assert theirs.returncode == ours.returncode == 1, args
            assert ours.stderr.strip() == theirs.stderr.strip(), args
    finally:
        daemon.docker("rm", "-f", "compat-ports")
