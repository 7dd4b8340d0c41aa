"""The image verbs end to end as a user runs them: the CLI in a subprocess (daemonless, and through dockyardd),
a real runtime; images saved, loaded (plain, gzip, zstd, from stdin), imported from 127.0.0.1 and run."""

from __future__ import annotations

import gzip
import http.server
import io
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard
from _harness import RUNTIME, Dockyard

from privileged_gate import require

pytestmark = pytest.mark.privileged

BUSYBOX = "/bin/busybox"


@pytest.fixture
def dockyard(tmp_path: Path) -> Iterator[Dockyard]:
    require(os.path.exists(BUSYBOX), "needs busybox-static (/bin/busybox)")
    d = Dockyard(tmp_path / "data", universal_newlines=False)
    d.ok("image", "build-busybox")
    yield d
    for cid in d.ok("ps", "-aq").split():
        d("rm", "-f", cid)


def test_save_rmi_load_run(dockyard: Dockyard, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    dockyard.ok("tag", "busybox", "team/bb:v1")
    dockyard.ok("save", "-o", str(archive), "busybox", "team/bb:v1")
    with tarfile.open(archive) as tf:
        assert {"manifest.json", "index.json", "oci-layout"} <= set(tf.getnames())
    out = dockyard.ok("rmi", "busybox", "team/bb:v1")
    assert out.splitlines()[:2] == ["Untagged: busybox:latest", "Untagged: team/bb:v1"]
    assert dockyard.ok("images", "-q") == ""
    data = archive.read_bytes()
    for payload in (data, gzip.compress(data), zstandard.ZstdCompressor().compress(data)):
        assert dockyard.ok("load", stdin=payload) == "Loaded image: busybox:latest\nLoaded image: team/bb:v1\n"
        assert dockyard.ok("run", "--rm", "team/bb:v1", "echo", "ok") == "ok\n"
        dockyard.ok("rmi", "-f", "busybox", "team/bb:v1")
    assert dockyard.ok("system", "check") == "no problems found\n"


def test_save_to_stdout_pipe(dockyard: Dockyard) -> None:
    result = dockyard.raw("save", "busybox")
    assert result.returncode == 0 and result.stderr == b""
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tf:
        assert "manifest.json" in tf.getnames()


def _rootfs() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        tf.add(BUSYBOX, "bin/busybox")
        for name in ("sh", "echo", "cat"):
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(link)
    return gzip.compress(out.getvalue())


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    body = _rootfs()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/rootfs.tar.gz"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_import_from_url_and_run(dockyard: Dockyard, url: str) -> None:
    out = dockyard.ok("import", "-c", 'CMD ["echo", "imported"]', "-c", "ENV PATH=/bin", url, "imp:1")
    assert re.fullmatch(r"Downloading from \S+\nsha256:[0-9a-f]{64}\n", out)
    assert dockyard.ok("run", "--rm", "imp:1") == "imported\n"
    assert dockyard.ok("history", "--format", "{{.Comment}}", "imp:1") == f"Imported from {url}\n"


def test_rmi_of_a_running_containers_image(dockyard: Dockyard) -> None:
    cid = dockyard.ok("run", "-d", "busybox", "sleep", "30").strip()
    image = dockyard.ok("images", "-q", "busybox").strip()
    result = dockyard("rmi", "-f", image)
    assert result.code == 1
    assert result.err.strip().endswith(
        f"conflict: unable to delete {image} (cannot be forced) - image is being used by running container {cid[:12]}"
    )
    dockyard.ok("rm", "-f", cid)
    assert dockyard.ok("rmi", image).splitlines()[-1].startswith(f"Deleted: sha256:{image}")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[str]:
    sock = tmp_path / "d.sock"
    env = {**os.environ, "DOCKYARD_RUNTIME": RUNTIME}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.daemon.main", "-H", f"unix://{sock}", "--data-root", str(tmp_path / "data")],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(1000):
        if sock.exists() or proc.poll() is not None:
            break
        time.sleep(0.01)
    assert sock.exists()
    yield f"unix://{sock}"
    proc.terminate()
    proc.wait(timeout=20)


def test_verbs_through_the_daemon(dockyard: Dockyard, daemon: str, tmp_path: Path) -> None:
    remote = Dockyard(tmp_path / "data", host=daemon, universal_newlines=False)
    remote.ok("tag", "busybox", "localhost:5000/a/b:c")
    out = remote.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert sorted(out.split()) == ["busybox:latest", "localhost:5000/a/b:c"]
    archive = remote.raw("save", "busybox", "localhost:5000/a/b:c")  # two names: a repeated query parameter
    assert archive.returncode == 0, archive.stderr
    remote.ok("rmi", "busybox", "localhost:5000/a/b:c")
    assert (
        remote.ok("load", stdin=archive.stdout) == "Loaded image: busybox:latest\nLoaded image: localhost:5000/a/b:c\n"
    )
    assert remote.ok("image", "inspect", "-f", "{{.RepoTags}}", "localhost:5000/a/b:c") == (
        "[busybox:latest localhost:5000/a/b:c]\n"
    )


def test_kill_9_during_load_and_rmi_leaves_a_consistent_store(dockyard: Dockyard, tmp_path: Path) -> None:
    """SIGKILL at spread-out moments of `load` and `rmi` (20 times): `system check` must find nothing wrong, and
    every image the store lists must be whole (inspectable, its layers unpacked on use)."""
    archive = tmp_path / "bb.tar.gz"
    dockyard.ok("tag", "busybox", "victim:1")
    archive.write_bytes(gzip.compress(dockyard.raw("save", "busybox", "victim:1").stdout))
    cmd = [sys.executable, "-m", "dockyard.cli.main"]
    verbs = {"rmi": ["rmi", "-f", "victim:1", "busybox"], "load": ["load", "-i", str(archive)]}
    durations = {}
    for verb in ("rmi", "load"):  # how long each takes here, to spread the kills over the whole run
        start = time.monotonic()
        dockyard.ok(*verbs[verb])
        durations[verb] = time.monotonic() - start
    for attempt in range(20):
        verb = "rmi" if attempt % 2 else "load"
        proc = subprocess.Popen([*cmd, *verbs[verb]], env=dockyard.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(durations[verb] * (attempt // 2 + 0.5) / 10)
        proc.kill()
        proc.wait()
        assert dockyard.ok("system", "check") == "no problems found\n", f"attempt {attempt}"
        for image in dockyard.ok("images", "-q").split():
            dockyard.ok("image", "inspect", image)
    dockyard.ok("load", "-i", str(archive))
    assert dockyard.ok("run", "--rm", "victim:1", "echo", "ok") == "ok\n"
    assert dockyard.ok("system", "check") == "no problems found\n"
