"""Network benchmarks: what a network mode adds to `run --rm`, and 50 containers joining one user-defined network
(each resolving the others by name), side by side with docker when docker.io is installed.

`python bench/network_bench.py startup [--iterations N]`: `run --rm busybox true` with `--network none`, the
default bridge and a user-defined network, in-process and through a private dockyardd, interleaved round by round.
`python bench/network_bench.py fifty [--containers 50]`: `run -d` sleeping busybox containers on one network, then
one container resolves every name; dockyard in-process against a private dockerd. Everything runs on private data
roots; dockerd is always stopped and its chains, rules and bridge removed (peers.IptablesGuard); dockyard's own
networks of the private root are purged at the end.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers
from common import BENCH_TMP, Timing, time_command, write_results

NET = "dyb-net"
SUBNET = "10.252.0.0/22"


def _ok(argv: Sequence[str], timeout: float = 120) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def _purge_dockyard(data_root: Path) -> None:
    from dockyard.engine.networks import ContainerNetworks
    from dockyard.paths import Paths

    if (data_root / "network").is_dir():
        ContainerNetworks(Paths.from_env(str(data_root)), lambda ref: None).manager.purge()  # type: ignore[arg-type,return-value]


def startup(root: Path, iterations: int) -> dict[str, Timing]:
    cli = [peers.DOCKYARD, "--data-root", str(root / "dockyard")]
    _ok([*cli, "image", "build-busybox"])
    _ok([*cli, "network", "create", "--subnet", SUBNET, NET])
    daemon = peers.Dockyardd(root / "dockyardd")
    _ok([peers.DOCKYARD, "--data-root", str(daemon.root / "data"), "image", "build-busybox"])
    daemon.start()
    dcli = [peers.DOCKYARD, "-H", f"unix://{daemon.sock}"]
    try:
        _ok([*dcli, "network", "create", "--subnet", "10.252.4.0/22", NET])
        cases = {
            f"{where} {mode}": [*base, "run", "--rm", *flags, "busybox", "true"]
            for where, base in (("in-process", cli), ("dockyardd", dcli))
            for mode, flags in (("none", ["--network", "none"]), ("bridge", []), ("user", ["--network", NET]))
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        failures = dict.fromkeys(cases, 0)
        for argv in cases.values():  # warm-up: the bridges and chains exist before timing
            time_command(argv)
        for _ in range(iterations):
            for name, argv in cases.items():
                ms, code, _err = time_command(argv)
                samples[name].append(ms) if code == 0 else failures.__setitem__(name, failures[name] + 1)
        _ok([*dcli, "network", "rm", NET])
    finally:
        daemon.stop()
        _purge_dockyard(daemon.root / "data")
        _ok([*cli, "network", "rm", NET])
        _purge_dockyard(root / "dockyard")
    return {n: Timing(n, tuple(s), failures[n]) for n, s in samples.items()}


def _fifty_on(cli: Sequence[str], count: int, subnet: str) -> dict[str, Any]:
    _ok([*cli, "network", "create", "--subnet", subnet, NET])
    per: list[float] = []
    start = time.perf_counter()
    for i in range(count):
        ms, code, err = time_command([*cli, "run", "-d", "--name", f"dyb{i}", "--network", NET, "busybox",
                                      "sleep", "3600"])  # fmt: skip
        if code != 0:
            raise RuntimeError(f"run dyb{i}: {err.strip()}")
        per.append(ms)
    total = (time.perf_counter() - start) * 1000
    names = " ".join(f"dyb{i}" for i in range(count))
    script = f"n=0; for c in {names}; do nslookup $c >/dev/null 2>&1 && n=$((n+1)); done; echo $n"
    t0 = time.perf_counter()
    resolved = int(_ok([*cli, "exec", "dyb0", "sh", "-c", script]).strip() or 0)
    lookup = (time.perf_counter() - t0) * 1000
    peers.remove_all(cli)
    _ok([*cli, "network", "rm", NET])
    return {"total_ms": total, "per_container_median_ms": statistics.median(per), "resolved": resolved,
            "count": count, "lookups_ms": lookup}  # fmt: skip


def fifty(root: Path, count: int) -> dict[str, Any]:
    cli = [peers.DOCKYARD, "--data-root", str(root / "dockyard")]
    _ok([*cli, "image", "build-busybox"])
    out: dict[str, Any] = {}
    dockerd = None
    try:
        out["dockyard"] = _fifty_on(cli, count, SUBNET)
        if not peers.ensure_installed(("docker.io",)):
            archive = root / "busybox.tar"
            _ok([*cli, "save", "busybox:latest", "-o", str(archive)])
            dockerd = peers.Dockerd(root / "docker")
            dockerd.start()
            peers.load_archive(dockerd.cli(), archive)
            out["docker"] = _fifty_on(dockerd.cli(), count, "10.252.8.0/22")
    finally:
        if dockerd is not None:
            peers.remove_all(dockerd.cli())
            subprocess.run([*dockerd.cli(), "network", "rm", NET], capture_output=True, check=False)
            dockerd.stop()
        peers.remove_all(cli)
        _purge_dockyard(root / "dockyard")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("scenario", choices=("startup", "fifty"))
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--containers", type=int, default=50)
    opts = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, _f: sys.exit(128 + signum))
    guard = peers.IptablesGuard()
    root = Path(tempfile.mkdtemp(prefix="dyb-net-", dir=BENCH_TMP))
    payload: dict[str, Any] = {"scenario": opts.scenario}
    try:
        if opts.scenario == "startup":
            timings = startup(root, opts.iterations)
            payload["timings"] = {n: t.to_json() for n, t in timings.items()}
            for name, t in timings.items():
                print(f"{name:22} median {t.median:7.1f} ms  min {t.minimum:7.1f}  failures {t.failures}")
        else:
            payload["fifty"] = fifty(root, opts.containers)
            print(json.dumps(payload["fifty"], indent=2))
    finally:
        payload["forward_policy_after"] = guard.restore()
        subprocess.run(["rm", "-rf", str(root)], check=False)
    print(f"results: {write_results('network-' + opts.scenario, payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
