"""The docker CLI against dockyardd and against dockerd, side by side, repeatable: the start-up speed targets.

Starts dockerd (Debian's docker.io, with its own containerd) and dockyardd on private sockets and data roots
(bench/peers.py; both are stopped again, and the iptables changes dockerd makes are undone), loads the same busybox
image into both, then runs every scenario interleaved round by round with the order rotated, one untimed warm-up
round first, a fresh CLI process per command; medians are compared. Scenarios: `docker run --rm busybox true`
(`--network none` and the default bridge), `create` + `start` + `wait`, `run -d` and `stop` of a container that
exits on SIGTERM; `dockyard run --rm` (the dockyard CLI, in-process, through dockyardd, and through its CLI
zygote) against `docker run --rm`, with `--network none` and on the default bridge; `ps -a` with 100 created
containers (also `dockyard ps -a` through dockyardd's CLI zygote: the generated launcher, cli/fastpath.py); and
the RSS/PSS of the per-container process (dockyard's monitor, containerd-shim) of a running `sleep`.
Needs root. Usage:

    .venv/bin/python bench/daemon_bench.py [--iterations 15] [--no-dockerd]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers
from common import BENCH_TMP, Timing, machine_info, markdown_table, write_results
from compare_bench import (
    ERRORS,
    STOPPABLE,
    create_start_wait,
    interleave,
    make_many,
    memory_of_parent,
    plain,
    run_rm,
    timed,
)
from floor_server import FloorServer, record

Case = Any
DAEMON_TARGET = 0.5  # docker CLI → dockyardd ÷ → dockerd
CLI_TARGET = 0.2  # `dockyard run --rm` ÷ `docker run --rm` against dockerd
MANY = 100  # containers present for `ps -a`
CLI_NETWORKS = (("none", ["--network", "none"]), ("bridge", []))  # `dockyard run --rm` against `docker run --rm`


def run_d(cli: list[str]) -> Case:
    def case() -> dict[str, float]:
        t_run, cid = timed([*cli, "run", "-d", "--network", "none", "busybox", *STOPPABLE])
        time.sleep(0.05)  # the container's shell installs its trap
        t_stop, _ = timed([*cli, "stop", cid])
        subprocess.run([*cli, "rm", "-f", cid], capture_output=True, check=False)
        return {"run -d": t_run, "stop": t_stop}

    return case


def suite(clis: dict[str, list[str]], dockyard: dict[str, list[str]], it: int) -> dict[str, Timing]:
    res: dict[str, Timing] = {}
    res |= interleave({f"run --rm (none) {d}": run_rm(c, ["--network", "none"]) for d, c in clis.items()}, it)
    res |= interleave({f"run --rm (bridge) {d}": run_rm(c, []) for d, c in clis.items()}, it)
    res |= interleave({f"create+start+wait {d}": create_start_wait(c) for d, c in clis.items()}, it)
    res |= interleave({f"run -d + stop {d}": run_d(c) for d, c in clis.items()}, it)
    for network, flags in CLI_NETWORKS:  # `none` as every case above; the default bridge: the command as typed
        cli_cases = {f"dockyard run --rm ({network}) {k}": run_rm(c, flags) for k, c in dockyard.items()}
        if "dockerd" in clis:
            cli_cases[f"dockyard run --rm ({network}) docker→dockerd"] = run_rm(clis["dockerd"], flags)
        res |= interleave(cli_cases, it)
    res |= interleave({f"version {d}": plain([*c, "version"]) for d, c in clis.items()}, it)
    made = {d: make_many(c, MANY) for d, c in clis.items()}
    ps_cases = {f"ps -a ({made[d]} containers) {d}": plain([*c, "ps", "-a"]) for d, c in clis.items()}
    if "→dockyardd cli zygote" in dockyard:
        ps_cases[f"dockyard ps -a ({MANY} containers) cli zygote"] = plain([*dockyard["→dockyardd cli zygote"],
                                                                            "ps", "-a"])  # fmt: skip
    floor = start_floor(clis["dockyardd"]) if "dockyardd" in clis else None
    try:
        if floor is not None:  # the docker CLI against a server doing no work: no engine can beat it
            ps_cases[f"ps -a ({MANY} containers) floor"] = plain([peers.DOCKER_CLI, "-H", f"unix://{floor.path}",
                                                                  "ps", "-a"])  # fmt: skip
        res |= interleave(ps_cases, it)
    finally:
        if floor is not None:
            floor.stop()
    return res


def start_floor(dockyardd_cli: list[str]) -> FloorServer:
    """bench/floor_server.py replaying dockyardd's own answers to the docker CLI's `ps -a` calls."""
    sock = dockyardd_cli[dockyardd_cli.index("-H") + 1].removeprefix("unix://")
    routes = {path: record(sock, f"/v1.47{path}{query}")
              for path, query in (("/_ping", ""), ("/version", ""), ("/containers/json", "?all=1"))}  # fmt: skip
    server = FloorServer(Path(sock).with_name("floor.sock"), routes)
    server.start()
    return server


def zygote_launcher(root: Path, cli_socket: str) -> list[str]:
    """The generated `dockyard` launcher, pointed at a private dockyardd's CLI zygote (cli/fastpath.py)."""
    from dockyard.runtime.launcher import write_launcher

    path = root / "dockyard-zygote"
    write_launcher(str(path), program="dockyard")
    text = path.read_text().replace(
        "import sys\n", f"import os, sys\nos.environ['DOCKYARD_CLI_SOCKET'] = {cli_socket!r}\n", 1
    )
    path.write_text(text)
    return [str(path)]


