"""Benchmark: `dockyard-runtime run` against `runc run` on the same busybox bundle running `true`.

Interleaves the two runtimes iteration by iteration (so drift in machine load hits both alike), prints a
markdown table with medians and the ratio, and the import-time cost of the runtime's entry point. Needs root.
Usage: .venv/bin/python bench/runtime_bench.py [--iterations 30]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import BENCH_TMP, REPO, Timing, markdown_table, time_command, write_results

from fixtures.bundles import default_config, make_bundle

TARGET_RATIO = 2.0
ENTRY_MODULE = "dockyard.runtime.cli"


def runtimes() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    runc = shutil.which("runc")
    if runc:
        found["runc"] = [runc]
    script = Path(sys.executable).with_name("dockyard-runtime")
    if (REPO / "src" / "dockyard" / "runtime" / "cli.py").is_file():
        found["dockyard-runtime"] = [str(script)] if script.is_file() else [sys.executable, "-m", ENTRY_MODULE]
    return found


def bench_run(names: dict[str, list[str]], bundle: Path, state: Path, iterations: int) -> list[Timing]:
    samples: dict[str, list[float]] = {name: [] for name in names}
    failures = dict.fromkeys(names, 0)
    errors: dict[str, str] = {}
    for i in range(iterations + 1):
        # Alternate which runtime goes first, so neither always runs on a warmer cache.
        order = list(names) if i % 2 == 0 else list(reversed(names))
        for name in order:
            cid = f"bench-{name.split('-')[0]}-{uuid.uuid4().hex[:8]}"
            root = ["--root", str(state / name)]
            ms, code, err = time_command([*names[name], *root, "run", "--bundle", str(bundle), cid], cwd=str(bundle))
            if code != 0:
                failures[name] += 1
                errors[name] = err.strip()[-500:]
                subprocess.run([*names[name], *root, "delete", "--force", cid], capture_output=True, check=False)
            elif i > 0:  # iteration 0 warms the page cache and is not counted
                samples[name].append(ms)
    for name, err in errors.items():
        print(f"warning: {name} failed {failures[name]} time(s); last error: {err}", file=sys.stderr)
    return [Timing(name, tuple(samples[name]), failures[name]) for name in names]


def bench_startup(iterations: int) -> list[Timing]:
    """Interpreter start alone vs importing the entry point (what every runtime invocation pays)."""
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        f"python -c 'import {ENTRY_MODULE}'": [sys.executable, "-c", f"import {ENTRY_MODULE}"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(iterations):
        for name, argv in commands.items():
            ms, code, _ = time_command(argv)
            if code == 0:
                samples[name].append(ms)
    return [Timing(name, tuple(s)) for name, s in samples.items()]


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _parse_importtime(stderr: str) -> list[dict[str, Any]]:
    rows = []
    for line in stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            depth = (len(m.group(3)) - 1) // 2
            rows.append(
                {"module": m.group(4), "self_us": int(m.group(1)), "cumulative_us": int(m.group(2)), "depth": depth}
            )
    return rows


def _summarise(rows: list[dict[str, Any]], top: int) -> dict[str, Any]:
    return {
        "top_level_cumulative_us": sum(r["cumulative_us"] for r in rows if r["depth"] == 0),
        "dockyard_self_us": sum(r["self_us"] for r in rows if r["module"].startswith("dockyard")),
        "modules": len(rows),
        "top_self": sorted(rows, key=lambda r: r["self_us"], reverse=True)[:top],
    }


def import_profile(top: int = 12) -> dict[str, Any]:
    """`python -X importtime -c 'import <entry>'`: what importing the entry point costs, costliest modules first."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {ENTRY_MODULE}"], capture_output=True, text=True
    )
    return {"ok": proc.returncode == 0, "error": proc.stderr.strip()[-300:] if proc.returncode else ""} | _summarise(
        _parse_importtime(proc.stderr), top
    )


