"""The observing verbs: ps, inspect, top, diff, rename, update, container prune, commit. Parse → client → render
with Docker's columns, `--format` templates and messages; no engine imports, no exiting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from dockyard.cli import formatting, run_options
from dockyard.cli.containers_rows import PsRow as PsRow
from dockyard.cli.containers_rows import check_ps_format as check_ps_format
from dockyard.cli.containers_rows import created_at as created_at
from dockyard.cli.containers_rows import ellipsis as ellipsis
from dockyard.cli.containers_rows import ports_text as ports_text
from dockyard.cli.template_error import TemplateError
from dockyard.client import containers_info as api
from dockyard.client.client import APIError, Client
from dockyard.units import human_size

CONTEXT = {"help_option_names": ["--help"]}

PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
              "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE", "CreatedAt": "CREATED AT",
              "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
              "State": "STATE", "Platform": "PLATFORM"}  # fmt: skip


def client_of(ctx: click.Context) -> Client:
    from dockyard.cli.exits import client_of as get

    return get(ctx)


def fail(code: int, message: str) -> Exception:
    from dockyard.cli.exits import CliExit

    return CliExit(code, message)


def daemon_error(err: APIError, code: int = 1) -> Exception:
    return fail(code, f"Error response from daemon: {err.message}")


def parse_filters(values: tuple[str, ...]) -> dict[str, list[str]]:
    """`-f key=value` flags → {key: [values]} (docker's opts.FilterOpt)."""
    out: dict[str, list[str]] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            raise fail(125, f'invalid argument "{value}" for "-f, --filter" flag: bad format of filter '
                            "(expected name=value)")  # fmt: skip
        out.setdefault(key.strip().lower(), []).append(val.strip())
    return out


def _size_given(ctx: click.Context) -> bool:
    """Whether -s/--size was on the command line (docker's sizeChanged: `--size=false` keeps sizes off)."""
    source = ctx.get_parameter_source("size")
    return source is not None and source.name == "COMMANDLINE"


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers (includes all states)")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container (includes all states)")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@click.pass_context
def ps(ctx: click.Context, all_: bool, filters: tuple[str, ...], fmt: str, last: int, latest: bool,
       no_trunc: bool, quiet: bool, size: bool) -> int:  # fmt: skip
    """List containers."""
    wanted = parse_filters(filters)
    limit = 1 if latest else max(last, 0)
    want_size = size
    if fmt:
        uses_size = check_ps_format(fmt)
        want_size = size or (uses_size and not quiet and not _size_given(ctx))
        if quiet:
            click.echo("WARNING: Ignoring custom format, because both --format and --quiet are set.", err=True)
    try:
        found = api.containers(client_of(ctx), all=all_, limit=limit, size=want_size, filters=wanted)
    except APIError as err:
        raise daemon_error(err) from err
    rows = [PsRow(c, trunc=not no_trunc) for c in found]
    if quiet:
        for row in rows:
            click.echo(row["ID"])
        return 0
    default = PS_TABLE + ("\t{{.Size}}" if want_size else "")
    try:
        text = formatting.format_rows(fmt or None, rows, default_table=default, headers=PS_HEADERS)
    except TemplateError as err:
        raise fail(1, err.message) from err
    click.echo(text, nl=False)
    return 0


@click.command(context_settings=CONTEXT)
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes if the type is container")
@click.option("--type", "kind", default="", help="Return JSON for specified type")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, fmt: str, size: bool, kind: str, names: tuple[str, ...]) -> int:
    """Return low-level information on Docker objects."""
    kinds = ("container", "image", "network", "volume")
    if kind and kind not in kinds:
        raise fail(125, f'"{kind}" is not a valid value for --type')
    return print_inspect(client_of(ctx), names, fmt, (kind,) if kind else kinds, size=size)


