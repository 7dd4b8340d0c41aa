"""The docker CLI against dockyardd (and dockerd when it is installed and running): run --rm, run -d, ps with 100.

Starts its own dockyardd on a temp socket and data root, builds busybox in it, and measures the real docker CLI
(/usr/local/bin/docker) with DOCKER_HOST pointed at it. A command that fails is counted as a failure with its
first error, never timed. dockerd is measured only when /var/run/docker.sock answers. Usage:

    python bench/daemon_bench.py [--runs N] [--containers 100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Timing, machine_info, markdown_table

DOCKER = os.environ.get("DOCKYARD_BENCH_DOCKER", "/usr/local/bin/docker")
DOCKERD_SOCK = "/var/run/docker.sock"


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def api(sock: str, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    conn = _UnixHTTP(sock)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    resp = conn.getresponse()
    out = resp.read()
    conn.close()
    return resp.status, out


def measure(name: str, sock: str, args: list[str], runs: int) -> tuple[Timing, str]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CLI_HINTS": "false"}
    samples: list[float] = []
    failures = 0
    first_error = ""
    for _ in range(runs + 1):  # the first run warms caches and is not kept
        start = time.perf_counter_ns()
        proc = subprocess.run([DOCKER, *args], env=env, capture_output=True, timeout=120, check=False)
        elapsed = (time.perf_counter_ns() - start) / 1e6
        if proc.returncode != 0:
            failures += 1
            first_error = first_error or proc.stderr.decode(errors="replace").strip().splitlines()[-1:][0]
        elif _ > 0:
            samples.append(elapsed)
    return Timing(name=name, samples_ms=tuple(samples), failures=failures), first_error


def scenarios(sock: str, runs: int, containers: int) -> list[tuple[Timing, str]]:
    out = [
        measure("docker version", sock, ["version"], runs),
        measure("docker run --rm busybox true", sock, ["run", "--rm", "busybox", "true"], runs),
        measure("docker run -d busybox true", sock, ["run", "-d", "busybox", "true"], runs),
    ]
    made = 0
    for i in range(containers):
        status, _ = api(
            sock, "POST", f"/containers/create?name=bench-{os.getpid()}-{i}", {"Image": "busybox", "Cmd": ["true"]}
        )
        made += status == 201
    out.append(measure(f"docker ps -a ({made} containers)", sock, ["ps", "-a"], runs))
    out.append(measure("docker ps", sock, ["ps"], runs))
    return out


def cleanup(sock: str) -> None:
    status, body = api(sock, "GET", "/containers/json?all=1")
    if status == 200:
        for c in json.loads(body):
            api(sock, "DELETE", f"/containers/{c['Id']}?force=1")


def run_dockyardd(runs: int, containers: int) -> list[tuple[Timing, str]]:
    root = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    sock = str(root / "d.sock")
    runtime = os.environ.get("DOCKYARD_RUNTIME") or str(Path(sys.executable).parent / "dockyard-runtime")
    log = open(root / "dockyardd.log", "wb")  # noqa: SIM115 — closed in finally
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.daemon.main", "-H", f"unix://{sock}", "--data-root", str(root / "data")],
        env={**os.environ, "DOCKYARD_RUNTIME": runtime},
        stdout=log,
        stderr=log,
    )
    try:
        for _ in range(3000):
            if os.path.exists(sock) or proc.poll() is not None:
                break
            time.sleep(0.01)
        if not os.path.exists(sock):
            raise SystemExit(f"dockyardd did not start: {(root / 'dockyardd.log').read_text()}")
        status, body = api(sock, "POST", "/_dockyard/images/busybox")
        if status not in (200, 201):
            raise SystemExit(f"build busybox: {status} {body!r}")
        return scenarios(sock, runs, containers)
    finally:
        cleanup(sock)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def dockerd_status() -> str | None:
    """None when dockerd can be measured, else why not."""
    if not shutil.which("dockerd"):
        return "dockerd is not installed (Debian's docker.io)"
    try:
        status, _ = api(DOCKERD_SOCK, "GET", "/_ping")
    except OSError:
        return f"dockerd is installed but does not answer on {DOCKERD_SOCK}"
    return None if status == 200 else f"dockerd answered /_ping with {status}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--containers", type=int, default=100)
    args = parser.parse_args()
    results = {"dockyardd": run_dockyardd(args.runs, args.containers)}
    why_not = dockerd_status()
    if why_not is None:
        results["dockerd"] = scenarios(DOCKERD_SOCK, args.runs, args.containers)
        cleanup(DOCKERD_SOCK)
    rows = [
        [engine, t.name, f"{t.median:.1f}", f"{t.p90:.1f}", f"{t.minimum:.1f}", str(t.failures), err[:60]]
        for engine, timings in results.items()
        for t, err in timings
    ]
    print(markdown_table(["engine", "command", "median ms", "p90 ms", "min ms", "failures", "first error"], rows))
    if why_not:
        print(f"\ndockerd: not measured: {why_not}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"daemon-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    payload = {
        "machine": machine_info(),
        "dockerd": why_not or "measured",
        "results": {e: [{**t.to_json(), "first_error": err} for t, err in ts] for e, ts in results.items()},
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
