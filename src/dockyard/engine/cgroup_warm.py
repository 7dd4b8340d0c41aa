"""Keeps the kernel's cgroup-migration lock on its fast path while dockyardd creates and starts containers.

why: every write to a cgroup.procs file (v1 or v2, any hierarchy) takes the global cgroup_threadgroup_rwsem for
writing; after a quiet period the first writer waits for an RCU grace period (percpu_down_write → rcu_sync_enter,
kernel/rcu/sync.c), 8–25 ms on this host, and the lock leaves its writer path again one grace period after the
last writer left. A container's init cannot run before the runtime moved it into its cgroups, so that wait sat
on the critical path of every `run`, `start` and `exec` (runtime/cgroups/warmup.py only starts it a few ms
early, inside the runtime). dockyardd knows earlier: at `create` it starts a thread that moves the daemon into
the cgroup it is already in (a no-op move that still takes the lock) every few ms, for a second after the last
kick. The runtime's own writes then find the lock warm. While the thread runs, forks and exits on the host take
the lock's slower reader path (an atomic operation instead of a per-cpu one): a cost bounded to the seconds
around container starts.

Only threaded processes (the daemon) get the thread: the CLI must stay single-threaded (it forks its monitor),
so without a daemon `kick` forks a short-lived helper process instead. Without permission or without a cgroup2
mount, nothing happens.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

INTERVAL = 0.004  # s between no-op moves: well under a grace period, so the lock never goes back to idle
LINGER = 1.0  # s the lock is kept warm after the last kick (a create's start follows within milliseconds)
CGROUP_ROOT = "/sys/fs/cgroup"


def own_procs_file(proc_cgroup: str, root: str = CGROUP_ROOT) -> str | None:
    """The cgroup.procs of this process's cgroup2 cgroup ("0::/path" in /proc/self/cgroup), mounted at `root`
    (unified layout) or `root`/unified (hybrid layout); None when there is none."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::/"):
            relative = line[4:].strip()
            for mount in (root, os.path.join(root, "unified")):
                candidate = os.path.join(mount, relative, "cgroup.procs")
                if os.path.exists(candidate) and os.path.exists(os.path.join(mount, "cgroup.controllers")):
                    return candidate
    return None


def _own_procs_path(root: str = CGROUP_ROOT) -> str | None:
    """`own_procs_file` of this process, when it may write it (root, not turned off)."""
    if os.geteuid() != 0 or os.environ.get("DOCKYARD_CGROUP_WARM") == "0":
        return None
    try:
        with open("/proc/self/cgroup", encoding="ascii", errors="replace") as f:
            return own_procs_file(f.read(), root)
    except OSError:
        return None


class CgroupWarmer:
    """A thread that writes "0" (this process) to `procs_path` every INTERVAL until LINGER after the last kick."""

    def __init__(self, procs_path: str, interval: float = INTERVAL, linger: float = LINGER) -> None:
        self.procs_path, self.interval, self.linger = procs_path, interval, linger
        self.deadline = 0.0
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.failed = False

    def kick(self) -> None:
        with self.lock:
            if self.failed:
                return
            self.deadline = time.monotonic() + self.linger
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="cgroup-warm", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        try:
            fd = os.open(self.procs_path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            self._stop(failed=True)
            return
        try:
            while True:
                with self.lock:
                    if time.monotonic() >= self.deadline:
                        self.thread = None
                        return
                try:
                    os.write(fd, b"0")
                except OSError:
                    self._stop(failed=True)
                    return
                time.sleep(self.interval)
        finally:
            os.close(fd)

    def _stop(self, *, failed: bool) -> None:
        with self.lock:
            self.failed = failed
            self.thread = None


_warmer: CgroupWarmer | None = None


def install(root: str = CGROUP_ROOT) -> CgroupWarmer | None:
    """Make `kick` effective in this (threaded, root) process; the warmer, or None when it cannot work here."""
    global _warmer
    path = _own_procs_path(root)
    _warmer = CgroupWarmer(path) if path else None
    return _warmer


def uninstall() -> None:
    global _warmer
    _warmer = None


_helper_until = 0.0  # when the CLI's helper process (see `kick`) stops writing
HELPER_LINGER = 0.3  # s: a CLI's create is followed by its start within milliseconds


def kick() -> None:
    """A container is about to be created, started or exec'd into: keep the lock warm. In dockyardd (installed)
    its thread does; in a single-threaded root CLI, a short-lived helper process does, so that the grace period
    runs while the CLI attaches and starts instead of inside the runtime's create."""
    warmer = _warmer
    if warmer is not None:
        warmer.kick()
        return
    global _helper_until
    now = time.monotonic()
    if now < _helper_until or threading.active_count() > 1:
        return  # why: fork(2) from a threaded process is unsafe; a daemon installs the thread instead
    path = _own_procs_path()
    if path is not None:
        _helper_until = now + HELPER_LINGER
        _fork_helper(path, HELPER_LINGER)


def _fork_helper(procs_path: str, linger: float) -> None:
    """A grandchild (nobody waits for it) that moves itself into its own cgroup every INTERVAL for `linger`
    seconds, holding none of the caller's files: a CLI's stdout pipe must close when the CLI exits."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        return
    try:
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 16)
        fd = os.open(procs_path, os.O_WRONLY | os.O_CLOEXEC)
        deadline = time.monotonic() + linger
        while time.monotonic() < deadline:
            os.write(fd, b"0")
            time.sleep(INTERVAL)
    finally:
        os._exit(0)
