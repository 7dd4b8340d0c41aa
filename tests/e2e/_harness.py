"""The one e2e harness: the dockyard CLI in a subprocess on a private data root, its output, and the census of
what a test left behind (container dirs, bundles, runtime state, mounts, cgroups, processes); no test logic."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from privileged_gate import require

RUNTIME = os.environ.get("DOCKYARD_E2E_RUNTIME", "dockyard-runtime")
if RUNTIME == "dockyard-runtime":  # the runtime of this checkout, not whichever one /usr/local/bin links to
    RUNTIME = os.path.join(os.path.dirname(sys.executable), RUNTIME)
CGROUP_ROOTS = (Path("/sys/fs/cgroup/memory/dockyard"), Path("/sys/fs/cgroup/pids/dockyard"))
CLI = [sys.executable, "-m", "dockyard.cli.main"]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def _text(data: bytes, universal: bool) -> str:
    text = data.decode(errors="replace")
    # what subprocess's text mode does; tests that look at a tty's \r\n ask for raw newlines
    return text.replace("\r\n", "\n").replace("\r", "\n") if universal else text


class Dockyard:
    """The CLI on `root`, with a clean environment (no DOCKYARD_HOST/DOCKER_HOST unless `host` is given).

    `universal_newlines` folds \\r\\n and \\r to \\n in `out`/`err`, as subprocess's text mode does."""

    def __init__(self, root: Path, host: str | None = None, *, universal_newlines: bool = True) -> None:
        self.root = root
        self.universal_newlines = universal_newlines
        self.env = {k: v for k, v in os.environ.items() if k not in ("DOCKYARD_HOST", "DOCKER_HOST")}
        self.env.update(DOCKYARD_DATA_ROOT=str(root), DOCKYARD_RUNTIME=RUNTIME, TZ="UTC")
        self.env.pop("DOCKYARD_EXEC_ROOT", None)
        if host:
            self.env["DOCKYARD_HOST"] = host

    def argv(self, *args: str) -> list[str]:
        return [*CLI, *args]

    def __call__(self, *args: str, timeout: float = 60, stdin: str | bytes | None = None) -> Result:
        proc = self.raw(*args, stdin=stdin.encode() if isinstance(stdin, str) else stdin, timeout=timeout)
        u = self.universal_newlines
        return Result(proc.returncode, _text(proc.stdout, u), _text(proc.stderr, u))

    def raw(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.argv(*args), env=self.env, input=stdin, capture_output=True, timeout=timeout,
                              check=False)  # fmt: skip

    def ok(self, *args: str, stdin: str | bytes | None = None) -> str:
        result = self(*args, stdin=stdin)
        assert result.code == 0, (args, result)
        return result.out

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip

    def inspect(self, name: str, template: str) -> str:
        return self("inspect", "-f", template, name).out.strip()

    def volumes(self) -> list[str]:
        return self.ok("volume", "ls", "-q").split()

    def leftovers(self, *, processes: bool = True) -> list[str]:
        """What the root still holds once the monitors have finished: an auto-removed container is reported gone
        before its monitor unmounts and deletes what nothing can see any more (engine/monitor_teardown.py)."""
        bundles = self.root / "run/containers"
        wait_for(lambda: not bundles.is_dir() or not any(bundles.iterdir()), timeout=10)
        found = [f"container dir {p.name}" for p in (self.root / "containers").glob("*") if p.is_dir()]
        found += [f"bundle {p.name}" for p in (self.root / "run/containers").glob("*")]
        found += [f"runtime state {p.name}" for p in (self.root / "run/runtime").glob("*")]
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            found += [f"mount {line.split()[4]}" for line in f if str(self.root) in line.split()[4]]
        return found + ([f"process {pid}" for pid in holders(self.root)] if processes else [])

    def cleanup(self, *, volumes: bool = False) -> None:
        for cid in self("ps", "-aq", "--no-trunc").out.split():
            self("rm", "-f", *(["-v"] if volumes else []), cid)


def make_root(tmp: Path) -> Path:
    """`tmp` as a data root with busybox built in, or the test fails/skips on a host without busybox or runtime."""
    require(os.path.isfile("/bin/busybox"), "busybox-static is not installed")
    require(os.path.exists(RUNTIME), f"the runtime `{RUNTIME}` is not installed")
    result = Dockyard(tmp)("image", "build-busybox", timeout=120)
    assert result.code == 0, result.err
    return tmp


def run_rm(d: Dockyard, *args: str) -> str:
    """`run --rm ARGS`'s stdout; the test fails (with the CLI's stderr) unless it exits 0."""
    result = d("run", "--rm", *args)
    assert result.code == 0, result.err
    return result.out


def container_cgroups() -> set[str]:
    out = set()
    for root in CGROUP_ROOTS:
        if root.is_dir():
            out |= {f"{root}/{p.name}" for p in root.iterdir() if re.fullmatch(r"[0-9a-f]{64}", p.name)}
    return out


def checked(image_root: Path, *, cgroups: bool = False, processes: bool = True) -> Iterator[Dockyard]:
    """A test's Dockyard on `image_root` (a fixture's body: `yield from checked(...)`); afterwards every container
    is removed and nothing may be left: container dirs, bundles, runtime state, mounts, with `processes` the
    processes holding the root and, with `cgroups`, the cgroups of the containers the test had."""
    dockyard = Dockyard(image_root)
    yield dockyard
    ours = set(dockyard("ps", "-aq", "--no-trunc").out.split()) if cgroups else set()
    dockyard.cleanup()
    assert {c for c in container_cgroups() if c.rsplit("/", 1)[1] in ours} == set(), "container cgroups left behind"
    assert dockyard.leftovers(processes=processes) == []


def holders(root: Path) -> list[int]:
    """Processes (monitors, containers) with an open fd or their cwd under `root`."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            links = [os.readlink(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")]
            links.append(os.readlink(f"/proc/{entry}/cwd"))
        except OSError:
            continue
        if any(link.startswith(str(root)) for link in links):
            found.append(int(entry))
    return found


def wait_for(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def shm_mounts(root: Path) -> list[str]:
    """The /dev/shm tmpfs mount points dockyard made under a data root (a shareable IPC donor's)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p.startswith(str(root)) and p.endswith("/shm")]
