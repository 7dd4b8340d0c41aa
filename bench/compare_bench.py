"""Side by side: dockyard against docker (dockerd 20.10) and podman on one busybox rootfs, in one run (`make bench`).

Every engine gets the image dockyard builds (`dockyard save busybox:latest` loaded into dockerd and a private
podman store). Each scenario runs its engines interleaved, iteration by iteration with the order rotated, one
untimed warm-up round first; medians are compared. Also: the docker CLI against dockyardd and dockerd, the
monitor's memory against containerd-shim-runc-v2 and conmon, and `dockyard-runtime run` against `runc run`.
dockerd and dockyardd are started here on temp sockets and stopped at the end (bench/peers.py); nothing is
left running. Needs root. Usage: .venv/bin/python bench/compare_bench.py [--iterations 10] [--containers 100]
"""

from __future__ import annotations

import argparse
import copy
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import peers
from common import BENCH_TMP, Timing, markdown_table, write_results

Case = Callable[[], dict[str, float]]
ERRORS: dict[str, str] = {}  # case -> its first error, for the report
STOPPABLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]


def timed(argv: Sequence[str]) -> tuple[float, str]:
    start = time.perf_counter_ns()
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=20, check=False)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv[-6:])}`: exit {proc.returncode}: {proc.stderr.strip()[-200:]}")
    return elapsed, proc.stdout.strip()


def interleave(cases: dict[str, Case], iterations: int) -> dict[str, Timing]:
    """Run every case once per round, rotating the order; round 0 warms up. Keys: '<case>/<part>'."""
    samples: dict[str, list[float]] = {}
    failures: dict[str, int] = dict.fromkeys(cases, 0)
    errors: dict[str, str] = {}
    names = list(cases)
    for i in range(iterations + 1):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            if failures[name] >= 2 and not any(k.startswith(f"{name}/") for k in samples):
                continue  # failing every time (or hanging up to the timeout): not worth more rounds
            try:
                parts = cases[name]()
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                failures[name] += 1
                errors.setdefault(name, str(err))
                continue
            if i > 0:
                for part, ms in parts.items():
                    samples.setdefault(f"{name}/{part}", []).append(ms)
    for name, first in errors.items():
        print(f"  {name}: {failures[name]} failures, first: {first}", file=sys.stderr)
        ERRORS[name] = first
    out = {key: Timing(key, tuple(v)) for key, v in samples.items()}
    for name in names:
        if not any(k.startswith(f"{name}/") for k in out):
            out[f"{name}/total"] = Timing(f"{name}/total", (), failures[name])
    return out


def run_rm(cli: list[str], extra: Sequence[str]) -> Case:
    return lambda: {"total": timed([*cli, "run", "--rm", *extra, "busybox", "true"])[0]}


def run_d_stop(cli: list[str], extra: Sequence[str]) -> Case:
    def case() -> dict[str, float]:
        t_run, cid = timed([*cli, "run", "-d", "--network", "none", *extra, "busybox", *STOPPABLE])
        t_stop, _ = timed([*cli, "stop", cid])
        subprocess.run([*cli, "rm", "-f", cid], capture_output=True, check=False)
        return {"run -d": t_run, "stop": t_stop, "total": t_run + t_stop}

    return case


def plain(argv: list[str]) -> Case:
    return lambda: {"total": timed(argv)[0]}


def create_start_wait(cli: list[str]) -> Case:
    def case() -> dict[str, float]:
        t_create, cid = timed([*cli, "create", "--network", "none", "busybox", "true"])
        t_start, _ = timed([*cli, "start", cid])
        t_wait, _ = timed([*cli, "wait", cid])
        subprocess.run([*cli, "rm", "-f", cid], capture_output=True, check=False)
        return {"total": t_create + t_start + t_wait}

    return case


def memory_of_parent(cli: list[str], name: str) -> dict[str, Any]:
    """RSS and PSS (kB) of the process that parents the container's init: monitor, shim or conmon."""
    pid = subprocess.run([*cli, "inspect", "--format", "{{.State.Pid}}", name], capture_output=True, text=True)
    try:
        ppid = int(Path(f"/proc/{int(pid.stdout)}/stat").read_text().rsplit(")", 1)[1].split()[1])
        status = Path(f"/proc/{ppid}/status").read_text()
        rollup = Path(f"/proc/{ppid}/smaps_rollup").read_text()
    except (ValueError, OSError) as err:
        return {"error": f"{name}: {err}"}
    field = {ln.split(":")[0]: ln.split()[1] for ln in (status + rollup).splitlines() if ":" in ln and ln.split()[1:]}
    comm = Path(f"/proc/{ppid}/comm").read_text().strip()
    return {"process": comm, "pid": ppid, "rss_kb": int(field["VmRSS"]), "pss_kb": int(field["Pss"])}


def make_many(cli: list[str], count: int) -> int:
    made = 0
    for i in range(count):
        argv = [*cli, "create", "--network", "none", "--name", f"bench-many-{i}", "busybox", "true"]
        made += subprocess.run(argv, capture_output=True, check=False).returncode == 0
    return made


def engine_suite(engines: dict[str, list[str]], extra: dict[str, list[str]], it: int, many: int) -> dict[str, Any]:
    res: dict[str, Timing] = {}
    for net, flags in (("none", ["--network", "none"]), ("bridge", [])):
        cases = {f"run --rm ({net}) {e}": run_rm(cli, [*flags, *extra[e]]) for e, cli in engines.items()}
        res |= interleave(cases, it)
    res |= interleave({f"run -d + stop {e}": run_d_stop(cli, extra[e]) for e, cli in engines.items()}, it)
    res |= interleave(
        {f"exec true {e}": plain([*cli, "exec", "bench-keeper", "true"]) for e, cli in engines.items()}, it
    )
    made = {e: make_many(cli, many) for e, cli in engines.items()}
    res |= interleave({f"ps -a {e}": plain([*cli, "ps", "-a"]) for e, cli in engines.items()}, it)
    res |= interleave({f"ps {e}": plain([*cli, "ps"]) for e, cli in engines.items()}, it)
    for cli in engines.values():
        peers.remove_all(cli)
    return {"timings": res, "made": made}


def daemon_suite(clis: dict[str, list[str]], it: int, many: int) -> dict[str, Any]:
    res: dict[str, Timing] = {}
    res |= interleave({f"docker run --rm (none) {d}": run_rm(c, ["--network", "none"]) for d, c in clis.items()}, it)
    res |= interleave({f"docker run --rm (bridge) {d}": run_rm(c, []) for d, c in clis.items()}, it)
    res |= interleave({f"docker create+start+wait {d}": create_start_wait(c) for d, c in clis.items()}, it)
    res |= interleave({f"docker run -d + stop {d}": run_d_stop(c, []) for d, c in clis.items()}, it)
    made = {d: make_many(c, many) for d, c in clis.items()}
    res |= interleave({f"docker ps -a {d}": plain([*c, "ps", "-a"]) for d, c in clis.items()}, it)
    for c in clis.values():
        peers.remove_all(c)
    return {"timings": res, "made": made}


def runtime_suite(iterations: int) -> dict[str, Timing]:
    import runtime_bench

    from fixtures.bundles import default_config, make_bundle

    with tempfile.TemporaryDirectory(prefix="dockyard-bench-", dir=BENCH_TMP) as tmp:
        config: dict[str, Any] = copy.deepcopy(default_config())
        config["process"]["args"] = ["true"]
        bundle = make_bundle(Path(tmp) / "bundle", config)
        (bundle / "config.json").write_text(json.dumps(config, indent=2))
        run = runtime_bench.bench_run(runtime_bench.runtimes(), bundle, Path(tmp) / "state", iterations)
    return {t.name: t for t in run}


def setup_engines(root: Path, missing: list[str], objects: list[Any]) -> tuple[dict[str, list[str]], Path]:
    dockyard = [peers.DOCKYARD, "--data-root", str(root / "dockyard")]
    subprocess.run([*dockyard, "image", "build-busybox"], capture_output=True, check=True)
    archive = root / "busybox.tar"
    subprocess.run([*dockyard, "save", "busybox:latest", "-o", str(archive)], capture_output=True, check=True)
    engines = {"dockyard": dockyard}
    if "docker.io" not in missing:
        dockerd = peers.Dockerd(root / "docker")
        objects.append(dockerd)
        dockerd.start()
        peers.load_archive(dockerd.cli(), archive)
        engines["docker"] = dockerd.cli()
    if "podman" not in missing:
        peers.load_archive(peers.podman_cli(root / "podman"), archive)
        engines["podman"] = peers.podman_cli(root / "podman")
    return engines, archive


def run_suites(root: Path, opts: argparse.Namespace, missing: list[str]) -> dict[str, Any]:
    objects: list[Any] = []
    out: dict[str, Any] = {"missing": missing, "iterations": opts.iterations}
    try:
        engines, archive = setup_engines(root, missing, objects)
        extra = {e: list(peers.PODMAN_ULIMITS) if e == "podman" else [] for e in engines}
        for e, cli in engines.items():  # keeps each default bridge up; the memory and exec target
            subprocess.run([*cli, "run", "-d", "--name", "bench-keeper", *extra[e], "busybox", "sleep", "100000"],
                           capture_output=True, check=True)  # fmt: skip
        time.sleep(4)  # dockyard's monitor re-execs itself slim ≈ 2 s after the start
        out["memory"] = {e: memory_of_parent(cli, "bench-keeper") for e, cli in engines.items()}
        out["engines"] = engine_suite(engines, extra, opts.iterations, opts.containers)
        if "docker" in engines:
            dockyardd = peers.Dockyardd(root / "dockyardd")
            objects.append(dockyardd)
            dockyardd.start()
            clis = {"dockyardd": [peers.DOCKER_CLI, "-H", f"unix://{dockyardd.sock}"], "dockerd": engines["docker"]}
            try:
                peers.load_archive(clis["dockyardd"], archive)
            except RuntimeError as err:
                out["dockyardd_load"] = str(err)
            for cli in clis.values():  # as above: a private root drops its idle default bridge, docker0 stays
                subprocess.run([*cli, "run", "-d", "--name", "bench-keeper", "busybox", "sleep", "100000"],
                               capture_output=True, check=False)  # fmt: skip
            out["daemons"] = daemon_suite(clis, opts.iterations, opts.containers)
        for cli in engines.values():
            peers.remove_all(cli)
    finally:
        for obj in reversed(objects):
            obj.stop()
    out["runtime"] = runtime_suite(max(opts.iterations, 20))
    return out


def _ms(t: Timing | None) -> str:
    if t is None:
        return "n/a"
    return f"{t.median:.1f}" if t.samples_ms else f"failed ({t.failures})"


def _ratio(a: Timing | None, b: Timing | None) -> str:
    if a is None or b is None or not a.samples_ms or not b.samples_ms:
        return "n/a"
    return f"{a.median / b.median:.2f}×"


TARGETS = {"run --rm (none)": 0.2, "run --rm (bridge)": 0.2}
DAEMON_ROWS = (("docker run --rm (none)", "total"), ("docker run --rm (bridge)", "total"),
               ("docker create+start+wait", "total"), ("docker run -d + stop", "run -d"),
               ("docker run -d + stop", "stop"), ("docker ps -a", "total"))  # fmt: skip


def report(payload: dict[str, Any]) -> str:
    t: dict[str, Timing] = payload.get("engines", {}).get("timings", {})
    rows = []
    for case, part in (("run --rm (none)", "total"), ("run --rm (bridge)", "total"), ("run -d + stop", "run -d"),
                       ("run -d + stop", "stop"), ("run -d + stop", "total"), ("exec true", "total"),
                       ("ps -a", "total"), ("ps", "total")):  # fmt: skip
        dy, do, po = (t.get(f"{case} {e}/{part}") for e in ("dockyard", "docker", "podman"))
        label = case if part == "total" else f"{case}: {part}"
        target = f"≤ {TARGETS[case]}×" if case in TARGETS else ""
        rows.append([label, _ms(dy), _ms(do), _ms(po), _ratio(dy, do), _ratio(dy, po), target])
    lines = [markdown_table(["dockyard CLI vs", "dockyard ms", "docker ms", "podman ms", "÷ docker", "÷ podman",
                             "target"], rows)]  # fmt: skip
    d: dict[str, Timing] = payload.get("daemons", {}).get("timings", {})
    if d:
        rows = []
        for case, part in DAEMON_ROWS:
            a, b = d.get(f"{case} dockyardd/{part}"), d.get(f"{case} dockerd/{part}")
            label = case if part == "total" else f"{case}: {part}"
            rows.append([label, _ms(a), _ms(b), _ratio(a, b), "≤ 0.5×"])
        lines.append(markdown_table(["docker CLI against", "dockyardd ms", "dockerd ms", "ratio", "target"], rows))
    mem = payload.get("memory", {})
    rows = [[e, str(m.get("process", m.get("error"))), str(m.get("rss_kb", "")), str(m.get("pss_kb", ""))]
            for e, m in mem.items()]  # fmt: skip
    lines.append(markdown_table(["engine", "per-container process", "RSS kB", "PSS kB"], rows))
    r: dict[str, Timing] = payload.get("runtime", {})
    rows = [[name, _ms(tm), f"{tm.minimum:.1f}"] for name, tm in r.items()]
    lines.append(markdown_table(["OCI runtime `run` (true)", "median ms", "min ms"], rows))
    lines.append(f"dockyard-runtime ÷ runc: {_ratio(r.get('dockyard-runtime'), r.get('runc'))} (target ≤ 2×)")
    made = {**payload.get("engines", {}).get("made", {}), **payload.get("daemons", {}).get("made", {})}
    lines += [f"failed: {case}: {err[-300:]}" for case, err in payload.get("errors", {}).items()]
    lines.append(f"containers created for ps: {made}; FORWARD policy after: {payload.get('forward_policy_after')}")
    return "\n\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--containers", type=int, default=100)
    opts = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)  # so the finally blocks stop dockerd and dockyardd
    missing = peers.ensure_installed()
    guard = peers.IptablesGuard()
    root = Path(tempfile.mkdtemp(prefix="dockyard-compare-", dir=BENCH_TMP))
    try:
        payload = run_suites(root, opts, missing)
    finally:
        policy = guard.restore()
        subprocess.run(["rm", "-rf", str(root)], check=False)
    payload["forward_policy_after"] = policy
    payload["errors"] = ERRORS
    print(report(payload))
    path = write_results("compare", json.loads(json.dumps(payload, default=_jsonable)))
    print(f"\nresults: {path}")
    return 0


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _jsonable(obj: object) -> object:
    return obj.to_json() if isinstance(obj, Timing) else str(obj)


if __name__ == "__main__":
    sys.exit(main())
