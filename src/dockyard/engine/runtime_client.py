"""The engine's side of the OCI runtime CLI contract (create, start, state, kill, delete), runc-compatible.

Runs the runtime binary (`dockyard-runtime`, or `runc` through DOCKYARD_RUNTIME) as a short-lived process and
turns its failures into errors that carry the runtime's own message. Never forks without exec, never imports
dockyard.runtime: the runtime is only ever another process.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence

from dockyard.errors import InternalError, NotFound
from dockyard.oci.model import Model

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object

DEFAULT_RUNTIME = "dockyard-runtime"


class RuntimeFailure(InternalError):
    """The runtime exited non-zero; `detail` is its own message (runc's `exec: "x": executable file not found…`)."""

    def __init__(self, command: str, detail: str) -> None:
        super().__init__(f"OCI runtime {command} failed: {detail}")
        self.command = command
        self.detail = detail


class RuntimeState(Model):
    id: str
    status: str  # creating | created | running | stopped
    pid: int


class Runtime(Protocol):
    """The OCI runtime CLI operations the engine uses; implemented by `CliRuntime` (dockyard-runtime or runc)."""

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
        """Create the container; its process inherits `stdio` (stdin, stdout, stderr) and waits for `start`; with
        a terminal, the pty master is sent to `console_socket` instead."""

    def start(self, container_id: str) -> None: ...

    def begin_start(self, container_id: str) -> Callable[[], None]:
        """Start `start` and return at once; calling the result waits for it (and raises as `start` would). An
        implementation may also do the whole `start` before it returns, and raise then."""

    def state(self, container_id: str) -> RuntimeState: ...

    def kill(self, container_id: str, signal: str) -> None: ...

    def delete(self, container_id: str, *, force: bool = False) -> None: ...

    def begin_delete(self, container_id: str, *, force: bool = False) -> Callable[[], None]:
        """Start `delete` and return at once; calling the result waits for it (and raises as `delete` would), so
        the caller can do other cleanup meanwhile."""

    def pause(self, container_id: str) -> None: ...

    def resume(self, container_id: str) -> None: ...

    def spawn_exec(self, container_id: str, argv: Sequence[str], *, stdout: int, pid_file: str) -> int:
        """Start `exec` of `argv` in the container (stdout and stderr to `stdout`); returns the runtime's pid, which
        the caller reaps."""


def find_runtime(name: str | None = None) -> str:
    """The runtime binary: DOCKYARD_RUNTIME or `dockyard-runtime`, from PATH, else beside this Python (the venv)."""
    name = name or os.environ.get("DOCKYARD_RUNTIME") or DEFAULT_RUNTIME
    if "/" in name:
        return name
    import shutil  # lazy: kept out of the slim monitor's import set

    found = shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)
    if not os.access(found, os.X_OK):
        raise NotFound(f"OCI runtime `{name}`: not found in $PATH", hint="run `make demo` or set DOCKYARD_RUNTIME")
    return found


def create_args(
    root: str, container_id: str, bundle: str, pid_file: str, log_file: str, console_socket: str | None
) -> list[str]:
    """The runtime's command line for `create`, after the program name."""
    args = ["--root", root, "--log", log_file, "--log-format", "json", "create", "--bundle", bundle]
    if console_socket:
        args += ["--console-socket", console_socket]
    return [*args, "--pid-file", pid_file, container_id]


def error_from_log(log_file: str) -> str | None:
    """The last error a runtime wrote to its --log file (logrus json lines, as runc and dockyard-runtime write)."""
    try:
        with open(log_file, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal") and entry.get("msg"):
            return str(entry["msg"])
    return None


class CliRuntime:
    def __init__(self, binary: str, root: str) -> None:
        self.binary = binary
        self.root = root

    def _argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    def _run(self, command: str, *args: str) -> str:
        return self._begin(command, *args)()

    def _begin(self, command: str, *args: str) -> Callable[[], str]:
        """Start the command; the returned function waits for it: its stdout, or RuntimeFailure with its error."""
        import subprocess  # lazy: the monitor, which lives as long as its container, rarely needs it

        try:
            proc = subprocess.Popen(
                self._argv(command, *args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as err:
            raise RuntimeFailure(command, f"run `{self.binary}`: {err.strerror or err}") from err

        def finish() -> str:
            stdout, stderr = proc.communicate()
            return checked_output(command, proc.returncode, stdout, stderr)

        return finish

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
        argv = [self.binary, *create_args(self.root, container_id, bundle, pid_file, log_file, console_socket)]
        import subprocess

        try:
            proc = subprocess.run(argv, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], check=False)
        except OSError as err:
            raise RuntimeFailure("create", f"run `{self.binary}`: {err.strerror or err}") from err
        if proc.returncode != 0:
            raise RuntimeFailure("create", error_from_log(log_file) or f"exit status {proc.returncode}")

    def start(self, container_id: str) -> None:
        self.begin_start(container_id)()

    def begin_start(self, container_id: str) -> Callable[[], None]:
        return self._begin_quiet("start", container_id)

    def state(self, container_id: str) -> RuntimeState:
        out = self._run("state", container_id)
        try:
            data = json.loads(out)
            return RuntimeState(id=str(data["id"]), status=str(data["status"]), pid=int(data.get("pid") or 0))
        except (ValueError, KeyError, TypeError) as err:
            raise RuntimeFailure("state", f"unreadable state output: {err}") from err

    def kill(self, container_id: str, signal: str) -> None:
        self._run("kill", container_id, signal)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        self.begin_delete(container_id, force=force)()

    def begin_delete(self, container_id: str, *, force: bool = False) -> Callable[[], None]:
        return self._begin_quiet("delete", *(["--force"] if force else []), container_id)

    def _begin_quiet(self, command: str, *args: str) -> Callable[[], None]:
        """`_begin` for a command that prints nothing worth keeping (start, delete): its stdout is dropped."""
        finish = self._begin(command, *args)

        def done() -> None:
            finish()

        return done

    def pause(self, container_id: str) -> None:
        self._run("pause", container_id)

    def resume(self, container_id: str) -> None:
        self._run("resume", container_id)

    def spawn_exec(self, container_id: str, argv: Sequence[str], *, stdout: int, pid_file: str) -> int:
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            dup = os.POSIX_SPAWN_DUP2
            actions = [(dup, null, 0), (dup, stdout, 1), (dup, stdout, 2)]
            args = self._argv("exec", "--pid-file", pid_file, container_id, *argv)
            return os.posix_spawn(self.binary, args, os.environ, file_actions=actions)
        finally:
            os.close(null)


def checked_output(command: str, code: int, stdout: bytes, stderr: bytes) -> str:
    """A finished runtime command's stdout; RuntimeFailure with its last error line when it failed."""
    if code != 0:
        raise RuntimeFailure(command, _clean(stderr.decode(errors="replace")) or f"exit status {code}")
    return stdout.decode(errors="replace")


def _clean(stderr: str) -> str:
    """The runtime's last stderr line without its program prefix or logrus decoration."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    for prefix in ("dockyard-runtime: ", "runc: "):
        last = last.removeprefix(prefix)
    if last.startswith("time=") and 'msg="' in last:
        last = last.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return last
