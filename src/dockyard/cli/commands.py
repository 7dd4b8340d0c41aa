"""The core verbs: run, create, rm, version, image build-busybox/build-debian, system check. Parse → client → render.
(The other verbs live in their own modules; cli/verbs.py names them all and loads each on demand.)

Commands return their exit status or raise; they never exit and never print tracebacks (cli/main.py does the
exiting). `CliExit` carries a Docker exit code (125 engine error, 126 cannot invoke, 127 not found).
"""

from __future__ import annotations

import re
from typing import Any

import click

from dockyard.cli import networks, parse, run_lifecycle, run_options
from dockyard.cli import volumes as volumes_cli
from dockyard.cli.exits import CONTEXT, CliExit, client_of, daemon_error
from dockyard.client.client import APIError, Client, CreateOptions
from dockyard.errors import EXIT_CANNOT_INVOKE, EXIT_ENGINE_ERROR, EXIT_NOT_FOUND, InvalidArgument

__all__ = ["CONTEXT", "CliExit", "client_of", "create", "daemon_error", "rm", "run", "start_error_code"]


def start_error_code(message: str) -> int:
    """The docker CLI's reading of a start error: 127 not found, 126 cannot invoke, else 125."""
    if any(s in message for s in ("executable file not found", "no such file or directory")):
        return EXIT_NOT_FOUND
    if "permission denied" in message or "is a directory" in message:
        return EXIT_CANNOT_INVOKE
    return EXIT_ENGINE_ERROR


