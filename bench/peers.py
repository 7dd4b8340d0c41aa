"""Peer engines for the side-by-side bench: start and stop dockerd, dockyardd and a private podman, load busybox.

Each peer gets a private data root under one temp directory, so nothing touches /var/lib/docker,
/var/lib/containers or the default dockyard root, and everything it started is stopped again on exit (dockerd's
containerd included). dockerd and podman's CNI add iptables chains and dockerd sets the FORWARD policy to DROP:
`IptablesGuard` removes what they added and restores the policy it found. Installing the peers
(`apt-get install docker.io podman`) is for the bench only; `make test` never needs them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
DOCKYARD = str(VENV_BIN / "dockyard")
# The docker CLI dockyardd is written against; Debian's /usr/bin/docker (20.10) is the fallback.
DOCKER_CLI = os.environ.get("DOCKYARD_BENCH_DOCKER") or shutil.which("docker", path="/usr/local/bin:/usr/bin") or ""
# The bridge dockerd makes; 172.17/16 may already belong to a dockyard bridge on this machine.
DOCKERD_BIP = "10.199.0.1/24"
PEER_CHAINS = re.compile(r"^(DOCKER|CNI)")
PEER_LINKS = frozenset({"docker0", "cni-podman0"})
# New rules in built-in chains that belong to a peer: its bridge's name or subnet.
PEER_RULE = re.compile(r"docker0|cni-podman|10\.199\.0\.0/24|10\.88\.0\.0/16")
# podman 4.3 asks for nofile=1048576 and nproc=32768 by default; without CAP_SYS_RESOURCE in the bounding set
# runc's setrlimit fails (`error setting rlimit type 7`), so the bench passes limits the host allows.
PODMAN_ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")


def ensure_installed(packages: Sequence[str] = ("docker.io", "podman")) -> list[str]:
    """apt-get install the peers that are missing; returns the ones still missing afterwards."""
    missing = [p for p in packages if not _dpkg_installed(p)]
    if missing and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", *missing], env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, check=False)
            subprocess.run(["apt-get", "install", "-y", *missing], env=env, capture_output=True, check=False)
    return [p for p in packages if not _dpkg_installed(p)]


def _dpkg_installed(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return "install ok installed" in out.stdout


class IptablesGuard:
    """Remember the FORWARD policy and the chains that exist; afterwards drop the peers' new chains and rules."""

    def __init__(self) -> None:
        self.policy = self._policy()
        self.chains = {t: self._chains(t) for t in ("filter", "nat")}
        self.rules = {t: set(self._rules(t)) for t in ("filter", "nat")}
        self.links = {name for name in PEER_LINKS if Path(f"/sys/class/net/{name}").exists()}

    @staticmethod
    def _rules(table: str) -> list[str]:
        out = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False).stdout
        return [line for line in out.splitlines() if line.startswith("-A ")]

    @staticmethod
    def _policy() -> str:
        out = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=False).stdout
        return out.splitlines()[0].split()[-1] if out.startswith("-P FORWARD") else "ACCEPT"

    @staticmethod
    def _chains(table: str) -> set[str]:
        out = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False).stdout
        return {line.split()[1] for line in out.splitlines() if line.startswith(("-N ", "-P "))}

    def restore(self) -> str:
        """Remove rules jumping to, and then the chains, that peers added; reset FORWARD's policy; report it."""
        for table, before in self.chains.items():
            new = {c for c in self._chains(table) - before if PEER_CHAINS.match(c)}
            for line in self._rules(table):
                words = shlex.split(line)  # comments are quoted
                jump = words[words.index("-j") + 1] if "-j" in words else ""
                if words[1] not in new and line not in self.rules[table] and (jump in new or PEER_RULE.search(line)):
                    subprocess.run(["iptables", "-t", table, "-D", *words[1:]], capture_output=True, check=False)
            for chain in new:
                subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True, check=False)
            for chain in new:
                subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True, check=False)
        subprocess.run(["iptables", "-P", "FORWARD", self.policy], capture_output=True, check=False)
        for name in PEER_LINKS - self.links:
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
        return self._policy()


def wait_for(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what}: did not start (exit {proc.poll()})")
        time.sleep(0.05)


@dataclass
class Dockerd:
    """dockerd (and the containerd it manages) on a private socket, data root and bridge."""

    root: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "dockerd.log"

    @property
    def sock(self) -> Path:
        return self.root / "docker.sock"

    def cli(self) -> list[str]:
        return [DOCKER_CLI, "-H", f"unix://{self.sock}"]

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        argv = ["dockerd", "-H", f"unix://{self.sock}", "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "dockerd.pid"),
                "--bip", DOCKERD_BIP, "--storage-driver", "overlay2"]  # fmt: skip
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        wait_for(self.sock, self.proc, "dockerd")
        for _ in range(100):
            if subprocess.run([*self.cli(), "info"], capture_output=True, check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"dockerd: `docker info` fails; see {self.log}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            ids = subprocess.run([*self.cli(), "ps", "-aq"], capture_output=True, text=True, check=False).stdout
            if ids.split():
                subprocess.run([*self.cli(), "rm", "-f", *ids.split()], capture_output=True, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        subprocess.run(["ip", "link", "del", "docker0"], capture_output=True, check=False)
        self.proc = None


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


def podman_cli(root: Path) -> list[str]:
    """podman on a private store: other users' images and containers on this machine are never seen."""
    return ["podman", "--root", str(root / "storage"), "--runroot", str(root / "run")]


def load_archive(cli: Sequence[str], archive: Path) -> str:
    """`<cli> load -i archive`; returns the loaded image's id (raises with the engine's message on failure)."""
    proc = subprocess.run([*cli, "load", "-i", str(archive)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cli[0]} load `{archive}`: {proc.stderr.strip()}")
    out = subprocess.run([*cli, "image", "inspect", "busybox:latest"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{cli[0]} image inspect busybox:latest: {out.stderr.strip()}")
    return str(json.loads(out.stdout)[0]["Id"])


def remove_all(cli: Sequence[str]) -> None:
    ids = subprocess.run([*cli, "ps", "-aq"], capture_output=True, text=True, check=False).stdout.split()
    for start in range(0, len(ids), 50):
        subprocess.run([*cli, "rm", "-f", *ids[start : start + 50]], capture_output=True, check=False)
