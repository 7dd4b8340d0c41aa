"""The lifecycle flags of `run`/`create` (-i, -t, -a, --restart, --health-*, --log-*, --init, --stop-*,
--detach-keys, --sig-proxy) and the attached part of `run`, `start -a` and `attach`: attach before the start,
pump the stream, the exit status. Docker's flags, messages and exit codes; the verbs are in containers_lifecycle.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from dockyard.cli import attachio
from dockyard.cli import lifecycle_parse as lp
from dockyard.client import lifecycle as api
from dockyard.client.client import APIError, Client
from dockyard.errors import EXIT_ENGINE_ERROR, DockyardError

CONTEXT = {"help_option_names": ["--help"]}
F = TypeVar("F", bound=Callable[..., Any])


class GoInt(click.ParamType):
    """An integer flag with the docker CLI's message (`strconv.ParseInt: parsing "x": invalid syntax`)."""

    name = "int"

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return int(value)
        except ValueError as err:
            message = f'invalid argument "{value}" for "{self.flag}" flag: strconv.ParseInt: parsing "{value}"'
            raise click.UsageError(f"{message}: invalid syntax", ctx) from err


RUN_OPTIONS = (
    click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached"),
    click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY"),
    click.option("-a", "--attach", "attach_streams", multiple=True, help="Attach to STDIN, STDOUT or STDERR"),
    click.option("--restart", default="no", help="Restart policy to apply when a container exits"),
    click.option("--health-cmd", default=None, help="Command to run to check health"),
    click.option("--health-interval", default=None, help="Time between running the check (ms|s|m|h)"),
    click.option("--health-timeout", default=None, help="Maximum time to allow one check to run (ms|s|m|h)"),
    click.option("--health-start-period", default=None, help="Start period for the container to initialize"),
    click.option(
        "--health-retries",
        type=GoInt("--health-retries"),
        default=None,
        help="Consecutive failures needed to report unhealthy",
    ),  # fmt: skip
    click.option("--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK"),
    click.option("--log-driver", default="", help="Logging driver for the container"),
    click.option("--log-opt", multiple=True, help="Log driver options"),
    click.option("--init", "use_init", is_flag=True, default=None, help="Run an init inside the container"),
    click.option("--stop-signal", default="", help="Signal to stop the container"),
    click.option(
        "--stop-timeout", type=GoInt("--stop-timeout"), default=None, help="Timeout (in seconds) to stop a container"
    ),  # fmt: skip
    click.option("--detach-keys", default=None, help="Override the key sequence for detaching a container"),
    click.option("--sig-proxy", type=bool, default=True, help="Proxy received signals to the process"),
)


def run_options(func: F) -> F:
    """The lifecycle flags of `run` and `create`."""
    for option in reversed(RUN_OPTIONS):
        func = option(func)
    return func


def create_options(opts: dict[str, Any], *, detach: bool) -> dict[str, Any]:
    """The flags above → CreateOptions keyword arguments (docker/cli opts.parse)."""
    streams = tuple(s.lower() for s in opts["attach_streams"])
    for stream in streams:
        if stream not in ("stdin", "stdout", "stderr"):
            raise click.UsageError(f"invalid argument \"{stream}\" for \"-a, --attach\" flag: valid streams are "
                                   "STDIN, STDOUT and STDERR")  # fmt: skip
    if detach and streams:
        raise DockyardError("Conflicting options: -a and -d")
    if not detach and not streams:
        streams = ("stdout", "stderr") + (("stdin",) if opts["interactive"] else ())
    driver = opts["log_driver"]
    size = (0, 0)
    if opts["tty"] and not detach:
        terminal = attachio.Terminal.of_stdin()
        size = (terminal.size() if terminal else None) or (0, 0)
    return {
        "tty": opts["tty"],
        "open_stdin": opts["interactive"],
        "stdin_once": opts["interactive"] and "stdin" in streams,
        "attach": () if detach else streams,
        "restart": lp.restart_policy(opts["restart"]),
        "log_driver": driver,
        "log_opts": lp.log_opts(opts["log_opt"], driver),
        "init": opts["use_init"],
        "stop_signal": opts["stop_signal"],
        "stop_timeout": opts["stop_timeout"],
        "healthcheck": lp.healthcheck(opts),
        "console_size": size,
    }


def check_run(opts: dict[str, Any]) -> None:
    if opts.get("remove") and lp.restart_policy(opts["restart"])["Name"] not in ("", "no"):
        raise DockyardError("Conflicting options: cannot specify both --restart and --rm")
    if opts["detach_keys"] is not None:
        lp.detach_keys(opts["detach_keys"])


def _fail(code: int, message: str) -> Exception:
    from dockyard.cli.commands import CliExit

    return CliExit(code, message)


def _daemon(err: APIError, code: int = 1) -> Exception:
    return _fail(code, f"Error response from daemon: {err.message}")


