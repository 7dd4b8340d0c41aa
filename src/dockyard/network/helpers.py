"""Start, recognise and stop the helper processes of the network package (port proxies, DNS resolvers).

A helper runs `python -m <module> …` in its own session (it outlives a daemonless CLI), reports "0\n" or
"1\n<error>" on stdout once ready and then lets go of stdout. Stopping checks /proc/<pid>/cmdline first so a
recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence


class HelperFailed(OSError):
    """The helper exited before reporting ready; the message is its own reason."""


def spawn_helper(module: str, args: Sequence[str]) -> int:
    """Run the helper and wait for its ready line; its pid."""
    return await_helper(launch_helper(module, args))


def launch_helper(module: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start the helper without waiting (several can start side by side); `await_helper` gives its pid."""
    cmd = [sys.executable, "-m", module, *args]
    # why: a helper outlives the CLI that started it; an inherited stderr would keep the caller's pipe open (a
    # `dockyard run -d` under capture would never see EOF).
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            close_fds=True, start_new_session=True)  # fmt: skip


def await_helper(proc: subprocess.Popen[bytes]) -> int:
    """Wait for a launched helper's ready line; its pid, or HelperFailed with its reason."""
    assert proc.stdout is not None
    with proc.stdout:
        answer = proc.stdout.read().decode(errors="replace")
    if not answer.startswith("0"):
        proc.wait()
        raise HelperFailed(answer.partition("\n")[2].strip() or f"exit status {proc.returncode}")
    # Keep the Popen from reaping behind our back; stop_helper waits for it.
    proc.returncode = 0
    return proc.pid


def report_ready(message: str) -> None:
    """Helper side: write the status line, then point stdout at /dev/null so the parent sees EOF."""
    with contextlib.suppress(OSError):
        os.write(1, message.encode())
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


def is_helper(pid: int, module: str) -> bool:
    """Whether `pid` still runs `python -m module`."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return module.encode() in f.read().split(b"\0")
    except OSError:
        return False


def find_helpers(module: str) -> list[tuple[int, list[str]]]:
    """Every process running `python -m module`, with its arguments after the module (recovery of orphans)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
        except OSError:
            continue
        if "-m" in argv and argv.index("-m") + 1 < len(argv) and argv[argv.index("-m") + 1] == module:
            found.append((int(entry), argv[argv.index("-m") + 2 :]))
    return found


def stop_helper(pid: int, module: str, timeout: float = 2.0) -> bool:
    """SIGTERM the helper (SIGKILL after `timeout`) and reap it if it is our child; False if it was gone."""
    if not is_helper(pid, module):
        _reap(pid)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reap(pid) or not os.path.exists(f"/proc/{pid}") or _is_zombie(pid):
            _reap(pid)
            return True
        time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return True


def _reap(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True
