"""Starts the kernel's wait for a cgroup migration early, in a helper process; changes no process's cgroup.

why: every write to cgroup.procs (v1 and v2; `tasks` too unless a thread moves itself) takes the global
cgroup_threadgroup_rwsem for writing, and after a quiet period that first waits for an RCU grace period
(percpu_down_write → rcu_sync_enter, kernel/rcu/sync.c): 10–25 ms on this host, on every `create`, before the
container's init may run (runc pays it too). Once a writer got through, the lock stays on its writer path for a
further grace period after the last writer leaves (rcu_sync's GP_EXIT state), and a writer arriving while a
grace period is in flight shares it. So `create`/`run`/`exec` fork a helper first thing that moves itself into
the cgroup it is already in (a no-op move, still a write that takes the lock): the grace period then runs while
the runtime imports, parses and sets up, and the container's own writes find the lock warm. Without the
permission, or on a kernel without this cost, the helper's write is refused or cheap and nothing changes.
A `create` that forks the init before it makes the cgroup starts none (runtime/spawn.py): its own write follows
at once, and the init sets up its rootfs meanwhile.
"""

from __future__ import annotations

import os

DEFAULT_ROOT = "/sys/fs/cgroup"


def procs_file(root: str, proc_cgroup: str) -> str | None:
    """The cgroup.procs file of the cgroup this process is in, in the first hierarchy found mounted under `root`.

    `proc_cgroup` is the text of /proc/self/cgroup: "id:controllers:path" lines; id 0 is the cgroup2 hierarchy,
    mounted at `root` itself (unified layout) or at `root`/unified (hybrid layout).
    """
    for line in proc_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not path.startswith("/"):
            continue
        if hierarchy == "0":
            names = ["", "unified"]
        else:
            names = [controllers, *(c.removeprefix("name=") for c in controllers.split(",") if c)]
        for name in names:
            candidate = os.path.join(root, name, path.lstrip("/"), "cgroup.procs")
            if os.path.exists(candidate):
                return candidate
    return None


def start(root: str = DEFAULT_ROOT) -> int | None:
    """Fork the helper (see the module docstring); its pid for `reap`, or None when there is nothing to do."""
    if os.geteuid() != 0:
        return None
    try:
        with open("/proc/self/cgroup", encoding="ascii", errors="replace") as f:
            target = procs_file(root, f.read())
    except OSError:
        return None
    if target is None:
        return None
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
            os.write(fd, b"0")  # "0": the writer itself
        except OSError:
            pass
        os._exit(0)
    return pid


def reap(pid: int | None) -> None:
    """Wait for the helper (it lives at most one grace period); someone who waited for any child may have."""
    if pid is None:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
