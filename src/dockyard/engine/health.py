"""Health checks: the merged HEALTHCHECK config, the status machine (moby daemon/health.go) and the probe the
monitor runs through the runtime's `exec`.

Statuses: `starting` until the first success, `healthy`, `unhealthy` after `retries` failures in a row (failures
inside the start period do not count while starting). The last five results are kept. The probe never blocks the
monitor: its output arrives through a non-blocking pipe and a timer enforces the timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable

from dockyard.engine.records import Health, Healthcheck, HealthResult, now
from dockyard.oci.model import replace

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Any

    from dockyard.engine.pollloop import Loop

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
EXIT_HEALTHY, EXIT_UNHEALTHY = 0, 1


def merge(given: Healthcheck | None, image: Any) -> Healthcheck | None:
    """The container's healthcheck: its own fields, each zero one taken from the image's HEALTHCHECK (moby
    daemon/commit.go merge); None when neither has one."""
    if image is None:
        return given
    from_image = Healthcheck(
        test=tuple(image.test or ()),
        interval=image.interval or 0,
        timeout=image.timeout or 0,
        start_period=image.start_period or 0,
        retries=image.retries or 0,
    )
    if given is None:
        return from_image if from_image.test else None
    return Healthcheck(
        test=given.test or from_image.test,
        interval=given.interval or from_image.interval,
        timeout=given.timeout or from_image.timeout,
        start_period=given.start_period or from_image.start_period,
        retries=given.retries or from_image.retries,
    )


def enabled(check: Healthcheck | None) -> bool:
    return check is not None and bool(check.test) and check.test[0] != "NONE"


def probe_argv(check: Healthcheck) -> tuple[str, ...]:
    """`CMD-SHELL cmd` runs `/bin/sh -c cmd`; `CMD a b` runs a b (Docker's probe)."""
    kind, *rest = check.test
    if kind == "CMD-SHELL":
        return ("/bin/sh", "-c", " ".join(rest))
    return tuple(rest)


def apply_result(
    health: Health, result: HealthResult, *, retries: int, start_period_ns: int, started_at_ns: int, start_ns: int
) -> Health:
    """The next Health after a probe result (moby handleProbeResult)."""
    log = (*health.log, result)[-MAX_LOG_ENTRIES:]
    if result.exit_code == EXIT_HEALTHY:
        return Health(status="healthy", failing_streak=0, log=log)
    if health.status == "starting" and start_ns - started_at_ns < start_period_ns:
        return replace(health, log=log)
    streak = health.failing_streak + 1
    status = "unhealthy" if streak >= (retries or DEFAULT_RETRIES) else health.status
    return Health(status=status, failing_streak=streak, log=log)


class Prober:
    """Runs one probe every `interval` inside the running container; reports each result to `on_result`.

    `spawn(argv, out_fd, pid_file)` starts `runtime exec` and returns its pid; the caller reaps children and calls
    `reaped(pid, exit_code)`.
    """

    def __init__(
        self,
        loop: Loop,
        check: Healthcheck,
        spawn: Callable[[tuple[str, ...], int, str], int],
        on_result: Callable[[HealthResult], None],
        pid_file: str,
    ) -> None:
        self.loop, self.check, self.spawn, self.on_result, self.pid_file = loop, check, spawn, on_result, pid_file
        self.interval = (check.interval or DEFAULT_INTERVAL) / SECOND
        self.timeout = (check.timeout or DEFAULT_TIMEOUT) / SECOND
        self.timer: int | None = None
        self.deadline: int | None = None
        self.pid = 0
        self.fd = -1
        self.output = bytearray()
        self.started = ""
        self.exit_code: int | None = None
        self.timed_out = False

    def schedule(self) -> None:
        self.timer = self.loop.call_later(self.interval, self._run)

    def busy(self) -> bool:
        return self.pid != 0

    def _run(self) -> None:
        self.timer = None
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        self.started, self.output, self.exit_code, self.timed_out = now(), bytearray(), None, False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pid_file)
        try:
            self.pid = self.spawn(probe_argv(self.check), write_fd, self.pid_file)
        except OSError as err:
            os.close(read_fd)
            self.pid = 0
            self.on_result(HealthResult(start=self.started, end=now(), exit_code=-1, output=str(err)))
            self.schedule()
            return
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.fd = read_fd
        self.loop.add(read_fd, 1, self._output)
        self.deadline = self.loop.call_later(self.timeout, self._expire)

    def _output(self, fd: int, _ev: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            if len(self.output) < MAX_OUTPUT:
                self.output += data[: MAX_OUTPUT - len(self.output)]
            return
        self.loop.remove(fd)
        os.close(fd)
        self.fd = -1
        self._maybe_done()

    def _expire(self) -> None:
        self.deadline = None
        self.timed_out = True
        for pid in (self._exec_pid(), self.pid):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _exec_pid(self) -> int:
        try:
            with open(self.pid_file, encoding="ascii") as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def reaped(self, pid: int, exit_code: int) -> bool:
        """Whether `pid` was the probe; records its exit code."""
        if pid != self.pid or not pid:
            return False
        self.exit_code = exit_code
        self._maybe_done()
        return True

    def _maybe_done(self) -> None:
        if self.exit_code is None or (self.fd >= 0 and not self.timed_out):
            return
        if self.fd >= 0:
            self.loop.remove(self.fd)
            os.close(self.fd)
            self.fd = -1
        self.loop.cancel(self.deadline)
        self.deadline, self.pid = None, 0
        if self.timed_out:
            result = HealthResult(start=self.started, end=now(), exit_code=-1,
                                  output=f"Health check exceeded timeout ({_duration(self.timeout)})")  # fmt: skip
        else:
            text = self.output.decode("utf-8", errors="replace")
            result = HealthResult(start=self.started, end=now(), exit_code=self.exit_code, output=text)
        self.on_result(result)
        self.schedule()

    def stop(self) -> None:
        self.loop.cancel(self.timer)
        self.loop.cancel(self.deadline)
        self.timer = self.deadline = None
        if self.pid:
            self._expire()
        if self.fd >= 0:
            self.loop.remove(self.fd)
            os.close(self.fd)
            self.fd = -1
        self.pid = 0


def _duration(seconds: float) -> str:
    """Go's time.Duration String for whole and fractional seconds (`30s`, `1.5s`, `500ms`)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"
