"""The lifecycle verbs: start, stop, restart, kill, pause, unpause, wait, attach, logs. Parse → client → render,
with Docker's flags, output (each container named as given) and exit codes (1 when any container failed)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dockyard.cli import attachio, output
from dockyard.cli import lifecycle_parse as lp
from dockyard.cli import run_lifecycle as rl
from dockyard.client import lifecycle as api
from dockyard.client.client import APIError, Client

CONTEXT = rl.CONTEXT


def _each(ctx: click.Context, containers: tuple[str, ...], action: Callable[[Client, str], object]) -> int:
    """Run `action` on every container, printing its name; Docker's error lines, then exit status 1."""
    client = rl._client(ctx)
    failed = []
    for name in containers:
        try:
            action(client, name)
        except APIError as err:
            failed.append(f"Error response from daemon: {err.message}")
            continue
        click.echo(name)
    if failed:
        raise rl._fail(1, "\n".join(failed))
    return 0


F = TypeVar("F", bound=Callable[..., Any])


def _stop_options(func: F) -> F:
    """`stop` and `restart`: the signal to stop with, and the seconds before SIGKILL."""
    func = click.option("-t", "--timeout", "--time", "timeout", type=rl.GoInt("-t, --timeout"), default=None,
                        help="Seconds to wait before killing the container")(func)  # fmt: skip
    return click.option("-s", "--signal", "sig", default="", help="Signal to send to the container")(func)


@click.command(context_settings=CONTEXT)
@_stop_options
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def stop(ctx: click.Context, containers: tuple[str, ...], sig: str, timeout: int | None) -> int:
    """Stop one or more running containers."""
    return _each(ctx, containers, lambda c, name: api.stop(c, name, timeout=timeout, signal=sig))


@click.command(context_settings=CONTEXT)
@_stop_options
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def restart(ctx: click.Context, containers: tuple[str, ...], sig: str, timeout: int | None) -> int:
    """Restart one or more containers."""
    return _each(ctx, containers, lambda c, name: api.restart(c, name, timeout=timeout, signal=sig))


@click.command(context_settings=CONTEXT)
@click.option("-s", "--signal", "sig", default="", help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def kill(ctx: click.Context, containers: tuple[str, ...], sig: str) -> int:
    """Kill one or more running containers."""
    return _each(ctx, containers, lambda c, name: c.kill_container(name, sig or "SIGKILL"))


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def pause(ctx: click.Context, containers: tuple[str, ...]) -> int:
    """Pause all processes within one or more containers."""
    return _each(ctx, containers, api.pause)


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def unpause(ctx: click.Context, containers: tuple[str, ...]) -> int:
    """Unpause all processes within one or more containers."""
    return _each(ctx, containers, api.unpause)


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def wait(ctx: click.Context, containers: tuple[str, ...]) -> int:
    """Block until one or more containers stop, then print their exit codes."""
    client = rl._client(ctx)
    failed = []
    for name in containers:
        try:
            click.echo(api.wait(client, name).status_code)
        except APIError as err:
            failed.append(f"Error response from daemon: {err.message}")
    if failed:
        raise rl._fail(1, "\n".join(failed))
    return 0


@click.command(context_settings=CONTEXT)
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@click.option("--detach-keys", default=None, help="Override the key sequence for detaching a container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def start(ctx: click.Context, containers: tuple[str, ...], attach: bool, interactive: bool,
          detach_keys: str | None) -> int:  # fmt: skip
    """Start one or more stopped containers."""
    client = rl._client(ctx)
    if attach or interactive:
        if len(containers) > 1:
            raise rl._fail(1, "you cannot start and attach multiple containers at once")
        return _start_attached(client, containers[0], interactive=interactive, keys=detach_keys)
    failed = []
    for name in containers:
        try:
            client.start_container(name)
            click.echo(name)
        except APIError as err:
            failed.append(name)
            click.echo(f"Error response from daemon: {err.message}", err=True)
    if failed:
        raise rl._fail(1, f"Error: failed to start containers: {', '.join(failed)}")
    return 0


def _start_attached(client: Client, name: str, *, interactive: bool, keys: str | None) -> int:
    pending: rl.PendingWait | None = None
    try:
        info = client.inspect_container(name)
        config = info.get("Config") or {}
        tty, stdin = bool(config.get("Tty")), interactive and bool(config.get("OpenStdin"))
        stream = api.attach(client, info["Id"], stdin=stdin)
        # why: an --rm container may be removed before the stream ends; as docker/cli's start does, the wait
        # ("removed") is posted before the start so the engine holds the exit status for it
        if (info.get("HostConfig") or {}).get("AutoRemove"):
            pending = rl.PendingWait(client, info["Id"], "removed")
        client.start_container(info["Id"])
        how = rl.stream_container(client, info["Id"], stream, tty=tty, stdin=stdin, keys=keys, sig_proxy=True)
        if how == attachio.DETACHED:
            return 0
        if pending is not None:
            return pending.status()
    except APIError as err:
        raise rl._daemon(err) from err
    finally:
        if pending is not None:
            pending.close()
    return rl.exit_status(client, info["Id"], "not-running")


@click.command(context_settings=CONTEXT)
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option("--sig-proxy", type=bool, default=True, help="Proxy all received signals to the process")
@click.option("--detach-keys", default=None, help="Override the key sequence for detaching a container")
@click.argument("container")
@click.pass_context
def attach(ctx: click.Context, container: str, no_stdin: bool, sig_proxy: bool, detach_keys: str | None) -> int:
    """Attach local standard input, output, and error streams to a running container."""
    client = rl._client(ctx)
    try:
        info = client.inspect_container(container)
    except APIError as err:
        raise rl._daemon(err) from err
    state, config = info.get("State") or {}, info.get("Config") or {}
    if not state.get("Running"):
        raise rl._fail(1, "You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise rl._fail(1, "You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise rl._fail(1, "You cannot attach to a restarting container, wait until it is running")
    if detach_keys is not None:
        lp.detach_keys(detach_keys)
    tty, stdin = bool(config.get("Tty")), bool(config.get("OpenStdin")) and not no_stdin
    try:
        stream = api.attach(client, info["Id"], stdin=stdin)
        how = rl.stream_container(client, info["Id"], stream, tty=tty, stdin=stdin, keys=detach_keys,
                                  sig_proxy=sig_proxy)  # fmt: skip
    except APIError as err:
        raise rl._daemon(err) from err
    if how == attachio.DETACHED:
        sys.stdout.flush()
        raise rl._fail(1, "read escape sequence")
    return rl.exit_status(client, info["Id"], "not-running")


@click.command(context_settings=CONTEXT)
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("-n", "--tail", default="all", help='Number of lines to show from the end of the logs (default "all")')
@click.option("--since", default="", help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (42m)")
@click.option("--until", default="", help="Show logs before a timestamp or relative (e.g. 42m for 42 minutes)")
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.argument("container")
@click.pass_context
def logs(ctx: click.Context, /, container: str, **opts: Any) -> int:
    """Fetch the logs of a container."""
    since = lp.get_timestamp(opts["since"]) if opts["since"] else ""
    until = lp.get_timestamp(opts["until"]) if opts["until"] else ""
    client = rl._client(ctx)
    try:
        for stream, data in api.logs(client, container, follow=opts["follow"], timestamps=opts["timestamps"],
                                     tail=opts["tail"], since=since, until=until, details=opts["details"]):  # fmt: skip
            output.write_stream(stream, data)
    except APIError as err:
        raise rl._daemon(err) from err
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        return 0
    return 0


COMMANDS = (start, stop, restart, kill, pause, unpause, wait, attach, logs)
