"""The CLI against dockyardd on tcp:// (plain HTTP, then TLS with a verified self-signed certificate)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import wait_for

from privileged_gate import require

CLI = [sys.executable, "-m", "dockyard.cli.main"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    drop = ("DOCKER_HOST", "DOCKYARD_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _start(root: Path, host: str, *extra: str) -> subprocess.Popen[bytes]:
    runtime = os.environ.get("DOCKYARD_E2E_RUNTIME") or os.path.join(os.path.dirname(sys.executable),
                                                                     "dockyard-runtime")  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.daemon.main", "-H", host, "--data-root", str(root / "data"), *extra],
        env={**_env(), "DOCKYARD_RUNTIME": runtime}, stderr=subprocess.PIPE,
    )  # fmt: skip
    port = int(host.rsplit(":", 1)[1])
    for _ in range(500):
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.01)
    proc.kill()
    raise AssertionError(proc.stderr.read() if proc.stderr else "dockyardd did not listen")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    assert proc.wait(timeout=10) == 0


@pytest.fixture(scope="module")
def tcp_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("dockyardd-tcp")
    host = f"tcp://127.0.0.1:{_free_port()}"
    proc = _start(root, host)
    yield host, root
    _stop(proc)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env or _env(), capture_output=True, text=True, check=False, timeout=60)


def test_cli_over_tcp(tcp_daemon: tuple[str, Path]) -> None:
    host, _ = tcp_daemon
    proc = cli("-H", host, "version")
    assert proc.returncode == 0 and "Server: Dockyard Engine" in proc.stdout, proc.stderr
    proc = cli("ps", "-a", env={**_env(), "DOCKER_HOST": host})
    assert (proc.returncode, proc.stdout.split()[:2]) == (0, ["CONTAINER", "ID"])
    proc = cli("-H", host, "rm", "nosuch")
    assert (proc.returncode, proc.stderr) == (1, "dockyard: Error response from daemon: No such container: nosuch\n")


def test_tcp_without_a_daemon_names_the_host() -> None:
    host = f"tcp://127.0.0.1:{_free_port()}"
    proc = cli("-H", host, "ps")
    assert proc.returncode == 125
    assert proc.stderr == f"dockyard: Cannot connect to the dockyard daemon at {host}. Is the daemon running?\n"


@pytest.mark.privileged
def test_run_over_tcp(tcp_daemon: tuple[str, Path]) -> None:
    require(os.path.isfile("/bin/busybox"), "busybox-static is not installed")
    host, root = tcp_daemon
    assert cli("-H", host, "image", "build-busybox").returncode == 0
    proc = cli("-H", host, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo hi; exit 3")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "hi\n", "")
    assert cli("-H", host, "ps", "-aq").stdout == ""  # gone as soon as `run --rm` returned
    # its files go with the monitor's deferred cleanup (engine/monitor_teardown.py)
    assert wait_for(lambda: not any((root / "data" / "containers").glob("*/config.v2.json")))


def test_cli_over_tls(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    host = f"tcp://127.0.0.1:{_free_port()}"
    proc = _start(tmp_path, host, "--tlscert", cert, "--tlskey", key)
    try:
        ok = cli("-H", host, "--tlsverify", "--tlscacert", cert, "version")
        assert ok.returncode == 0 and "Server: Dockyard Engine" in ok.stdout, ok.stderr
        certs = tmp_path / "certs"
        certs.mkdir()
        shutil.copy(cert, certs / "ca.pem")
        by_env = cli("ps", env={**_env(), "DOCKER_HOST": host, "DOCKER_TLS_VERIFY": "1",
                                "DOCKER_CERT_PATH": str(certs)})  # fmt: skip
        assert by_env.returncode == 0, by_env.stderr
        unverified = cli("-H", host, "--tlsverify", "version", env={**_env(), "DOCKER_CERT_PATH": str(tmp_path / "x")})
        assert unverified.returncode == 125
        assert unverified.stderr.startswith(f"dockyard: tls handshake with `{host}`: certificate verify failed")
        plain = cli("-H", host, "ps")
        assert plain.returncode == 125
    finally:
        _stop(proc)
