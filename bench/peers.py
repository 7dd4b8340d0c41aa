"""The bench's peers: dockyardd on a private socket, plus what tests/fixtures/peers.py shares with the tests.

dockerd, podman, the iptables guard and the archive helpers live in tests/fixtures/peers.py (the interop tests
start the same private dockerd); this module re-exports them so the bench scripts keep calling `peers.X`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures.peers import (
    DOCKER_CLI,
    DOCKERD_BIP,
    PODMAN_ULIMITS,
    Dockerd,
    IptablesGuard,
    ensure_installed,
    load_archive,
    podman_cli,
    remove_all,
    wait_for,
)

__all__ = [
    "DOCKERD_BIP",
    "DOCKER_CLI",
    "DOCKYARD",
    "PODMAN_ULIMITS",
    "Dockerd",
    "Dockyardd",
    "IptablesGuard",
    "ensure_installed",
    "load_archive",
    "podman_cli",
    "remove_all",
]

VENV_BIN = Path(sys.executable).parent
DOCKYARD = str(VENV_BIN / "dockyard")


@dataclass
class Dockyardd:
    """dockyardd on a private socket and data root, with busybox built in it."""

    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def sock(self) -> Path:
        return self.root / "dockyardd.sock"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        runtime = os.environ.get("DOCKYARD_RUNTIME") or str(VENV_BIN / "dockyard-runtime")
        argv = [sys.executable, "-m", "dockyard.daemon.main", "-H", f"unix://{self.sock}",
                "--data-root", str(self.root / "data")]  # fmt: skip
        with (self.root / "dockyardd.log").open("wb") as log:
            self.proc = subprocess.Popen(argv, env={**os.environ, "DOCKYARD_RUNTIME": runtime}, stdout=log, stderr=log)
        wait_for(self.sock, self.proc, "dockyardd")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            cli = [DOCKER_CLI, "-H", f"unix://{self.sock}"]
            ids = subprocess.run([*cli, "ps", "-aq"], capture_output=True, text=True, check=False).stdout.split()
            if ids:
                subprocess.run([*cli, "rm", "-f", *ids], capture_output=True, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        from net_teardown import drop_idle_networks

        drop_idle_networks(self.root / "data")  # its default bridge stays up like docker0: not past the bench