def print_inspect(client: Client, names: tuple[str, ...], fmt: str, kinds: tuple[str, ...], *, size: bool) -> int:
    """docker's inspect output: one JSON array of what was found (or the template per object), then an
    `Error: No such object: x` line per missing name (exit 1)."""
    from dockyard.cli.gotemplate import parse

    template = None
    if fmt and fmt != "json":
        try:
            template = parse(fmt)
        except TemplateError as err:
            raise fail(64, err.message) from err  # docker's inspect: StatusError{StatusCode: 64}
    found, missing = [], []
    for name in names:
        doc = _find(client, name, kinds, size=size)
        if doc is None:
            missing.append(name)
        else:
            found.append(doc)
    lines, failures = [], []
    if fmt == "json" and (found or not missing):
        from dockyard.cli.gotemplate_types import inspect_json

        lines.append(inspect_json(found))
    elif template is None:
        lines.append(json.dumps(found, indent=4, ensure_ascii=False) if found or not missing else "[]")
    else:
        for doc in found:  # docker reports a failed template per object and goes on with the next
            try:
                lines.append(template.execute_inspect(doc))
            except TemplateError as err:
                failures.append(err.message)
    click.echo("\n".join(lines))
    if missing or failures:
        noun = {"container": "container", "image": "image", "network": "network", "volume": "volume"}
        what = noun[kinds[0]] if len(kinds) == 1 else "object"
        raise fail(1, "\n".join([*failures, *(f"Error: No such {what}: {name}" for name in missing)]))
    return 0


def _find(client: Client, name: str, kinds: tuple[str, ...], *, size: bool) -> dict[str, Any] | None:
    for kind in kinds:
        try:
            return api.inspect(client, kind, name, size=size)
        except APIError as err:
            if err.http_status != 404:
                raise daemon_error(err) from err
    return None


@click.command(context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def top(ctx: click.Context, container: str, ps_args: tuple[str, ...]) -> int:
    """Display the running processes of a container."""
    try:
        result = api.top(client_of(ctx), container, " ".join(ps_args))
    except APIError as err:
        raise daemon_error(err) from err
    lines = ["\t".join(result.get("Titles") or ())]
    lines += ["\t".join(p) for p in result.get("Processes") or ()]
    click.echo(formatting.tabwrite("\n".join(lines) + "\n", minwidth=20, padding=3), nl=False)
    return 0


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.pass_context
def diff(ctx: click.Context, container: str) -> int:
    """Inspect changes to files or directories on a container's filesystem."""
    try:
        found = api.changes(client_of(ctx), container)
    except APIError as err:
        raise daemon_error(err) from err
    for change in found:
        click.echo(f"{'CAD'[int(change['Kind'])]} {change['Path']}")
    return 0


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.argument("new_name")
@click.pass_context
def rename(ctx: click.Context, container: str, new_name: str) -> int:
    """Rename a container."""
    if not container.strip() or not new_name.strip():
        raise fail(1, "Error: Neither old nor new names may be empty")
    try:
        api.rename(client_of(ctx), container, new_name)
    except APIError as err:
        raise daemon_error(err) from err
    return 0


@click.command("prune", context_settings=CONTEXT)
@click.option("--filter", "filters", multiple=True, help='Provide filter values (e.g. "until=<timestamp>")')
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_context
def container_prune(ctx: click.Context, filters: tuple[str, ...], force: bool) -> int:
    """Remove all stopped containers."""
    wanted = parse_filters(filters)
    if not force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    try:
        report = api.prune(client_of(ctx), wanted)
    except APIError as err:
        raise daemon_error(err) from err
    deleted = report.get("ContainersDeleted") or []
    if deleted:
        click.echo("Deleted Containers:")
        for cid in deleted:
            click.echo(cid)
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(int(report.get('SpaceReclaimed') or 0))}")
    return 0


def confirm(warning: str) -> bool:
    """docker's prompt: the warning, `Are you sure you want to continue? [y/N] `; anything but y/yes is no."""
    click.echo(warning)
    click.echo("Are you sure you want to continue? [y/N] ", nl=False)
    answer = click.get_text_stream("stdin").readline().strip().lower()
    return answer in ("y", "yes")


