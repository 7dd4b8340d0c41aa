"""Shared helpers for the side-by-side benchmarks: timing, statistics, markdown tables, JSON results.

Benchmarks only measure and print; nothing here is a test, and no test asserts a timing.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
# Where benchmarks make their data roots (dockyard's and its peers' alike). Not /tmp: on this machine a file or
# directory made under /tmp costs 0.4-0.75 ms, against 0.04-0.05 ms under /var/tmp or /var/lib on the same ext4
# disk (2026-11-29), which swamped what the engines themselves do. DOCKYARD_BENCH_TMP overrides it.
BENCH_TMP = os.environ.get("DOCKYARD_BENCH_TMP", "/var/tmp")


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall-clock samples of one measured command, in milliseconds."""

    name: str
    samples_ms: tuple[float, ...]
    failures: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else float("nan")

    @property
    def minimum(self) -> float:
        return min(self.samples_ms) if self.samples_ms else float("nan")

    @property
    def p90(self) -> float:
        if len(self.samples_ms) < 2:
            return self.median
        return statistics.quantiles(self.samples_ms, n=10, method="inclusive")[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "median_ms": self.median,
            "min_ms": self.minimum,
            "p90_ms": self.p90,
            "failures": self.failures,
            "samples_ms": list(self.samples_ms),
        }


def time_command(argv: Sequence[str], *, cwd: str | None = None, timeout: float = 60) -> tuple[float, int, str]:
    """Run argv once with stdio captured; (wall milliseconds, exit code, stderr)."""
    start = time.perf_counter_ns()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    return elapsed, proc.returncode, proc.stderr.decode(errors="replace")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    return "\n".join([line, rule, *body])


def machine_info() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write `bench/results/<name>-<UTC timestamp>.json` (the directory is gitignored) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine_info(), **payload}, indent=2) + "\n")
    return path
