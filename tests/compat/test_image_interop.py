"""Image archives across independent tools: what dockyard saves passes `skopeo inspect`, `skopeo copy` and `umoci
unpack` and loads in podman; what skopeo (gzip and zstd layers too) and podman write loads in dockyard and runs.
The docker CLI drives save/load/import/images/history/prune against dockyardd.

The source image for skopeo is an OCI layout written with plain Python (interop_support.py), so these tests do
not depend on dockyard's own writer. skopeo, umoci and podman come from the Makefile's APT_PACKAGES; archives
written by dockerd and podman's own images are test_peer_interop.py's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from compat_harness import Daemon, log_tail, needs_docker, start_daemon
from interop_support import BUSYBOX, dockyard, run, tool, write_oci_layout

from fixtures.peers import podman_cli

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_daemon(tmp_path_factory.mktemp("interop")) as d:
        yield d


# ---- dockyard save → skopeo, umoci, podman ------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "bb.tar"
    dockyard(daemon, "tag", "busybox", "interop/bb:v1")
    dockyard(daemon, "save", "-o", str(path), "interop/bb:v1")
    return path


def test_skopeo_inspects_what_dockyard_saves(daemon: Daemon, saved: Path) -> None:
    info = json.loads(run(tool("skopeo"), "inspect", f"docker-archive:{saved}"))
    config = json.loads(dockyard(daemon, "image", "inspect", "interop/bb:v1"))[0]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["Layers"] == config["RootFS"]["Layers"]  # uncompressed layers: digest = diff id
    oci = json.loads(run(tool("skopeo"), "inspect", f"oci-archive:{saved}"))  # the OCI view of the same tar
    assert oci["Layers"] == config["RootFS"]["Layers"]


def test_skopeo_copy_and_umoci_unpack(saved: Path, tmp_path: Path) -> None:
    run(tool("skopeo"), "copy", f"docker-archive:{saved}", f"oci:{tmp_path / 'layout'}:bb")
    run(tool("umoci"), "unpack", "--image", f"{tmp_path / 'layout'}:bb", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "rootfs" / "bin" / "busybox").stat().st_size == os.path.getsize(BUSYBOX)
    assert json.loads((tmp_path / "bundle" / "config.json").read_text())["process"]["args"] == ["sh"]


def test_umoci_unpacks_the_saved_oci_layout_directly(saved: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    with tarfile.open(saved) as tf:
        tf.extractall(layout, filter="data")
    run(tool("umoci"), "unpack", "--image", f"{layout}:v1", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "rootfs" / "bin" / "sh").is_symlink()


@pytest.fixture
def podman_root() -> Iterator[Path]:
    tool("podman")
    root = Path(tempfile.mkdtemp(prefix="pm", dir="/tmp"))  # podman wants a runroot shorter than 50 characters
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def podman(root: Path, *args: str) -> str:
    return run(*podman_cli(root, driver="vfs"), *args)


def test_podman_loads_what_dockyard_saves(saved: Path, podman_root: Path) -> None:
    out = podman(podman_root, "load", "-i", str(saved))
    assert "Loaded image: docker.io/interop/bb:v1" in out
    assert "docker.io/interop/bb:v1" in podman(podman_root, "images", "--format", "{{.Repository}}:{{.Tag}}")


# ---- skopeo / podman archives → dockyard load → run --------------------------------------------------------


@pytest.mark.parametrize(
    ("dest", "extra"),
    [
        ("docker-archive:{path}:skopeo/bb:docker", ()),
        ("oci-archive:{path}:docker.io/skopeo/bb:oci", ()),
        ("oci-archive:{path}:docker.io/skopeo/bb:gzip", ("--dest-compress", "--dest-compress-format", "gzip")),
        ("oci-archive:{path}:docker.io/skopeo/bb:zstd", ("--dest-compress-format", "zstd")),
    ],
)
def test_skopeo_archives_load_and_run(daemon: Daemon, tmp_path: Path, dest: str, extra: tuple[str, ...]) -> None:
    write_oci_layout(tmp_path / "src")
    archive = tmp_path / "out.tar"
    run(tool("skopeo"), "copy", *extra, f"oci:{tmp_path / 'src'}:latest", dest.format(path=archive))
    name = dest.rsplit(":", 2)[-2].split("/", 1)[-1] if dest.startswith("oci") else "skopeo/bb"
    tag = dest.rsplit(":", 1)[1]
    out = dockyard(daemon, "load", "-i", str(archive))
    assert out == f"Loaded image: {name}:{tag}\n"
    assert dockyard(daemon, "run", "--rm", f"{name}:{tag}", "echo", "ok") == "ok\n"
    dockyard(daemon, "rmi", f"{name}:{tag}")


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_podman_archives_load_and_run(daemon: Daemon, saved: Path, tmp_path: Path, podman_root: Path, fmt: str) -> None:
    podman(podman_root, "load", "-i", str(saved))
    archive = tmp_path / "podman.tar"
    podman(podman_root, "save", "--format", fmt, "-o", str(archive), "docker.io/interop/bb:v1")
    dockyard(daemon, "rmi", "interop/bb:v1")
    try:
        out = dockyard(daemon, "load", "-i", str(archive))
        assert out.splitlines()[-1] in ("Loaded image: interop/bb:v1", "Loaded image: docker.io/interop/bb:v1")
        assert dockyard(daemon, "run", "--rm", "interop/bb:v1", "echo", "ok") == "ok\n"
    finally:
        dockyard(daemon, "tag", "busybox", "interop/bb:v1")


# ---- the docker CLI's image verbs against dockyardd ---------------------------------------------------------


def docker(daemon: Daemon, *args: str) -> str:
    result = daemon.docker(*args, timeout=60)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}\n{log_tail(daemon)}"
    return result.stdout


@needs_docker
def test_docker_save_load_images_history(daemon: Daemon, tmp_path: Path) -> None:
    docker(daemon, "tag", "busybox", "dk/bb:1")
    docker(daemon, "save", "-o", str(tmp_path / "s.tar"), "dk/bb:1")
    assert docker(daemon, "rmi", "dk/bb:1") == "Untagged: dk/bb:1\n"
    assert docker(daemon, "load", "-i", str(tmp_path / "s.tar")) == "Loaded image: dk/bb:1\n"
    lines = docker(daemon, "images", "dk/bb").splitlines()
    assert re.fullmatch(r"REPOSITORY   TAG       IMAGE ID       CREATED {3,}SIZE", lines[0])
    assert re.match(r"dk/bb        1         [0-9a-f]{12}   ", lines[1])
    assert docker(daemon, "history", "--format", "{{.ID}}", "dk/bb:1").strip() == lines[1].split()[2]
    tags = docker(daemon, "image", "inspect", "-f", "{{json .RepoTags}}", "dk/bb:1")
    assert {"busybox:latest", "dk/bb:1"} <= set(json.loads(tags))
    docker(daemon, "rmi", "dk/bb:1")


@needs_docker
def test_docker_import_with_changes(daemon: Daemon, tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "src")
    index = json.loads((tmp_path / "src" / "index.json").read_text())
    manifest = json.loads((tmp_path / "src/blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    layer = tmp_path / "src/blobs/sha256" / manifest["layers"][0]["digest"][7:]
    out = docker(daemon, "import", "-c", 'CMD ["echo", "imported"]', "-c", "ENV PATH=/bin", "-m", "by docker",
                 str(layer), "dk/imp:1")  # fmt: skip
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", out)
    assert dockyard(daemon, "run", "--rm", "dk/imp:1") == "imported\n"
    assert docker(daemon, "history", "--format", "{{.Comment}}", "dk/imp:1") == "by docker\n"
    docker(daemon, "rmi", "dk/imp:1")


@needs_docker
def test_docker_image_prune(daemon: Daemon) -> None:
    assert docker(daemon, "image", "prune", "-f").splitlines()[-1].startswith("Total reclaimed space: ")