ROWS = (("run --rm (none)", "total"), ("run --rm (bridge)", "total"), ("create+start+wait", "total"),
        ("run -d + stop", "run -d"), ("run -d + stop", "stop"), (f"ps -a ({MANY} containers)", "total"),
        ("version", "total"))  # fmt: skip


def _ms(t: Timing | None) -> str:
    return "n/a" if t is None else (f"{t.median:.1f}" if t.samples_ms else f"failed ({t.failures})")


def _ratio(a: Timing | None, b: Timing | None) -> str:
    if a is None or b is None or not a.samples_ms or not b.samples_ms:
        return "n/a"
    return f"{a.median / b.median:.2f}×"


def report(t: dict[str, Timing], memory: dict[str, Any]) -> str:
    rows = []
    for case, part in ROWS:
        a, b = t.get(f"{case} dockyardd/{part}"), t.get(f"{case} dockerd/{part}")
        label = case if part == "total" else f"{case}: {part}"
        rows.append([label, _ms(a), _ms(b), _ratio(a, b), "" if case == "version" else f"≤ {DAEMON_TARGET}×"])
    floor, docker_ps = (
        t.get(f"ps -a ({MANY} containers) floor/total"),
        t.get(f"ps -a ({MANY} containers) dockerd/total"),
    )
    rows.append([f"ps -a ({MANY} containers): the docker CLI against a server doing no work (floor)", _ms(floor),
                 _ms(docker_ps), _ratio(floor, docker_ps), "the best ratio any engine can reach"])  # fmt: skip
    out = [markdown_table(["docker CLI against", "dockyardd ms", "dockerd ms", "ratio", "target"], rows)]
    rows = []
    for network, _flags in CLI_NETWORKS:
        docker = t.get(f"dockyard run --rm ({network}) docker→dockerd/total")
        for key in ("in-process", "→dockyardd", "→dockyardd cli zygote"):
            mine = t.get(f"dockyard run --rm ({network}) {key}/total")
            rows.append([f"dockyard run --rm ({network}), {key}", _ms(mine), _ms(docker), _ratio(mine, docker),
                         f"≤ {CLI_TARGET}×"])  # fmt: skip
    mine, docker = (
        t.get(f"dockyard ps -a ({MANY} containers) cli zygote/total"),
        t.get(f"ps -a ({MANY} containers) dockerd/total"),
    )
    rows.append([f"dockyard ps -a ({MANY} containers), →dockyardd cli zygote", _ms(mine), _ms(docker),
                 _ratio(mine, docker), ""])  # fmt: skip
    out.append(markdown_table(["dockyard CLI", "ms", "docker run --rm → dockerd ms", "ratio", "target"], rows))
    rows = [[e, str(m.get("process", m.get("error"))), str(m.get("rss_kb", "")), str(m.get("pss_kb", ""))]
            for e, m in memory.items()]  # fmt: skip
    out.append(markdown_table(["daemon", "per-container process", "RSS kB", "PSS kB"], rows))
    out += [f"failed: {case}: {err[-300:]}" for case, err in ERRORS.items()]
    return "\n\n".join(out)


