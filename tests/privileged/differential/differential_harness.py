"""Runs one bundle under one OCI runtime (runc or dockyard-runtime) with a private --root and cleans up after.

Knows only the runc command line both runtimes share; what runs inside is the variant's business.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RUN_TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class Runtime:
    name: str
    argv: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunResult:
    container_id: str
    exit_code: int
    stdout: str
    stderr: str


def runc() -> Runtime | None:
    path = shutil.which("runc")
    return Runtime("runc", (path,)) if path else None


def dockyard_runtime() -> Runtime | None:
    """The console script when installed, else the module; None while the runtime's CLI does not exist."""
    if not (REPO / "src" / "dockyard" / "runtime" / "cli.py").is_file():
        return None
    script = Path(sys.executable).with_name("dockyard-runtime")
    if script.is_file():
        return Runtime("dockyard-runtime", (str(script),))
    return Runtime("dockyard-runtime", (sys.executable, "-m", "dockyard.runtime.cli"))


def run_bundle(runtime: Runtime, bundle: Path, state_root: Path, label: str) -> RunResult:
    """`runtime --root state_root run --bundle bundle <unique id>`; stdio piped, stdin from /dev/null."""
    container_id = f"diff-{label}-{runtime.name.split('-')[0]}-{uuid.uuid4().hex[:8]}"
    base = [*runtime.argv, "--root", str(state_root)]
    proc = subprocess.Popen(
        [*base, "run", "--bundle", str(bundle), container_id],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        cwd=bundle,
    )
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += b"\n[harness: killed after timeout]"
    finally:
        # `run` deletes the container when it exits; a crash or a timeout may leave one behind.
        subprocess.run(
            [*base, "delete", "--force", container_id], capture_output=True, check=False, timeout=RUN_TIMEOUT
        )
    return RunResult(container_id, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def leftover_cgroups(container_id: str) -> list[str]:
    """Cgroup directories still named after the container (the runtime should remove them on delete)."""
    found = []
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        try:
            for path in hierarchy.rglob(container_id):
                if path.is_dir():
                    found.append(str(path))
        except OSError:
            continue
    return found
