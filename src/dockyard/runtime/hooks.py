"""Runs OCI lifecycle hooks (config.json `hooks`): the state JSON on stdin, a timeout, errors naming the phase.

Only runs hooks and reports their outcome; which phase runs in which namespace, and when, is the caller's
business (runtime-spec config.md#posix-platform-hooks). Uses subprocess's select loop, never a thread: the
runtime may unshare a user namespace later, which fails while any extra thread is alive.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess

from dockyard.errors import InternalError
from dockyard.oci.runtime_spec import Hook

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

log = logging.getLogger("dockyard.runtime")

# How much of a failed hook's stderr (or stdout) the error message quotes.
_OUTPUT_QUOTE_LIMIT = 400
# After killing a timed-out hook, how long to wait for its pipes to close (a grandchild may hold them).
_DRAIN_SECONDS = 1.0


class HookError(InternalError):
    """A hook could not be started, exited non-zero, was killed, or ran past its timeout."""

    def __init__(self, phase: str, path: str, reason: str) -> None:
        super().__init__(f"hook {phase} `{path}`: {reason}")
        self.phase = phase
        self.path = path
        self.reason = reason


def run_hooks(hooks: Sequence[Hook], state: Mapping[str, object], phase: str, *, warn_only: bool = False) -> None:
    """Run `hooks` in order with `state` as JSON on stdin; raise HookError on the first failure.

    With warn_only (poststop: runtime-spec says a failure there is a warning and the remaining hooks still
    run) each failure is logged to the `dockyard.runtime` logger and the next hook runs.
    """
    payload = json.dumps(dict(state), separators=(",", ":")).encode()
    for hook in hooks:
        try:
            run_hook(hook, payload, phase)
        except HookError as err:
            if not warn_only:
                raise
            log.warning("%s", err)


def run_hook(hook: Hook, payload: bytes, phase: str) -> None:
    """Run one hook with `payload` on stdin; HookError on failure."""
    # Like Go's exec.Cmd (used by runc): args[0] is argv0, the path is what runs; no args → argv0 is the path;
    # the environment is exactly hook.env, nothing inherited.
    argv = list(hook.args) if hook.args else [hook.path]
    env = dict(item.partition("=")[::2] for item in hook.env)
    try:
        proc = subprocess.Popen(
            argv,
            executable=hook.path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            cwd="/",
        )
    except OSError as err:
        reason = err.strerror.lower() if err.strerror else str(err)
        raise HookError(phase, hook.path, reason) from err
    try:
        out, errout = proc.communicate(payload, timeout=hook.timeout)
    except subprocess.TimeoutExpired as err:
        _kill(proc)
        raise HookError(phase, hook.path, f"ran past its timeout of {hook.timeout}s") from err
    if proc.returncode != 0:
        raise HookError(phase, hook.path, _describe_failure(proc.returncode, out, errout))


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill a timed-out hook and reap it; don't wait forever for pipes a grandchild still holds."""
    proc.kill()
    try:
        proc.communicate(timeout=_DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait()


def _describe_failure(returncode: int, out: bytes, errout: bytes) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        reason = f"killed by signal {name}"
    else:
        reason = f"exit status {returncode}"
    text = (errout or out).decode(errors="replace").strip()
    if text:
        if len(text) > _OUTPUT_QUOTE_LIMIT:
            text = "…" + text[-_OUTPUT_QUOTE_LIMIT:]
        reason += f": {text}"
    return reason
