"""`dockyard load` and `dockyard import` stream: the peak RSS of the CLI process loading a 192 MiB archive (from a
file and from stdin) stays far below the archive's size, so a 1 GB archive never needs 1 GB of memory.

The archive is a docker-archive written here with tarfile: one layer holding one 192 MiB file. The CLI runs
daemonless on a private data root; its peak RSS is the child's ru_maxrss from wait4.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.privileged

SIZE = 192 << 20
LIMIT = 96 << 20  # measured: ≈ 37 MiB (the CLI alone, `dockyard images`, ≈ 29 MiB); reading it whole: > 192 MiB


def _zeros(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.truncate(size)  # sparse: written fast, read back as zeros like any file


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a docker-archive of one big layer, that layer's tar for import)."""
    work = tmp_path_factory.mktemp("big")
    _zeros(work / "big.bin", SIZE)
    layer = work / "layer.tar"
    with tarfile.open(layer, "w") as tf:
        tf.add(work / "big.bin", "big.bin")
    sha = hashlib.sha256()
    with layer.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    diff_id = "sha256:" + sha.hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    (work / config_name).write_bytes(config)
    manifest = [{"Config": config_name, "RepoTags": ["big/one:1"], "Layers": [f"{sha.hexdigest()}/layer.tar"]}]
    (work / "manifest.json").write_text(json.dumps(manifest))
    archive = work / "archive.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(work / "manifest.json", "manifest.json")
        tf.add(work / config_name, config_name)
        tf.add(layer, f"{sha.hexdigest()}/layer.tar")
    (work / "big.bin").unlink()
    return archive, layer


def peak_rss(root: Path, *args: str, stdin: Path | None = None) -> tuple[int, str]:
    """Run the dockyard CLI on data root `root`; (its peak RSS in bytes, its stdout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKYARD_HOST", "DOCKYARD_EXEC_ROOT")}
    env["DOCKYARD_DATA_ROOT"] = str(root)
    with stdin.open("rb") if stdin else open(os.devnull, "rb") as f:
        proc = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "dockyard.cli.main", *args],
                              env=env, stdin=f, capture_output=True, check=False)  # fmt: skip
    err, _, maxrss = proc.stderr.decode().rpartition("\nMAXRSS ")
    assert proc.returncode == 0, f"dockyard {' '.join(args)}: {err}"
    return int(maxrss) * 1024, proc.stdout.decode()


# why: a child's ru_maxrss includes the address space it was forked (or vforked) from, here the whole pytest
# process; a small intermediate process forks the CLI, so the figure is the CLI's own (or this wrapper's, ~10 MiB)
_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
sys.stderr.write(f"\\nMAXRSS {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_load_streams(archives: tuple[Path, Path], tmp_path: Path, source: str) -> None:
    archive, _ = archives
    args, stdin = (("load", "-i", str(archive)), None) if source == "file" else (("load",), archive)
    rss, out = peak_rss(tmp_path / "data", *args, stdin=stdin)
    assert out == "Loaded image: big/one:1\n"
    assert rss < LIMIT, f"load peak RSS {rss >> 20} MiB for a {SIZE >> 20} MiB archive"


def test_import_streams(archives: tuple[Path, Path], tmp_path: Path) -> None:
    _, layer = archives
    rss, out = peak_rss(tmp_path / "data", "import", str(layer), "big/imp:1")
    assert out.startswith("sha256:")
    assert rss < LIMIT, f"import peak RSS {rss >> 20} MiB for a {SIZE >> 20} MiB tar"
