"""The monitor's main loop: one `Monitor` per container process lifetime, restarts included.

Runs in the detached monitor process only (engine/monitor.py launches it). It never raises into its caller for
a container failure: every outcome ends as a record state (running, restarting, exited with code, error) and the
runtime's leftovers are cleaned. Single-threaded: a poll loop (engine/pollloop.py), pidfds for exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time

from dockyard import tracing
from dockyard.engine import health, monitor_slim, monitor_teardown, runtime_fork
from dockyard.engine.attach import AttachHub
from dockyard.engine.logs import LogWriter, log_attrs, validate_log_config
from dockyard.engine.monitor import ATTACH_WAIT_SECONDS, PR_SET_CHILD_SUBREAPER, MonitorConfig, StartError
from dockyard.engine.monitor import start_exit_code as _start_exit_code
from dockyard.engine.monitor_stdio import Stdio
from dockyard.engine.pollloop import IN, Loop
from dockyard.engine.records import ContainerRecord, Health, HealthResult, RecordStore, State, now
from dockyard.engine.restart import BackoffState, should_restart
from dockyard.engine.runtime_client import RuntimeFailure
from dockyard.oci.model import replace
from dockyard.paths import Paths

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

EXIT_GRACE = 1.0  # after the init exited, processes outside its pid namespace may hold the pipes this long
FLUSH_GRACE = 2.0  # attach clients get this long to read the last output


class Monitor:
    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.cid = config.container_id
        self.paths = Paths(data_root=config.data_root, exec_root=config.exec_root)
        self.records = RecordStore(self.paths)
        self.record = self.records.load(self.cid)
        self.bundle = self.paths.bundle(self.cid)
        self.runtime = runtime_fork.runtime_for(config.runtime, self.paths.runtime_root)
        self.loop = Loop()
        self.pid = 0
        self.status: int | None = None
        self.started = 0.0
        self.backoff = BackoffState()
        self.stop_requested = False
        self.prober: health.Prober | None = None
        self.final: dict[str, Any] = {}
        self.deleted = True
        self.forked = False  # forked from a CLI: re-executes itself small once the container runs (monitor_slim)
        self.lock_fd = -1

    # ---- life ----------------------------------------------------------------------------------------------

    def main(self, ready_fd: int, resumed: dict[str, Any] | None = None) -> int:
        if resumed is None:
            tracing.mark("monitor: main")
            import ctypes  # lazy: the slim (re-executed) monitor keeps the flag, execve(2) preserves it

            libc = ctypes.CDLL(None, use_errno=True)
            # why: the runtime's create exits and leaves the container's init behind; as a subreaper we inherit it
            # and can wait(2) for it (prctl(2) PR_SET_CHILD_SUBREAPER, as containerd-shim and conmon do).
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            lock_fd = os.open(self.paths.monitor_lock(self.cid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            os.ftruncate(lock_fd, 0)
            if isinstance(self.runtime, runtime_fork.ForkRuntime):
                runtime_fork.preload()
        else:
            lock_fd = resumed["lock_fd"]
        self.lock_fd = lock_fd
        hc = self.record.host_config
        options = validate_log_config(hc.log_driver or "json-file", hc.log_opts)
        log_path = None if hc.log_driver == "none" else self.paths.log(self.cid)
        self.writer = LogWriter(log_path, options, log_attrs(self.record))
        self.io = Stdio(self.loop, self.record, self.bundle, self.writer)
        self.hub = AttachHub(self.loop, self.bundle, tty=self.record.config.tty, on_stdin=self.io.write_stdin,
                             on_stdin_eof=self.io.stdin_detached, on_control=self._control,
                             listener_fd=resumed["listener"] if resumed else -1)  # fmt: skip
        self.io.hub = self.hub
        if resumed is not None:
            self._adopt(resumed)
        try:
            return self._lifetime(ready_fd, resumed=resumed is not None)
        finally:
            self._finish(lock_fd)

    def _adopt(self, state: dict[str, Any]) -> None:
        """After the slim re-exec: the inherited fds become ours again (engine/monitor_slim.py)."""
        for fd in (self.lock_fd, state["listener"], state["stdin_fd"], state["master"], *map(int, state["readers"])):
            if fd >= 0:
                os.set_inheritable(fd, False)
        self.io.adopt(state)
        for fd in state.get("waiters", []):
            os.set_inheritable(fd, False)
            self.hub.adopt_waiter(fd)
        self.hub.pending_arrived = state["pending_arrived"]
        self.writer.pending = {k: bytes.fromhex(v) for k, v in state["pending"].items()}
        self.deleted = False
        self.loop.add(os.pidfd_open(self.pid), IN, self._exited)

    def _lifetime(self, ready_fd: int, resumed: bool = False) -> int:
        first = not resumed
        while True:
            error = None if resumed else self._create_and_start(ready_fd if first else -1)
            resumed = False
            if error is not None:
                if first:
                    self._fail(error, ready_fd)
                    return 1
                self._set_exited(error.exit_code, error=error.message)
                return 0
            first = False
            code = self._serve_until_exit()
            if not self._after_exit(code):
                return 0

    def _create_and_start(self, ready_fd: int) -> StartError | None:
        try:
            stdio = self.io.prepare()
            try:
                self.deleted = False
                tracing.mark("monitor: runtime create")
                self.runtime.create(self.cid, self.bundle, pid_file=os.path.join(self.bundle, "init.pid"),
                                    log_file=os.path.join(self.bundle, "runtime.log"), stdio=stdio,
                                    console_socket=self.io.console_path)  # fmt: skip
            finally:
                self.io.created()
            tracing.mark("monitor: created")
            with open(os.path.join(self.bundle, "init.pid"), encoding="ascii") as f:
                self.pid = int(f.read().strip())
            self.status = None
            pidfd = os.pidfd_open(self.pid)
            self.loop.add(pidfd, IN, self._exited)
            started = None
            if ready_fd >= 0:
                if self.hub.pending_in(self.config.expect_attach, look=True):
                    # why: the init runs while the record, the event and the report are written (moby too sets
                    # the state after containerd's start); with an attacher still to come, output must wait for it
                    started = self._begin_start()
                self._set_running()
                self._emit("start")  # before the report: the daemon's `start` (and `restart`) answer after it
                _report(ready_fd, {"pid": self.pid})
                self.hub.await_pending(self.config.expect_attach, ATTACH_WAIT_SECONDS)
            (started or self._begin_start())()
        except (RuntimeFailure, OSError, ValueError) as err:
            message = err.detail if isinstance(err, RuntimeFailure) else str(err)
            self.io.close()
            return StartError(message=message, exit_code=_start_exit_code(message))
        self.started = time.monotonic()
        tracing.mark("monitor: started")
        if ready_fd < 0:  # a policy restart; a first start recorded "running" and its event before it reported
            self._set_running()
            self._emit("start")
        return None

    def _begin_start(self) -> Callable[[], None]:
        tracing.mark("monitor: runtime start")
        return self.runtime.begin_start(self.cid)

    def _serve_until_exit(self) -> int:
        check = self.record.config.healthcheck
        if health.enabled(check) and check is not None:
            self.prober = health.Prober(self.loop, check, self._spawn_probe, self._health_result,
                                        os.path.join(self.bundle, "health.pid"))  # fmt: skip
            self.prober.schedule()
        while self.status is None:
            self.loop.run_once(1.0 if self.forked else 5.0)
            self._reap()
            if self.status is None and monitor_slim.ready(self, time.monotonic() - self.started):
                monitor_slim.reexec(self, self.lock_fd)
        deadline = time.monotonic() + EXIT_GRACE
        while self.io.reading() and time.monotonic() < deadline:
            self.loop.run_once(0.05)
        if self.prober is not None:
            self.prober.stop()
            self.prober = None
        self.io.close()
        code = os.waitstatus_to_exitcode(self.status)
        return 128 - code if code < 0 else code

    def _exited(self, fd: int, _ev: int) -> None:
        self.loop.remove(fd)
        os.close(fd)
        self._reap()

    def _reap(self) -> None:
        """Reap every exited child: the init (its status ends the run), probes, orphans re-parented to us."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                tracing.mark("monitor: init exited")
                self.status = status
            elif self.prober is not None:
                self.prober.reaped(pid, os.waitstatus_to_exitcode(status))

    def _after_exit(self, code: int) -> bool:
        """Record the exit; restart after the backoff delay when the policy says so. True: run again."""
        record = self.records.load(self.cid)
        oom = _oom_killed(record.id)
        decision = should_restart(record.host_config.restart_policy, self.backoff, exit_code=code,
                                  manually_stopped=record.manually_stopped or self.stop_requested,
                                  ran_for=time.monotonic() - self.started)  # fmt: skip
        self.backoff = decision.state
        # why: the record first, then the waiters: a client told of the exit (stop, wait) reads it next
        if not decision.restart:
            self._set_exited(code, oom=oom)
            self._exit_events(code, oom)
            self.hub.exited(code)
            return False
        finished = now()
        self.record = self.records.update(self.cid, lambda r: replace(
            r, restart_count=r.restart_count + 1,
            state=replace(r.state, status="restarting", restarting=True, pid=0, exit_code=code, oom_killed=oom,
                          finished_at=finished, paused=False),
        ))  # fmt: skip
        self._exit_events(code, oom)
        self.hub.exited(code)
        self._delete()
        deadline = time.monotonic() + decision.delay
        while time.monotonic() < deadline and not self.stop_requested:
            self.loop.run_once(deadline - time.monotonic())
        self.record = self.records.load(self.cid)
        if self.stop_requested or self.record.manually_stopped:
            self._set_exited(code, oom=oom)
            return False
        if self.record.host_config.ipc_mode == "shareable":  # a fresh /dev/shm per run, as dockerd (engine/rootfs)
            from dockyard.engine.rootfs import renew_shm
            from dockyard.errors import DockyardError

            try:
                renew_shm(self.paths.rootfs(self.cid), self.record.host_config.shm_size)
            except (DockyardError, OSError) as err:
                self._set_exited(code, oom=oom, error=str(err))
                return False
        return True

    def _exit_events(self, code: int, oom: bool) -> None:
        """moby's order: oom (the kernel killed it), then die; both before waiters hear of the exit, so that a
        `stop` returning to its caller logs its own event after them."""
        if oom:
            self._emit("oom")
        self._emit("die", exitCode=str(code))

    # ---- events from clients and probes --------------------------------------------------------------------

    def _control(self, header: dict[str, Any]) -> bytes | None:
        if header.get("op") == "resize":
            self.io.resize(int(header.get("height", 0)), int(header.get("width", 0)))
        elif header.get("op") == "stop":
            self.stop_requested = True
            sig = header.get("signal")
            # why: the init is our child and not reaped while status is None, so its pid cannot have been reused;
            # signalling here spares the caller a runtime `kill` process
            if isinstance(sig, int) and 0 < sig < 65 and self.pid and self.status is None:
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    return None
                return b"k"
        return None

    def _spawn_probe(self, argv: tuple[str, ...], out_fd: int, pid_file: str) -> int:
        return self.runtime.spawn_exec(self.cid, argv, stdout=out_fd, pid_file=pid_file)

    def _health_result(self, result: HealthResult) -> None:
        check = self.record.config.healthcheck
        started_ns = int(self.started * 1e9)
        start_ns = int(time.monotonic() * 1e9)

        def change(r: ContainerRecord) -> ContainerRecord:
            if r.state.status != "running" or r.state.pid != self.pid:
                return r
            current = r.state.health or Health()
            new = health.apply_result(current, result, retries=check.retries if check else 0,
                                      start_period_ns=check.start_period if check else 0,
                                      started_at_ns=started_ns, start_ns=start_ns)  # fmt: skip
            if new.status != current.status:
                self._emit(f"health_status: {new.status}")
            return replace(r, state=replace(r.state, health=new))

        self.record = self.records.update(self.cid, change)

    # ---- state ---------------------------------------------------------------------------------------------

    def _set_running(self) -> None:
        started = now()
        check = self.record.config.healthcheck
        fresh_health = Health() if health.enabled(check) else None
        self.record = self.records.update(self.cid, lambda r: replace(
            r, state=replace(r.state, status="running", pid=self.pid, started_at=started, error="", paused=False,
                             restarting=False, oom_killed=False, exit_code=0, health=fresh_health),
        ))  # fmt: skip

    def _set_exited(self, code: int, *, oom: bool = False, error: str = "") -> None:
        finished = now()
        self.record = self.records.update(self.cid, lambda r: replace(r, state=replace(
            r.state, status="exited", pid=0, exit_code=code, finished_at=finished, oom_killed=oom, error=error,
            restarting=False, paused=False)))  # fmt: skip
        self.final = {"StatusCode": code, "FinishedAt": finished}

    def _fail(self, err: StartError, ready_fd: int) -> None:
        finished = now()
        self.records.update_state(self.cid, lambda s: replace(
            s, status="created", error=err.message, exit_code=err.exit_code, finished_at=finished))  # fmt: skip
        self.final = {"StatusCode": err.exit_code, "FinishedAt": finished}
        self._delete(force=True)
        _report(ready_fd, {"error": err.message, "exit_code": err.exit_code})

    def _emit(self, action: str, **extra: str) -> None:
        with contextlib.suppress(Exception):
            from dockyard.engine import events

            events.emit_container(self.paths, self.record, action, **extra)

    # ---- teardown ------------------------------------------------------------------------------------------

    def _delete(self, force: bool = False) -> None:
        if self.deleted:
            return
        with contextlib.suppress(RuntimeFailure):
            self.runtime.delete(self.cid, force=force)
        self.deleted = True

    def _begin_delete(self) -> Callable[[], None]:
        """The final `delete --force`, started; the result waits for it. The releases run meanwhile: the engine
        sets no hooks, and the runtime's delete touches only its own state and the cgroups, never the bundle."""
        if self.deleted:
            return lambda: None
        try:
            finish = self.runtime.begin_delete(self.cid, force=True)
        except (RuntimeFailure, OSError):
            return lambda: None

        def done() -> None:
            with contextlib.suppress(RuntimeFailure, OSError):
                finish()
            self.deleted = True

        return done

    def _finish(self, lock_fd: int) -> None:
        deadline = time.monotonic() + FLUSH_GRACE
        while self.hub.busy() and time.monotonic() < deadline:
            self.loop.run_once(0.05)
        self.hub.close()
        self.io.close()
        self.writer.close()
        tracing.mark("monitor: teardown")
        # why: one release failing must not leave the others undone, nor an auto-removed container behind, nor
        # waiters without the exit status (each step is independent)
        if self.config.auto_remove:  # reported gone first, the slow part after (monitor_teardown's docstring)
            later = monitor_teardown.remove_first(self.paths, self.cid, destroyed=lambda: self._emit("destroy"),
                                                  begin_delete=self._begin_delete)  # fmt: skip
        else:
            deleted = self._begin_delete()
            later = monitor_teardown.release_all(self.paths, self.cid)
            deleted()
        tracing.mark("monitor: torn down")
        if self.final:
            os.write(lock_fd, json.dumps(self.final).encode())
        monitor_teardown.run_later(self.paths, self.cid, later, lock_fd)


def _report(fd: int, data: dict[str, Any]) -> None:
    try:
        os.write(fd, json.dumps(data).encode())
    finally:
        os.close(fd)


def _oom_killed(cid: str) -> bool:
    """Whether the kernel's OOM killer hit the container's memory cgroup (v1 memory.oom_control, v2 memory.events)."""
    v1, v2 = f"/sys/fs/cgroup/memory/dockyard/{cid}/memory.oom_control", f"/sys/fs/cgroup/dockyard/{cid}/memory.events"
    for path in (v1, v2):
        with contextlib.suppress(OSError, ValueError), open(path, encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
    return False


__all__ = ["Monitor", "State"]
