"""dockyardd end to end: the Engine API over a unix socket (ping headers, version, errors, a run through it)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import wait_for

from privileged_gate import require


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("dockyardd")
    sock = str(root / "d.sock")
    runtime = os.environ.get("DOCKYARD_E2E_RUNTIME") or os.path.join(
        os.path.dirname(sys.executable), "dockyard-runtime"
    )
    env = {**os.environ, "DOCKYARD_RUNTIME": runtime}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.daemon.main", "-H", f"unix://{sock}", "--data-root", str(root / "data")],
        env=env, stderr=subprocess.PIPE,
    )  # fmt: skip
    for _ in range(500):
        if os.path.exists(sock) or proc.poll() is not None:
            break
        time.sleep(0.01)
    assert os.path.exists(sock), proc.stderr.read() if proc.stderr else ""
    yield sock, root
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    assert not os.path.exists(sock)


def request(sock: str, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = UnixHTTP(sock)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def test_socket_mode_is_0660(daemon: tuple[str, Path]) -> None:
    assert stat.S_IMODE(os.stat(daemon[0]).st_mode) == 0o660


@pytest.mark.parametrize("path", ["/_ping", "/v1.47/_ping"])
def test_ping(daemon: tuple[str, Path], path: str) -> None:
    status, headers, body = request(daemon[0], "GET", path)
    assert (status, body) == (200, b"OK")
    assert headers["api-version"] == "1.47" and headers["ostype"] == "linux"
    assert headers["docker-experimental"] == "false" and headers["server"].startswith("Dockyard/")
    status, headers, body = request(daemon[0], "HEAD", path)
    assert (status, body, headers["content-length"]) == (200, b"", "0")


def test_version_and_errors(daemon: tuple[str, Path]) -> None:
    status, _, body = request(daemon[0], "GET", "/v1.47/version")
    assert status == 200 and json.loads(body)["ApiVersion"] == "1.47"
    status, _, body = request(daemon[0], "GET", "/v1.47/containers/nosuch/json")
    assert (status, json.loads(body)) == (404, {"message": "No such container: nosuch"})
    status, _, body = request(daemon[0], "POST", "/v1.47/containers/create", b"{not json")
    assert status == 400 and json.loads(body)["message"].startswith("invalid JSON")
    status, _, body = request(daemon[0], "GET", "/v1.47/containers/json?all=1")
    assert (status, json.loads(body)) == (200, [])


def test_cli_through_the_socket(daemon: tuple[str, Path]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKYARD_HOST")}
    proc = subprocess.run([sys.executable, "-m", "dockyard.cli.main", "-H", f"unix://{daemon[0]}", "version"],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0 and "Server: Dockyard Engine" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "dockyard.cli.main", "-H", "unix:///nonexistent.sock", "ps"],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 125
    assert "Cannot connect to the dockyard daemon at unix:///nonexistent.sock" in proc.stderr


@pytest.mark.privileged
def test_run_through_the_daemon(daemon: tuple[str, Path]) -> None:
    require(os.path.isfile("/bin/busybox"), "busybox-static is not installed")
    cli = [sys.executable, "-m", "dockyard.cli.main", "-H", f"unix://{daemon[0]}"]
    assert subprocess.run([*cli, "image", "build-busybox"], capture_output=True, check=False).returncode == 0
    proc = subprocess.run([*cli, "run", "--rm", "busybox", "sh", "-c", "echo hi; exit 4"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (4, "hi\n", "")
    listed = subprocess.run([*cli, "ps", "-aq"], capture_output=True, text=True, check=False)
    assert (listed.returncode, listed.stdout) == (0, "")  # gone as soon as `run --rm` returned
    # its files go with the monitor's deferred cleanup (engine/monitor_teardown.py)
    assert wait_for(lambda: not any((daemon[1] / "data" / "containers").glob("*/config.v2.json")))


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
def test_docker_cli_version(daemon: tuple[str, Path]) -> None:
    proc = subprocess.run(["docker", "-H", f"unix://{daemon[0]}", "version"], capture_output=True, text=True,
                          check=False, env={**os.environ, "DOCKER_CONFIG": str(daemon[1])})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Dockyard Engine" in proc.stdout and "1.47" in proc.stdout