def run(root: Path, opts: argparse.Namespace) -> dict[str, Any]:
    objects: list[Any] = []
    try:
        dockyard = [peers.DOCKYARD, "--data-root", str(root / "dockyardd" / "data")]
        dockyardd = peers.Dockyardd(root / "dockyardd")
        objects.append(dockyardd)
        dockyardd.start()
        clis = {"dockyardd": [peers.DOCKER_CLI, "-H", f"unix://{dockyardd.sock}"]}
        built = subprocess.run(["curl", "-sf", "--unix-socket", str(dockyardd.sock), "-X", "POST",
                                "http://d/_dockyard/images/busybox"], capture_output=True, check=False)  # fmt: skip
        if built.returncode != 0:
            raise SystemExit(f"dockyardd: build busybox: curl exit {built.returncode}")
        archive = root / "busybox.tar"
        subprocess.run([*clis["dockyardd"], "save", "busybox:latest", "-o", str(archive)], capture_output=True,
                       check=True)  # fmt: skip
        if not opts.no_dockerd:
            dockerd = peers.Dockerd(root / "docker")
            objects.append(dockerd)
            dockerd.start()
            peers.load_archive(dockerd.cli(), archive)
            clis["dockerd"] = dockerd.cli()
        for cli in clis.values():  # keeps each default bridge up; the process whose memory is read
            subprocess.run([*cli, "run", "-d", "--name", "bench-keeper", "busybox", "sleep", "100000"],
                           capture_output=True, check=True)  # fmt: skip
        time.sleep(4)  # a monitor re-execs itself slim ≈ 2 s after its container started
        memory = {d: memory_of_parent(c, "bench-keeper") for d, c in clis.items()}
        mine = {"in-process": dockyard, "→dockyardd": [peers.DOCKYARD, "-H", f"unix://{dockyardd.sock}"]}
        from dockyard.daemon.cli_zygote import cli_socket_for

        cli_socket = cli_socket_for(str(dockyardd.sock))
        if Path(cli_socket).exists():
            mine["→dockyardd cli zygote"] = zygote_launcher(root, cli_socket)
        timings = suite(clis, mine, opts.iterations)
        for cli in clis.values():
            peers.remove_all(cli)
    finally:
        for obj in reversed(objects):
            obj.stop()
    return {"timings": timings, "memory": memory}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--no-dockerd", action="store_true", help="measure dockyardd alone")
    opts = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)  # so the finally blocks stop dockerd and dockyardd
    if not opts.no_dockerd and peers.ensure_installed(("docker.io",)):
        raise SystemExit("docker.io is not installed and could not be installed: use --no-dockerd")
    guard = peers.IptablesGuard()
    root = Path(tempfile.mkdtemp(prefix="dockyard-daemon-bench-", dir=BENCH_TMP))
    load = Path("/proc/loadavg").read_text().split()[:3]
    try:
        payload = run(root, opts)
    finally:
        policy = guard.restore()
        subprocess.run(["rm", "-rf", str(root)], check=False)
    print(report(payload["timings"], payload["memory"]))
    print(f"\nload average before: {' '.join(load)}; FORWARD policy after: {policy}")
    result = {
        "machine": machine_info(),
        "iterations": opts.iterations,
        "load_before": load,
        "memory": payload["memory"],
        "timings": {k: t.to_json() for k, t in payload["timings"].items()},
        "errors": ERRORS,
    }
    print(f"results: {write_results('daemon', json.loads(json.dumps(result)))}")
    return 0


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