def run_path_import_profile(bundle: Path, state: Path, top: int = 12) -> dict[str, Any]:
    """`python -X importtime -m <entry> run …` once: every import the `run` path really makes (lazy ones too)."""
    cid = f"bench-imports-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-X", "importtime", "-m", ENTRY_MODULE, "--root", str(state), "run", "--bundle"]
    proc = subprocess.run([*argv, str(bundle), cid], capture_output=True, text=True, cwd=bundle, check=False)
    return {"ok": proc.returncode == 0, "error": proc.stderr.strip()[-300:] if proc.returncode else ""} | _summarise(
        _parse_importtime(proc.stderr), top
    )


def _fmt(ms: float) -> str:
    return "n/a" if ms != ms else f"{ms:.1f}"  # NaN: no successful sample


def report(
    run: list[Timing],
    startup: list[Timing],
    imports: dict[str, Any],
    run_imports: dict[str, Any] | None,
    iterations: int,
) -> dict[str, Any]:
    by_name = {t.name: t for t in run}
    ratio = None
    if "runc" in by_name and "dockyard-runtime" in by_name and by_name["runc"].samples_ms:
        ratio = by_name["dockyard-runtime"].median / by_name["runc"].median
    print(f"## `run` of a busybox bundle running `true` ({iterations} iterations each, interleaved)\n")
    rows = [
        [t.name, _fmt(t.median), _fmt(t.minimum), _fmt(t.p90), str(len(t.samples_ms)), str(t.failures)] for t in run
    ]
    print(markdown_table(["runtime", "median ms", "min ms", "p90 ms", "runs", "failures"], rows))
    if ratio is not None:
        verdict = "within" if ratio <= TARGET_RATIO else "OVER"
        print(f"\nratio dockyard-runtime / runc (medians): **{ratio:.2f}×** ({verdict} the {TARGET_RATIO:.0f}× target)")
    print("\n## Start-up cost of the entry point\n")
    print(
        markdown_table(["command", "median ms", "min ms"], [[t.name, _fmt(t.median), _fmt(t.minimum)] for t in startup])
    )
    _print_imports(f"`python -X importtime -c 'import {ENTRY_MODULE}'`", imports)
    if run_imports is not None:
        _print_imports(f"`python -X importtime -m {ENTRY_MODULE} run …` (the whole run path)", run_imports)
    return {
        "iterations": iterations,
        "run": [t.to_json() for t in run],
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "startup": [t.to_json() for t in startup],
        "imports": imports,
        "run_path_imports": run_imports,
    }


def _print_imports(title: str, profile: dict[str, Any]) -> None:
    if not profile["ok"]:
        print(f"\n{title} failed: {profile['error']}")
        return
    print(
        f"\n{title}: {profile['top_level_cumulative_us'] / 1000:.1f} ms of imports, "
        f"{profile['dockyard_self_us'] / 1000:.1f} ms of it in dockyard's own modules; {profile['modules']} modules\n"
    )
    rows = [
        [r["module"], f"{r['self_us'] / 1000:.2f}", f"{r['cumulative_us'] / 1000:.2f}"] for r in profile["top_self"]
    ]
    print(markdown_table(["module", "self ms", "cumulative ms"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    opts = parser.parse_args()
    if os.geteuid() != 0:
        print("runtime_bench: needs root (it creates namespaces and cgroups)", file=sys.stderr)
        return 2
    names = runtimes()
    if not names:
        print("runtime_bench: neither runc nor dockyard-runtime is available", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-", dir=BENCH_TMP) as tmp:
        config: dict[str, Any] = copy.deepcopy(default_config())
        config["process"]["args"] = ["true"]
        bundle = make_bundle(Path(tmp) / "bundle", config)
        (bundle / "config.json").write_text(json.dumps(config, indent=2))
        run = bench_run(names, bundle, Path(tmp) / "state", opts.iterations)
        run_imports = None
        if "dockyard-runtime" in names:
            run_imports = run_path_import_profile(bundle, Path(tmp) / "state-imports")
    startup = bench_startup(max(5, opts.iterations // 2))
    payload = report(run, startup, import_profile(), run_imports, opts.iterations)
    path = write_results("runtime", payload)
    print(f"\nresults: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
