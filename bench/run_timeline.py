"""Where the time of one `dockyard run --rm busybox true` goes: medians of each step's timestamp, across processes.

Starts a private dockyardd (bench/peers.py) with DOCKYARD_TRACE set, so that every process of a start (the thin
launcher, the CLI zygote's worker, dockyardd, its monitor zygote, the monitor, the runtime) appends its marks
(src/dockyard/tracing.py) to one file; runs the command through the daemon's CLI zygote (the launcher users get
with dockyardd up) N times after warm-ups, and prints, per mark, the median time since the launcher started and
the median step from the mark before. Marks seen in fewer than half the runs are left out. Needs root. Usage:

    .venv/bin/python bench/run_timeline.py [--runs 20] [--network none|bridge]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers
from common import BENCH_TMP, machine_info, markdown_table, write_results
from daemon_bench import zygote_launcher

RUN_MARKER = "=== run"


def split_runs(text: str) -> list[list[tuple[int, str]]]:
    """The trace file's lines grouped by run (a RUN_MARKER line opens each): (monotonic ns, label) pairs."""
    runs: list[list[tuple[int, str]]] = []
    for line in text.splitlines():
        if line == RUN_MARKER:
            runs.append([])
            continue
        fields = line.split(" ", 2)
        if runs and len(fields) == 3 and fields[0].isdigit():
            runs[-1].append((int(fields[0]), fields[2]))
    return runs


def timeline(runs: list[list[tuple[int, str]]]) -> list[tuple[str, float, int]]:
    """(label, median ms since the run's first mark, runs that had it), ordered by that median. A label seen twice
    in a run (the runtime forks for create, start and delete) is numbered: `runtime: forked #2`."""
    offsets: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        if not run:
            continue
        run.sort()
        first = run[0][0]
        seen: Counter[str] = Counter()
        for t, label in run:
            seen[label] += 1
            key = label if seen[label] == 1 else f"{label} #{seen[label]}"
            offsets[key].append((t - first) / 1e6)
    wanted = max(1, len(runs) // 2)
    rows = [(k, statistics.median(v), len(v)) for k, v in offsets.items() if len(v) >= wanted]
    return sorted(rows, key=lambda row: row[1])


def measure(root: Path, runs: int, network: str) -> tuple[list[tuple[str, float, int]], list[float]]:
    trace = root / "trace.log"
    os.environ["DOCKYARD_TRACE"] = str(trace)
    daemon = peers.Dockyardd(root / "dockyardd")
    try:
        daemon.start()
        built = subprocess.run(["curl", "-sf", "--unix-socket", str(daemon.sock), "-X", "POST",
                                "http://d/_dockyard/images/busybox"], capture_output=True, check=False)  # fmt: skip
        if built.returncode != 0:
            raise SystemExit(f"dockyardd: build busybox: curl exit {built.returncode}")
        from dockyard.daemon.cli_zygote import cli_socket_for

        launcher = zygote_launcher(root, cli_socket_for(str(daemon.sock)))
        argv = [*launcher, "run", "--rm", "--network", network, "busybox", "true"]
        for _ in range(3):  # warm-ups: page cache, seccomp program cache, the daemon's first requests
            subprocess.run(argv, capture_output=True, check=True)
        trace.write_bytes(b"")
        walls = []
        for _ in range(runs):
            with trace.open("a") as f:
                f.write(RUN_MARKER + "\n")
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, check=False)
            walls.append((time.perf_counter() - started) * 1000)
            if done.returncode != 0:
                raise SystemExit(f"run failed ({done.returncode}): {done.stderr.decode(errors='replace')[-300:]}")
        return timeline(split_runs(trace.read_text())), walls
    finally:
        os.environ.pop("DOCKYARD_TRACE", None)
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--network", default="none", choices=("none", "bridge"))
    opts = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dockyard-timeline-", dir=BENCH_TMP))
    load = Path("/proc/loadavg").read_text().split()[:3]
    try:
        rows, totals = measure(root, opts.runs, opts.network)
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
    table, before = [], 0.0
    for label, at, seen in rows:
        table.append([label, f"{at:.1f}", f"+{at - before:.1f}", str(seen)])
        before = at
    print(markdown_table(["mark", "ms since the launcher started", "step ms", "runs"], table))
    print(
        f"\nwall time of the whole command (the launcher's interpreter start-up comes before its first mark), "
        f"median of {len(totals)} runs: {statistics.median(totals):.1f} ms; load average before: {' '.join(load)}"
    )
    payload: dict[str, Any] = {"machine": machine_info(), "runs": opts.runs, "network": opts.network,
                               "load_before": load, "timeline": rows, "wall_ms": totals}  # fmt: skip
    print(f"results: {write_results('timeline', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
