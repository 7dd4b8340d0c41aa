"""Side-by-side start-up benchmark: `dockyard run --rm busybox true` against docker and podman when installed.

Every engine runs the same busybox rootfs (imported into docker/podman from dockyard's image store). Prints a
table of median / p90 / min wall times and writes bench/results/<timestamp>.json. Engines that are not installed
or whose daemon is not running are reported as such, never guessed. Usage:

    python bench/run_bench.py [--runs N] [--runtime dockyard-runtime,runc]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

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


def dockyard_rootfs(env: dict[str, str]) -> str:
    out = subprocess.run([str(VENV_BIN / "dockyard"), "image", "build-busybox"], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    root = env.get("DOCKYARD_DATA_ROOT", "/var/lib/dockyard")
    return os.path.join(root, "images", out.removeprefix("sha256:"), "rootfs")


def import_into(tool: str, rootfs: str) -> str | None:
    """Import the busybox rootfs into docker or podman; None (with the reason printed) when that is impossible."""
    if shutil.which(tool) is None:
        print(f"{tool}: not installed")
        return None
    if subprocess.run([tool, "info"], capture_output=True, check=False).returncode != 0:
        print(f"{tool}: installed, but its engine is not running (`{tool} info` fails)")
        return None
    with tempfile.NamedTemporaryFile(suffix=".tar") as tar_file:
        with tarfile.open(tar_file.name, "w") as tar:
            tar.add(rootfs, arcname=".")
        subprocess.run([tool, "import", "--change", 'CMD ["sh"]', tar_file.name, "dockyard-bench/busybox:latest"],
                       capture_output=True, check=True)  # fmt: skip
    return "dockyard-bench/busybox:latest"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--runtime", default="dockyard-runtime,runc", help="comma-separated OCI runtimes for dockyard")
    args = parser.parse_args()
    env = dict(os.environ)
    env.pop("DOCKYARD_HOST", None)
    env.pop("DOCKER_HOST", None)
    rootfs = dockyard_rootfs(env)
    results: dict[str, dict[str, float] | str] = {}
    for runtime in args.runtime.split(","):
        name = f"dockyard run --rm busybox true (runtime {runtime})"
        binary = str(VENV_BIN / runtime) if runtime == "dockyard-runtime" else runtime
        try:
            results[name] = measure([str(VENV_BIN / "dockyard"), "run", "--rm", "busybox", "true"], args.runs,
                                    {**env, "DOCKYARD_RUNTIME": binary})  # fmt: skip
        except RuntimeError as err:
            results[name] = f"failed: {err}"
    for tool in ("docker", "podman"):
        image = import_into(tool, rootfs)
        if image is not None:
            results[f"{tool} run --rm busybox true"] = measure([tool, "run", "--rm", image, "true"], args.runs)
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
