"""`ForkRuntime`: dockyard-runtime's own command line, run in a forked child without exec.

The one exception to "the runtime is another process" (ARCHITECTURE.md allows a fork from a process known to be
single-threaded): the child calls `dockyard.runtime.cli.main` with exactly the arguments the binary would get,
so the contract (messages, --log file, exit status) is unchanged and `runc` still stands in through CliRuntime.
What it saves is the runtime's interpreter start-up, three times per `run --rm`. `start` goes one step further
and calls that same `main` in this process (see `begin_start`). `available()` refuses it when
the caller has threads (fork(2) copies only the calling thread) or the runtime is not dockyard-runtime.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence

from dockyard import tracing
from dockyard.engine.runtime_client import CliRuntime, RuntimeFailure, checked_output, create_args, error_from_log

RUNTIME_NAME = "dockyard-runtime"


def available(binary: str) -> bool:
    # why: a process that never imported threading has one thread; importing it here would only cost the slim
    # monitor memory
    threading = sys.modules.get("threading")
    return (
        os.path.basename(binary) == RUNTIME_NAME
        and (threading is None or threading.active_count() == 1)
        and os.environ.get("DOCKYARD_RUNTIME_FORK") != "0"
    )


def preload() -> None:
    """Import what `create`, `start` and `delete` need, so that forked children do not import it each time."""
    import dockyard.runtime.cgroups.v1
    import dockyard.runtime.cgroups.v2
    import dockyard.runtime.cli
    import dockyard.runtime.init
    import dockyard.runtime.lifecycle
    import dockyard.runtime.seccomp_cache
    import dockyard.runtime.spawn  # noqa: F401
    from dockyard.runtime.bundle import warm_up

    warm_up()  # the spec models' field types, resolved once here rather than in every forked `create` (≈ 0.5 ms)

    # why: the seccomp cache key's hash is an extension module; its dlopen in every forked `create` costs ≈ 2 ms
    with contextlib.suppress(ImportError):
        import _sha256  # type: ignore[import-not-found]  # noqa: F401


class ForkRuntime(CliRuntime):
    def _child(self, args: Sequence[str], stdio: Sequence[int]) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            # why: dup to high numbers first, so that stdio[i] == j < 3 is not clobbered before it is copied
            high = [os.dup(fd) for fd in stdio]
            for target, fd in enumerate(high):
                os.dup2(fd, target)
            os.closerange(3, 1 << 16)
            from dockyard.runtime.cli import main

            tracing.mark("runtime: forked")
            code = main(list(args))
        except BaseException:
            pass
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    pass
            os._exit(code)

    def _wait(self, pid: int) -> int:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                return os.waitstatus_to_exitcode(status)
            except InterruptedError:
                continue
            except ChildProcessError:
                return 0  # reaped elsewhere: its effects are checked by the caller's next step

    def _begin(self, command: str, *args: str) -> Callable[[], str]:
        """Fork the command's child; the returned function reads its output, reaps it and raises on failure."""
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            pid = self._child(["--root", self.root, command, *args], (null, out_w, err_w))
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            for fd in (out_w, err_w, null):
                os.close(fd)

        def finish() -> str:
            with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
                stdout = out.read()
                stderr = err.read()
            return checked_output(command, self._wait(pid), stdout, stderr)

        return finish

    def begin_start(self, container_id: str) -> Callable[[], None]:
        """`start` run in this process, done when this returns (a failure raises here, before anything is recorded).

        why no fork: `start` only opens the exec fifo the init waits on, reads its byte and runs poststart hooks;
        nothing there needs a process of its own (no namespace, no fork), while a fork and the runtime's own
        start-up sat between `create` and the container's first instruction (≈ 3 ms of each `run --rm`)."""
        import io

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            from dockyard.runtime.cli import main

            code = main(["--root", self.root, "start", container_id])
        checked_output("start", code, out.getvalue().encode(), err.getvalue().encode())
        return lambda: None

    def create(
        self,
        container_id: str,
        bundle: str,
        *,
        pid_file: str,
        log_file: str,
        stdio: Sequence[int],
        console_socket: str | None = None,
    ) -> None:
        pid = self._child(create_args(self.root, container_id, bundle, pid_file, log_file, console_socket), stdio)
        code = self._wait(pid)
        if code != 0:
            raise RuntimeFailure("create", error_from_log(log_file) or f"exit status {code}")

    def spawn_exec(self, container_id: str, argv: Sequence[str], *, stdout: int, pid_file: str) -> int:
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            args = ["--root", self.root, "exec", "--pid-file", pid_file, container_id, *argv]
            return self._child(args, (null, stdout, stdout))
        finally:
            os.close(null)


def runtime_for(binary: str, root: str) -> CliRuntime:
    """ForkRuntime when it is safe and dockyard-runtime is the runtime; else the runtime binary (runc…)."""
    return ForkRuntime(binary, root) if available(binary) else CliRuntime(binary, root)
