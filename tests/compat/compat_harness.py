"""Compatibility harness: a dockyardd on a temp socket and data root, and the real docker CLI / HTTP pointed at it.

Imported by the tests/compat modules (not a conftest, so `from privileged_gate import require` stays unambiguous).
Starts one daemon per test module, builds `busybox:latest` in it, and removes everything it made afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from privileged_gate import REQUIRE_PRIVILEGED

DOCKER = os.environ.get("DOCKYARD_COMPAT_DOCKER", "/usr/local/bin/docker")
SWAGGER = Path(
    os.environ.get(
        "DOCKYARD_SWAGGER",
        "/var/cache/dockyard/docker-dev/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml",
    )
)
REF = Path("/work/shared/ref/docker-cli-28-vs-engine-20.10-api-1.41.jsonl")


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


@dataclass
class Daemon:
    sock: str
    root: Path
    proc: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def env(self) -> dict[str, str]:
        config = self.root / "docker-config"  # no contexts, no credential helpers from the host
        config.mkdir(exist_ok=True)
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(config), "DOCKER_CLI_HINTS": "false"}

    def docker(self, *args: str, timeout: float = 30, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this daemon; a hang is a test failure, not a stuck suite."""
        try:
            return subprocess.run(
                [DOCKER, *args],
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input.decode() if input is not None else None,
            )
        except subprocess.TimeoutExpired as err:
            pytest.fail(f"docker {' '.join(args)}: no answer within {timeout} s ({err.stderr!r})")

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = _UnixHTTP(self.sock)
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers={**hdrs, **(headers or {})})
        resp = conn.getresponse()
        out = resp.read()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, out


def docker_available() -> bool:
    return os.access(DOCKER, os.X_OK)


# The docker CLI suites: skipped without the CLI, except under DOCKYARD_REQUIRE_PRIVILEGED=1 (CI), where they run
# and fail as privileged tests do.
needs_docker = pytest.mark.skipif(
    not docker_available() and not REQUIRE_PRIVILEGED, reason="the docker CLI is not installed"
)


def _runtime() -> str:
    return os.environ.get("DOCKYARD_E2E_RUNTIME") or os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")


@contextlib.contextmanager
def start_daemon(root: Path, *, busybox: bool = True) -> Iterator[Daemon]:
    sock = str(root / "d.sock")
    log = open(root / "dockyardd.log", "wb")  # noqa: SIM115 — closed below, after the daemon exits
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.daemon.main", "-H", f"unix://{sock}", "--data-root", str(root / "data")],
        env={**os.environ, "DOCKYARD_RUNTIME": _runtime()},
        stdout=log,
        stderr=log,
    )
    daemon = Daemon(sock=sock, root=root, proc=proc)
    try:
        for _ in range(1000):  # ready = answers /_ping (a stale socket file from a killed daemon is not)
            if _answers(daemon) or proc.poll() is not None:
                break
            time.sleep(0.01)
        if not _answers(daemon):
            pytest.fail(f"dockyardd did not start: {(root / 'dockyardd.log').read_text()}")
        if busybox:
            status, _, body = daemon.request("POST", "/_dockyard/images/busybox")
            assert status in (200, 201), body
        yield daemon
    finally:
        _cleanup(daemon)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _answers(daemon: Daemon) -> bool:
    try:
        return daemon.request("GET", "/_ping")[0] == 200
    except OSError:
        return False


def _cleanup(daemon: Daemon) -> None:
    """Remove the containers a test left behind (their monitors outlive the daemon otherwise)."""
    with contextlib.suppress(Exception):
        status, _, body = daemon.request("GET", "/containers/json?all=1")
        if status == 200:
            for c in json.loads(body):
                daemon.request("DELETE", f"/containers/{c['Id']}?force=1")


def log_tail(daemon: Daemon, lines: int = 30) -> str:
    text = (daemon.root / "dockyardd.log").read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def docker_ok(daemon: Daemon, *args: str, timeout: float = 30) -> str:
    """The docker CLI's stdout for a call that must succeed; else its stderr and the daemon's log tail."""
    result = daemon.docker(*args, timeout=timeout)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}\n--- daemon log:\n{log_tail(daemon)}"
    return result.stdout