@click.command(context_settings=CONTEXT)
@click.option("-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
@click.option("-c", "--change", multiple=True, help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", default="", help="Commit message")
@click.option("-p/--pause", "--pause/--no-pause", "pause", default=True, help="Pause container during commit")
@click.argument("container")
@click.argument("repository", required=False, default="")
@click.pass_context
def commit(ctx: click.Context, author: str, change: tuple[str, ...], message: str, pause: bool, container: str,
           repository: str) -> int:  # fmt: skip
    """Create a new image from a container's changes."""
    repo, tag = repository, ""
    if repository:
        head, sep, last = repository.rpartition(":")
        if sep and "/" not in last:
            repo, tag = head, last
        else:
            tag = "latest"
    try:
        image_id = api.commit(client_of(ctx), container, repo=repo, tag=tag, author=author, comment=message,
                              changes=change, pause=pause)  # fmt: skip
    except APIError as err:
        raise daemon_error(err) from err
    click.echo(image_id)
    return 0


@click.command(context_settings=CONTEXT)
@click.option("--blkio-weight", default=None, help="Block IO (relative weight)")
@click.option("--cpu-shares", "-c", default=None, help="CPU shares (relative weight)")
@click.option("--cpus", default=None, help="Number of CPUs")
@click.option("-m", "--memory", default=None, help="Memory limit")
@click.option("--memory-swap", default=None, help="Swap limit equal to memory plus swap: -1 to enable unlimited swap")
@click.option("--pids-limit", default=None, help="Tune container pids limit (set -1 for unlimited)")
@click.option("--restart", default=None, help="Restart policy to apply when a container exits")
@run_options.update_options
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def update(ctx: click.Context, /, containers: tuple[str, ...], **opts: str | None) -> int:
    """Update configuration of one or more containers."""
    body = update_body(opts)
    if not body:
        raise fail(125, "You must provide one or more flags when using this command.")
    client, failed = client_of(ctx), []
    for name in containers:
        try:
            api.update(client, name, body)
            click.echo(name)
        except APIError as err:
            failed.append(f"Error response from daemon: {err.message}")
    if failed:
        raise fail(1, "\n".join(failed))
    return 0


def update_body(opts: Mapping[str, str | None]) -> dict[str, Any]:
    from dockyard.cli import parse

    body: dict[str, Any] = {}
    try:
        if opts.get("memory") is not None:
            body["Memory"] = parse.ram_in_bytes(str(opts["memory"]), "--memory")
        swap = opts.get("memory_swap")
        if swap is not None:
            body["MemorySwap"] = -1 if swap == "-1" else parse.ram_in_bytes(swap, "--memory-swap")
        if opts.get("cpus") is not None:
            body["NanoCpus"] = parse.nano_cpus(str(opts["cpus"]))
    except Exception as err:
        raise fail(125, str(err)) from err
    body.update(run_options.update_fields(opts))
    for flag, key in (("cpu_shares", "CpuShares"), ("pids_limit", "PidsLimit"), ("blkio_weight", "BlkioWeight")):
        value = opts.get(flag)
        if value is not None:
            if not value.lstrip("-").isdigit():
                name = "--" + flag.replace("_", "-")
                raise fail(125, f'invalid argument "{value}" for "{name}" flag: strconv.ParseInt: parsing '
                                f'"{value}": invalid syntax')  # fmt: skip
            body[key] = int(value)
    restart = opts.get("restart")
    if restart is not None:
        name, _, count = restart.partition(":")
        if name not in ("no", "always", "on-failure", "unless-stopped") or (count and not count.isdigit()):
            raise fail(125, f"invalid restart policy format: {restart}" if count and not count.isdigit()
                       else f"invalid restart policy {name}")  # fmt: skip
        body["RestartPolicy"] = {"Name": name, "MaximumRetryCount": int(count or 0)}
    return body


COMMANDS = (ps, inspect, top, diff, rename, commit, update)