def _client(ctx: click.Context) -> Client:
    from dockyard.cli.commands import client_of

    return client_of(ctx)


# ---- attached streams -----------------------------------------------------------------------------------------


def stream_container(
    client: Client,
    container: str,
    stream: api.AttachStream,
    *,
    tty: bool,
    stdin: bool,
    keys: str | None,
    sig_proxy: bool,
) -> str:
    """Pump an attach stream (already requested) until it ends or the user detaches; terminal set-up included."""
    sock = stream.open()
    terminal = attachio.Terminal.of_stdin() if tty else None

    def resize() -> None:
        size = terminal.size() if terminal else None
        if size is not None:
            with contextlib.suppress(APIError):
                api.resize(client, container, *size)

    def proxy(number: int) -> None:
        with contextlib.suppress(APIError):
            client.kill_container(container, str(number))

    if terminal is not None and stdin:
        terminal.raw()
    try:
        if terminal is not None:
            resize()
        return attachio.pump(sock, tty=tty, stdin=stdin, keys=lp.detach_keys(keys or lp.DEFAULT_DETACH_KEYS),
                             on_signal=proxy if sig_proxy and not tty else None,
                             on_resize=resize if terminal is not None else None)  # fmt: skip
    finally:
        if terminal is not None:
            terminal.restore()
        stream.close()


def run_attached(client: Client, container: str, opts: dict[str, Any], *, remove: bool) -> int:
    """`run` without -d: attach before the start (nothing is lost), start, pump, then the exit status."""
    streams = tuple(s.lower() for s in opts["attach_streams"]) or ("stdout", "stderr", "stdin")
    stdin = opts["interactive"] and "stdin" in streams
    if opts["tty"] and stdin and attachio.Terminal.of_stdin() is None:
        raise _fail(1, "the input device is not a TTY")
    stream = api.attach(client, container, stdin=stdin, stdout="stdout" in streams, stderr="stderr" in streams)
    # why: with --rm the container may be gone by the time the stream ends; as the docker CLI does, the wait is
    # posted before the start (the engine opens the exit record then) and its answer read after the stream
    pending = PendingWait(client, container, "removed") if remove else None
    try:
        start_or_fail(client, container, remove=remove)
        try:
            how = stream_container(client, container, stream, tty=opts["tty"], stdin=stdin,
                                   keys=opts["detach_keys"], sig_proxy=opts["sig_proxy"])  # fmt: skip
        except APIError as err:
            raise _daemon(err, EXIT_ENGINE_ERROR) from err
        if how == attachio.DETACHED:
            return 0
        if pending is not None:
            return pending.status()
        return exit_status(client, container, "not-running")
    finally:
        if pending is not None:
            pending.close()


def start_or_fail(client: Client, container: str, *, remove: bool) -> None:
    from dockyard.cli.commands import start_error_code

    try:
        client.start_container(container)
    except APIError as err:
        if remove:
            with contextlib.suppress(APIError):
                client.remove_container(container, force=True, volumes=True)  # --rm drops anonymous volumes
        raise _fail(start_error_code(err.message), f"Error response from daemon: {err.message}") from err


class PendingWait:
    """A wait request sent now and answered later (docker/cli waitExitOrRemoved): the engine resolves the
    container when the request arrives, so its exit status survives an auto-remove that happens meanwhile."""

    def __init__(self, client: Client, container: str, condition: str) -> None:
        self._chunks: Iterator[bytes] | None = None
        self._error: APIError | None = None
        try:
            response = client._call("POST", f"/containers/{container}/wait", query={"condition": condition})
            self._chunks = iter(response.chunks)
        except APIError as err:
            self._error = err

    def status(self) -> int:
        """The exit status once the condition is met; the daemon's error as docker reports it."""
        if self._error is not None:
            raise _daemon(self._error, EXIT_ENGINE_ERROR) from self._error
        assert self._chunks is not None
        raw = b"".join(self._chunks)
        try:
            data = json.loads(raw)
            code = int(data["StatusCode"])
        except (ValueError, KeyError, TypeError) as err:
            raise _fail(EXIT_ENGINE_ERROR, "Error response from daemon: wait: no exit status") from err
        error = data.get("Error") or {}
        message = str(error.get("Message") or "") if isinstance(error, dict) else ""
        if message:
            raise _fail(EXIT_ENGINE_ERROR, f"Error response from daemon: {message}")
        return code

    def close(self) -> None:
        """Abandon the request (a failed start, a detach): the daemon frees its waiter when the client hangs up."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()


def exit_status(client: Client, container: str, condition: str) -> int:
    try:
        result = api.wait(client, container, condition)
    except APIError as err:
        if err.http_status == 404:
            return 0
        raise _daemon(err, EXIT_ENGINE_ERROR) from err
    if result.error:
        raise _fail(EXIT_ENGINE_ERROR, f"Error response from daemon: {result.error}")
    return result.status_code
