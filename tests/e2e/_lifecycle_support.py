"""Shared by the lifecycle e2e tests: the CLI in a subprocess on a private data root, a pty driver for -it and
attach, and the leak census (mounts, cgroups, runtime state, processes holding the data root)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from privileged_gate import require

RUNTIME = os.environ.get("DOCKYARD_E2E_RUNTIME", "dockyard-runtime")
if RUNTIME == "dockyard-runtime":
    RUNTIME = os.path.join(os.path.dirname(sys.executable), RUNTIME)
CGROUP_ROOTS = (Path("/sys/fs/cgroup/memory/dockyard"), Path("/sys/fs/cgroup/pids/dockyard"))
CLI = [sys.executable, "-m", "dockyard.cli.main"]


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

    def __call__(self, *args: str, timeout: float = 60, stdin: str | None = None) -> Result:
        proc = subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, input=stdin,
                              timeout=timeout, check=False)  # fmt: skip
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*CLI, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip

    def inspect(self, name: str, template: str) -> str:
        return self("inspect", "-f", template, name).out.strip()

    def leftovers(self) -> list[str]:
        found = [f"container dir {p.name}" for p in (self.root / "containers").glob("*") if p.is_dir()]
        found += [f"bundle {p.name}" for p in (self.root / "run/containers").glob("*")]
        found += [f"runtime state {p.name}" for p in (self.root / "run/runtime").glob("*")]
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            found += [f"mount {line.split()[4]}" for line in f if str(self.root) in line.split()[4]]
        return found + [f"process {pid}" for pid in holders(self.root)]

    def cleanup(self) -> None:
        for cid in self("ps", "-aq", "--no-trunc").out.split():
            self("rm", "-f", cid)


def make_root(tmp: Path) -> Path:
    require(os.path.isfile("/bin/busybox"), "busybox-static is not installed")
    require(os.path.exists(RUNTIME), f"the runtime `{RUNTIME}` is not installed")
    result = Dockyard(tmp)("image", "build-busybox", timeout=120)
    assert result.code == 0, result.err
    return tmp


def container_cgroups() -> set[str]:
    out = set()
    for root in CGROUP_ROOTS:
        if root.is_dir():
            out |= {f"{root}/{p.name}" for p in root.iterdir() if re.fullmatch(r"[0-9a-f]{64}", p.name)}
    return out


def checked(image_root: Path, *, cgroups: bool = False) -> Iterator[Dockyard]:
    """A test's Dockyard on `image_root` (a fixture's body: `yield from checked(...)`); afterwards every container
    is removed and nothing may be left: container dirs, bundles, runtime state, mounts and, with `cgroups`, the
    cgroups of the containers the test had."""
    dockyard = Dockyard(image_root)
    yield dockyard
    ours = set(dockyard("ps", "-aq", "--no-trunc").out.split()) if cgroups else set()
    dockyard.cleanup()
    assert {c for c in container_cgroups() if c.rsplit("/", 1)[1] in ours} == set(), "container cgroups left behind"
    assert dockyard.leftovers() == []


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


class PtyCli:
    """The CLI on a fresh pty (its controlling terminal), as a user at a terminal runs it."""

    def __init__(self, d: Dockyard, *args: str, rows: int = 24, cols: int = 80) -> None:
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe(CLI[0], [*CLI, *args], d.env)
        self.pid, self.fd, self.buf = pid, fd, b""
        import fcntl
        import struct
        import termios

        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.status: int | None = None

    def expect(self, pattern: bytes, timeout: float = 15) -> bytes:
        deadline = time.monotonic() + timeout
        while pattern not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"{pattern!r} not seen; got {self.buf!r}")
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                data = b""
            if not data:
                raise AssertionError(f"{pattern!r} not seen before EOF; got {self.buf!r}")
            self.buf += data
        return self.buf

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.drain()
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self.drain(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"the CLI did not exit; output {self.buf!r}")

    def drain(self, timeout: float = 0) -> None:
        while select.select([self.fd], [], [], timeout)[0]:
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return
            if not data:
                return
            self.buf += data
