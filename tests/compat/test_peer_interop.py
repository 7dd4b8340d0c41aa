"""Archives across engines: what dockyard saves loads and runs in a private dockerd and in podman, and what dockerd
and podman write of images they made themselves (`import` of a tar built here) loads and runs in dockyard.

dockerd (Debian's 20.10) runs isolated: its own socket, data root, exec root and pidfile, no bridge and no
iptables rules, so containers run with `--network none`. The session fixture stops it and asserts it left no
process, mount, bridge or iptables chain behind. docker.io and podman come from the Makefile's APT_PACKAGES.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from compat_harness import Daemon, start_daemon
from interop_support import dockyard, rootfs_tar, run, tool

from fixtures.peers import DOCKER_CLI, PODMAN_ULIMITS, Dockerd, peer_chains, podman_cli

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Dockerd]:
    tool("dockerd")
    tool("docker")
    chains = peer_chains()
    root = Path(tempfile.mkdtemp(prefix="dk", dir="/tmp"))  # containerd's sockets live under the exec root
    peer = Dockerd(root, isolated=True)
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()
        left = peer.leftovers()
        shutil.rmtree(root, ignore_errors=True)
    assert left == [], f"dockerd left {left}"
    assert peer_chains() == chains, "dockerd changed iptables"
    assert not Path("/sys/class/net/docker0").exists(), "dockerd left its bridge"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_daemon(tmp_path_factory.mktemp("peers")) as d:
        yield d


@pytest.fixture(scope="module")
def podman_root() -> Iterator[Path]:
    tool("podman")
    root = Path(tempfile.mkdtemp(prefix="pm", dir="/tmp"))  # podman wants a runroot shorter than 50 characters
    try:
        yield root
    finally:
        subprocess.run([*podman_cli(root, driver="vfs"), "rm", "-af"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def docker(peer: Dockerd, *args: str) -> str:
    return run(DOCKER_CLI, "-H", f"unix://{peer.sock}", *args)


def podman(root: Path, *args: str) -> str:
    return run(*podman_cli(root, driver="vfs"), *args)


@pytest.fixture(scope="module")
def saved(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "bb.tar"
    dockyard(daemon, "tag", "busybox", "peer/bb:v1")
    dockyard(daemon, "save", "-o", str(path), "peer/bb:v1")
    return path


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rootfs") / "rootfs.tar"
    path.write_bytes(rootfs_tar())
    return path


# ---- dockyard save → docker / podman load → run ------------------------------------------------------------


def test_docker_loads_and_runs_what_dockyard_saves(dockerd: Dockerd, saved: Path) -> None:
    assert docker(dockerd, "load", "-i", str(saved)) == "Loaded image: peer/bb:v1\n"
    try:
        assert docker(dockerd, "run", "--rm", "--network", "none", "peer/bb:v1", "echo", "ok") == "ok\n"
    finally:
        docker(dockerd, "rmi", "peer/bb:v1")


def test_podman_loads_and_runs_what_dockyard_saves(podman_root: Path, saved: Path) -> None:
    assert "Loaded image: docker.io/peer/bb:v1" in podman(podman_root, "load", "-i", str(saved))
    out = podman(podman_root, "run", "--rm", "--network", "none", *PODMAN_ULIMITS, "peer/bb:v1", "echo", "ok")
    assert out == "ok\n"


# ---- docker / podman save of their own images → dockyard load → run ----------------------------------------


def _loads_and_runs(daemon: Daemon, archive: Path, name: str) -> None:
    out = dockyard(daemon, "load", "-i", str(archive))
    assert out.splitlines()[-1] in (f"Loaded image: {name}", f"Loaded image: docker.io/{name}")
    try:
        assert dockyard(daemon, "run", "--rm", name, "echo", "ok") == "ok\n"
        assert dockyard(daemon, "run", "--rm", name) == "from the peer\n"  # the CMD the peer's import set
    finally:
        dockyard(daemon, "rmi", name)


def test_dockyard_loads_what_docker_saves(daemon: Daemon, dockerd: Dockerd, rootfs: Path, tmp_path: Path) -> None:
    docker(dockerd, "import", "-c", 'CMD ["echo", "from the peer"]', str(rootfs), "peer/dk:imp")
    try:
        docker(dockerd, "save", "-o", str(tmp_path / "dk.tar"), "peer/dk:imp")
    finally:
        docker(dockerd, "rmi", "peer/dk:imp")
    _loads_and_runs(daemon, tmp_path / "dk.tar", "peer/dk:imp")


def test_dockyard_loads_docker_save_from_stdin(daemon: Daemon, dockerd: Dockerd, rootfs: Path) -> None:
    docker(dockerd, "import", "-c", 'CMD ["echo", "from the peer"]', str(rootfs), "peer/dk:pipe")
    try:
        archive = subprocess.run([DOCKER_CLI, "-H", f"unix://{dockerd.sock}", "save", "peer/dk:pipe"],
                                 capture_output=True, timeout=60, check=True).stdout  # fmt: skip
    finally:
        docker(dockerd, "rmi", "peer/dk:pipe")
    out = dockyard(daemon, "load", stdin=archive)
    assert out == "Loaded image: peer/dk:pipe\n"
    assert dockyard(daemon, "run", "--rm", "peer/dk:pipe") == "from the peer\n"
    dockyard(daemon, "rmi", "peer/dk:pipe")


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_dockyard_loads_what_podman_saves(
    daemon: Daemon, podman_root: Path, rootfs: Path, tmp_path: Path, fmt: str
) -> None:
    name = f"peer/pm:{fmt}"
    podman(podman_root, "import", "--change", 'CMD ["echo", "from the peer"]', str(rootfs), f"docker.io/{name}")
    podman(podman_root, "save", "--format", fmt, "-o", str(tmp_path / "pm.tar"), f"docker.io/{name}")
    podman(podman_root, "rmi", f"docker.io/{name}")
    _loads_and_runs(daemon, tmp_path / "pm.tar", name)


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_dockyard_loads_what_skopeo_copies_out_of_dockerd(
    daemon: Daemon, dockerd: Dockerd, rootfs: Path, tmp_path: Path, compress: str
) -> None:
    """skopeo reads docker's own image through its API and writes an oci-archive with compressed layers."""
    docker(dockerd, "import", "-c", 'CMD ["echo", "from the peer"]', str(rootfs), "peer/sk:src")
    try:
        dest = f"oci-archive:{tmp_path / 'sk.tar'}:docker.io/peer/sk:{compress}"
        run(tool("skopeo"), "copy", "--src-daemon-host", f"unix://{dockerd.sock}", "--dest-compress-format",
            compress, "docker-daemon:peer/sk:src", dest)  # fmt: skip
    finally:
        docker(dockerd, "rmi", "peer/sk:src")
    assert layer_types(tmp_path / "sk.tar") == [f"application/vnd.oci.image.layer.v1.tar+{compress}"]
    _loads_and_runs(daemon, tmp_path / "sk.tar", f"peer/sk:{compress}")


def layer_types(archive: Path) -> list[str]:
    """The layer media types of an oci-archive's one image."""
    with tarfile.open(archive) as tf:

        def blob(digest: str) -> Any:
            f = tf.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
            assert f is not None
            return json.load(f)

        index = tf.extractfile("index.json")
        assert index is not None
        manifest = blob(json.load(index)["manifests"][0]["digest"])
        return [layer["mediaType"] for layer in manifest["layers"]]
