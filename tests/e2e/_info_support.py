"""Shared by test_info_e2e and test_exec_cp_e2e: the CLI in a subprocess on a private data root with busybox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from privileged_gate import require

RUNTIME = os.environ.get("DOCKYARD_E2E_RUNTIME", "dockyard-runtime")
if RUNTIME == "dockyard-runtime":
    RUNTIME = os.path.join(os.path.dirname(sys.executable), RUNTIME)


@dataclass
class Result:
    code: int
    out: str
    err: str


class Dockyard:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if k not in ("DOCKYARD_HOST", "DOCKER_HOST")}
        self.env.update(DOCKYARD_DATA_ROOT=str(root), DOCKYARD_RUNTIME=RUNTIME, TZ="UTC")
        self.env.pop("DOCKYARD_EXEC_ROOT", None)

    def __call__(self, *args: str, timeout: float = 30, stdin: str | bytes | None = None) -> Result:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = subprocess.run(
            [sys.executable, "-m", "dockyard.cli.main", *args], env=self.env, capture_output=True, input=data,
            timeout=timeout, check=False,
        )  # fmt: skip
        return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    def raw(self, *args: str, stdin: bytes | None = None, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], env=self.env, input=stdin,
                              capture_output=True, timeout=timeout, check=False)  # fmt: skip

    def leftovers(self) -> list[str]:
        found = [f"container dir {p.name}" for p in (self.root / "containers").glob("*") if p.is_dir()]
        found += [f"bundle {p.name}" for p in (self.root / "run/containers").glob("*")]
        found += [f"runtime state {p.name}" for p in (self.root / "run/runtime").glob("*")]
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            found += [f"mount {line.split()[4]}" for line in f if str(self.root) in line.split()[4]]
        return found

    def cleanup(self) -> None:
        for cid in self("ps", "-aq", "--no-trunc").out.split():
            self("rm", "-f", cid)


def make_root(tmp: Path) -> Path:
    require(os.path.isfile("/bin/busybox"), "busybox-static is not installed")
    require(shutil.which(RUNTIME) is not None, f"the runtime `{RUNTIME}` is not installed")
    result = Dockyard(tmp)("image", "build-busybox", timeout=120)
    assert result.code == 0, result.err
    return tmp


def wait_for(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()