@click.command(context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.option("--rm", "remove", is_flag=True, help="Remove the container when it exits")
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the container ID")
@click.option("--name", default=None, help="Assign a name to the container")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("-w", "--workdir", default="", help="Working directory inside the container")
@click.option("-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.option("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image")
@click.option("-h", "--hostname", default="", help="Container host name")
@click.option("-l", "--label", multiple=True, help="Set meta data on a container")
@click.option("-m", "--memory", default=None, help="Memory limit")
@click.option("--cpus", default=None, help="Number of CPUs")
@click.option("--pids-limit", type=int, default=0, help="Tune container pids limit (-1 for unlimited)")
@click.option("--read-only", is_flag=True, help="Mount the container's root filesystem as read only")
@click.option("--cap-add", multiple=True, help="Add Linux capabilities")
@click.option("--cap-drop", multiple=True, help="Drop Linux capabilities")
@click.option("--security-opt", multiple=True, help="Security options")
@click.option("--privileged", is_flag=True, help="Give extended privileges to this container")
@networks.run_options
@run_lifecycle.run_options
@volumes_cli.run_options
@run_options.run_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, /, image: str, command: tuple[str, ...], **opts: Any) -> int:
    """Create and run a new container from an image."""
    run_lifecycle.check_run(opts)
    options = _create_options(image, command, opts, detach=opts["detach"])
    client = client_of(ctx)
    container = _create_container(client, options, opts["name"], opts["cidfile"])
    if opts["detach"]:
        run_lifecycle.start_or_fail(client, container, remove=False)
        click.echo(container)
        return 0
    return run_lifecycle.run_attached(client, container, opts, remove=opts["remove"])


def _create_options(image: str, command: tuple[str, ...], opts: dict[str, Any], *, detach: bool) -> CreateOptions:
    return CreateOptions(
        image=image,
        cmd=command or None,
        entrypoint=None if opts["entrypoint"] is None else tuple(x for x in (opts["entrypoint"],) if x),
        env=parse.env_entries(opts["env"]),
        working_dir=opts["workdir"],
        user=opts["user"],
        hostname=opts["hostname"],
        labels=parse.labels(opts["label"]),
        auto_remove=opts["remove"],
        memory=parse.ram_in_bytes(opts["memory"]) if opts["memory"] else 0,
        nano_cpus=parse.nano_cpus(opts["cpus"]) if opts["cpus"] else 0,
        pids_limit=opts["pids_limit"],
        read_only=opts["read_only"],
        privileged=opts["privileged"],
        cap_add=opts["cap_add"],
        cap_drop=opts["cap_drop"],
        security_opt=run_options.security_opts(opts["security_opt"]),
        **networks.create_options(opts),
        **run_lifecycle.create_options(opts, detach=detach),
        **volumes_cli.create_options(opts),
        **run_options.create_options(opts),
    )


def _create_container(client: Client, options: CreateOptions, name: str | None, cidfile: str = "") -> str:
    try:
        claimed = run_options.CidFile(cidfile)
    except InvalidArgument as err:
        raise CliExit(EXIT_ENGINE_ERROR, err.message) from err
    _client_warnings(options)
    try:
        container, warnings = client.create_container_warned(options, name)
    except APIError as err:
        claimed.discard()
        hint = None
        if err.http_status == 404 and err.message.startswith("No such image"):
            hint = "dockyard cannot pull yet; `dockyard image build-busybox` builds busybox:latest locally"
        raise CliExit(EXIT_ENGINE_ERROR, f"Error response from daemon: {err.message}", hint) from err
    for warning in warnings:
        click.echo(f"WARNING: {warning}", err=True)
    claimed.write(container)
    return container


def _client_warnings(options: CreateOptions) -> None:
    """The docker CLI's own create warning (container/create.go warnOnLocalhostDNS, with docker CLI 28's wording;
    that CLI prints no client-side --oom-kill-disable warning, only the daemon's)."""
    for server in options.dns:
        if re.fullmatch(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1", server.strip()):
            click.echo(f"WARNING: Localhost DNS ({server}) may fail in containers.", err=True)


@click.pass_context
def _create(ctx: click.Context, /, image: str, command: tuple[str, ...], **opts: Any) -> int:
    opts["detach"] = False
    run_lifecycle.check_run(opts)
    options = _create_options(image, command, opts, detach=False)
    click.echo(_create_container(client_of(ctx), options, opts["name"], opts["cidfile"]))
    return 0


create = click.Command(
    "create",
    callback=_create,
    params=[p for p in run.params if p.name != "detach"],
    context_settings={**CONTEXT, "allow_interspersed_args": False},
    help="Create a new container.",
)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL)")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, containers: tuple[str, ...], force: bool, volumes: bool = False) -> int:
    """Remove one or more containers."""
    client = client_of(ctx)
    failed = []
    for name in containers:
        try:
            client.remove_container(name, force=force, volumes=volumes)
            click.echo(name)
        except APIError as err:
            failed.append(f"Error response from daemon: {err.message}")
    if failed:
        raise CliExit(1, "\n".join(failed))
    return 0


@click.command("build-busybox", context_settings=CONTEXT)
@click.pass_context
def build_busybox(ctx: click.Context) -> int:
    """Build busybox:latest from the host's busybox-static (idempotent)."""
    try:
        image_id = client_of(ctx).build_busybox()
    except APIError as err:
        raise daemon_error(err) from err
    click.echo(image_id)
    return 0


@click.command("build-debian", context_settings=CONTEXT)
@click.option("--suite", default="bookworm", show_default=True, help="Debian suite to bootstrap")
@click.pass_context
def build_debian(ctx: click.Context, suite: str) -> int:
    """Build debian:SUITE with mmdebstrap --variant=minbase (needs the mmdebstrap package and a Debian mirror)."""
    try:
        image_id = client_of(ctx).build_debian(suite)
    except APIError as err:
        raise daemon_error(err) from err
    click.echo(image_id)
    return 0


@click.command("check", context_settings=CONTEXT)
@click.pass_context
def system_check(ctx: click.Context) -> int:
    """Re-hash every blob and report corruption and dangling references; exits 1 when anything is wrong."""
    try:
        problems = client_of(ctx).system_check()
    except APIError as err:
        raise daemon_error(err) from err
    for problem in problems:
        click.echo(problem)
    if problems:
        raise CliExit(1, f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found")
    click.echo("no problems found")
    return 0
