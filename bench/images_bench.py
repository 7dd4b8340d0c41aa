"""`dockyard images` with 200 images: the CLI end to end and the store's list() alone, median of N runs.

    .venv/bin/python bench/images_bench.py [--images 200] [--runs 20]

Builds busybox:latest in a private data root, then 199 more images that share its layer and differ by a label
(each a new config and manifest, added and tagged through the store, as `load` would). Times
`dockyard images` (a fresh CLI process each run) and `ImageStore.list()` in-process. Measures only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_TMP, Timing, markdown_table, time_command, write_results

from dockyard.image import open_store
from dockyard.image.busybox import build_busybox
from dockyard.image.mutate import Built, set_config
from dockyard.oci.image_spec import ContainerConfig
from dockyard.paths import Paths


def populate(root: str, count: int) -> None:
    store = open_store(Paths.from_env(root))
    base = build_busybox(store)
    built = Built(manifest=base.manifest, config=base.config)
    for n in range(1, count):
        labels = {"bench.n": str(n)}
        image = set_config(built, container=ContainerConfig(cmd=("sh",), labels=labels))
        store.add(image.manifest_raw, image.config_raw, [f"bench/app{n % 50}:v{n}"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="dockyard-images-bench-", dir=BENCH_TMP)
    try:
        start = time.perf_counter()
        populate(root, args.images)
        populate_s = time.perf_counter() - start
        env_root = ["env", f"DOCKYARD_DATA_ROOT={root}"]
        cli = [*env_root, sys.executable, "-m", "dockyard.cli.main", "images"]
        elapsed, code, err = time_command(cli)  # warm-up, and a sanity check
        if code != 0:
            print(f"dockyard images failed: {err}", file=sys.stderr)
            return 1
        samples = [time_command(cli)[0] for _ in range(args.runs)]
        store = open_store(Paths.from_env(root))
        listed = len(store.list())
        in_process = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            store.list()
            in_process.append((time.perf_counter() - t0) * 1000)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    timings = [Timing("dockyard images (CLI process)", tuple(samples)), Timing("ImageStore.list()", tuple(in_process))]
    rows = [(t.name, f"{t.median:.1f} ms", f"{t.p90:.1f} ms", f"{t.minimum:.1f} ms") for t in timings]
    print(f"{listed} images (populated in {populate_s:.1f} s), {args.runs} runs each:\n")
    print(markdown_table(("command", "median", "p90", "min"), rows))
    per_image = statistics.median(in_process) / max(listed, 1) * 1000
    print(f"\nlist() per image: {per_image:.0f} µs")
    path = write_results("images", {"images": listed, "timings": [t.to_json() for t in timings]})
    print(f"results: {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
