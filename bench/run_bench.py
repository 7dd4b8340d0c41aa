"""Side-by-side start-up benchmark: `dockyard run --rm busybox true` against docker and podman when installed.

Every engine runs the same busybox rootfs (imported into docker/podman from dockyard's image store). Prints a
table of median / p90 / min wall times and writes bench/results/<timestamp>.json. Engines that are not installed
or whose daemon is not running are reported as such, never guessed. Usage:

    python bench/run_bench.py [--runs N] [--runtime dockyard-runtime,runc] [--network none]

It uses the engines already running (`make bench` runs bench/compare_bench.py instead, which starts its own
dockerd and interleaves the engines).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import PODMAN_ULIMITS, load_archive

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}")
    return elapsed


def measure(argv: list[str], runs: int, env: dict[str, str] | None = None) -> dict[str, float]:
    timed(argv, env)  # warm-up: page cache, image store
    samples = sorted(timed(argv, env) for _ in range(runs))
    return {
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))] * 1000, 1),
        "min_ms": round(samples[0] * 1000, 1),
        "runs": runs,
    }


def import_into(tool: str, env: dict[str, str]) -> str | None:
    """Load dockyard's busybox (`dockyard save`) into docker or podman; None (reason printed) when impossible."""
    if shutil.which(tool) is None:
        print(f"{tool}: not installed")
        return None
    if subprocess.run([tool, "info"], capture_output=True, check=False).returncode != 0:
        print(f"{tool}: installed, but its engine is not running (`{tool} info` fails)")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "busybox.tar"
        subprocess.run([str(VENV_BIN / "dockyard"), "save", "busybox:latest", "-o", str(archive)], env=env,
                       capture_output=True, check=True)  # fmt: skip
        return load_archive([tool], archive)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--runtime", default="dockyard-runtime,runc", help="comma-separated OCI runtimes for dockyard")
    parser.add_argument("--network", default=None, help="e.g. none (default: each engine's default bridge)")
    args = parser.parse_args()
    net = ["--network", args.network] if args.network else []
    env = dict(os.environ)
    env.pop("DOCKYARD_HOST", None)
    env.pop("DOCKER_HOST", None)
    subprocess.run([str(VENV_BIN / "dockyard"), "image", "build-busybox"], env=env, capture_output=True, check=True)
    results: dict[str, dict[str, float] | str] = {}
    for runtime in args.runtime.split(","):
        name = f"dockyard run --rm busybox true (runtime {runtime})"
        binary = str(VENV_BIN / runtime) if runtime == "dockyard-runtime" else runtime
        try:
            results[name] = measure([str(VENV_BIN / "dockyard"), "run", "--rm", *net, "busybox", "true"], args.runs,
                                    {**env, "DOCKYARD_RUNTIME": binary})  # fmt: skip
        except RuntimeError as err:
            results[name] = f"failed: {err}"
    for tool in ("docker", "podman"):
        image = import_into(tool, env)
        if image is not None:
            limits = list(PODMAN_ULIMITS) if tool == "podman" else []
            argv = [tool, "run", "--rm", *net, *limits, image, "true"]
            results[f"{tool} run --rm busybox true"] = measure(argv, args.runs)
        else:
            results[f"{tool} run --rm busybox true"] = "not available"
    print(f"\n{'command':<62} {'median':>9} {'p90':>9} {'min':>9}")
    for name, r in results.items():
        if isinstance(r, str):
            print(f"{name:<62} {r}")
        else:
            print(f"{name:<62} {r['median_ms']:>7.1f}ms {r['p90_ms']:>7.1f}ms {r['min_ms']:>7.1f}ms")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out_dir / f"{stamp}.json").write_text(json.dumps({"time": stamp, "kernel": os.uname().release,
                                                      "results": results}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
