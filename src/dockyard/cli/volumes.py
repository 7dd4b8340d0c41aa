"""The `volume` verbs (create, ls, inspect, rm, prune) and the mount flags of `run`/`create` (-v, --mount, --tmpfs,
--volumes-from). Parse → client → render with docker CLI 28's texts; no engine imports, no exiting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from dockyard.cli.gotemplate_typed import RowContext
from dockyard.client.client import APIError
from dockyard.units import human_size

CONTEXT = {"help_option_names": ["--help"]}
F = TypeVar("F", bound=Callable[..., Any])

LS_TABLE = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"ID": "ID", "Name": "VOLUME NAME", "Group": "GROUP", "Driver": "DRIVER", "Scope": "SCOPE",
              "Availability": "AVAILABILITY", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS",
              "Size": "SIZE", "Status": "STATUS"}  # fmt: skip
PRUNE_ANONYMOUS = "WARNING! This will remove anonymous local volumes not used by at least one container."
PRUNE_ALL = "WARNING! This will remove all local volumes not used by at least one container."

RUN_OPTIONS = (
    click.option("-v", "--volume", "volume", multiple=True, help="Bind mount a volume"),
    click.option("--mount", "mount", multiple=True, help="Attach a filesystem mount to the container"),
    click.option("--tmpfs", "tmpfs", multiple=True, help="Mount a tmpfs directory"),
    click.option("--volumes-from", "volumes_from", multiple=True, help="Mount volumes from the specified container(s)"),
)


def run_options(func: F) -> F:
    """The mount flags of `run` and `create`."""
    for option in reversed(RUN_OPTIONS):
        func = option(func)
    return func


def create_options(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The flags above → `CreateOptions` keyword arguments (InvalidArgument with Docker's message when bad)."""
    from dockyard.client.mounts import create_options as mount_options

    return mount_options(
        opts.get("volume", ()), opts.get("mount", ()), opts.get("tmpfs", ()), opts.get("volumes_from", ()),
        cwd=os.getcwd(),
    )  # fmt: skip


def _client(ctx: click.Context) -> Any:
    from dockyard.cli.exits import client_of

    return client_of(ctx)


def _fail(code: int, message: str) -> Exception:
    from dockyard.cli.exits import CliExit

    return CliExit(code, message)


def _daemon(err: APIError) -> Exception:
    return _fail(1, f"Error response from daemon: {err.message}")


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if flag == "opt" and not sep:
            raise _fail(125, f'invalid argument "{value}" for "-o, --opt" flag: invalid key value pair format '
                             f'"{value}"')  # fmt: skip
        out[key] = val
    return out


def _filters(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, dict[str, bool]] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            raise _fail(125, f'invalid argument "{value}" for "-f, --filter" flag: bad format of filter '
                             "(expected name=value)")  # fmt: skip
        out.setdefault(key.strip().lower(), {})[val.strip()] = True
    return {"filters": json.dumps(out)} if out else {}


@click.group(context_settings=CONTEXT)
def volume() -> None:
    """Manage volumes."""


@volume.command("create", context_settings=CONTEXT)
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.option("--name", "name_flag", default="", help="Specify volume name")
@click.option("--label", multiple=True, help="Set metadata for a volume")
@click.option("-o", "--opt", multiple=True, help="Set driver specific options")
@click.argument("name", required=False, default="")
@click.pass_context
def create(
    ctx: click.Context, name: str, name_flag: str, driver: str, label: tuple[str, ...], opt: tuple[str, ...]
) -> int:
    """Create a volume."""
    if name and name_flag and name != name_flag:
        raise _fail(125, "conflicting options: either specify --name or provide positional arg, not both")
    body: dict[str, Any] = {"Driver": driver, "Labels": _pairs(label, "label"), "Name": name or name_flag}
    if opt:
        body["DriverOpts"] = _pairs(opt, "opt")
    try:
        created = _client(ctx).request_json("POST", "/volumes/create", body=body)
    except APIError as err:
        raise _daemon(err) from err
    click.echo(created["Name"])
    return 0


class VolumeRow(RowContext):
    """docker's formatter.volumeContext: what `volume ls --format` reaches, plus `.Label "key"`."""

    go_name = "*formatter.volumeContext"

    def __init__(self, v: Mapping[str, Any]) -> None:
        self._labels = dict(v.get("Labels") or {})
        usage = v.get("UsageData")
        na = "N/A"  # Group, Availability and Status belong to swarm cluster volumes, which dockyard has not
        super().__init__({
            "Name": v["Name"], "Driver": v["Driver"], "Scope": v.get("Scope", "local"),
            "Mountpoint": v.get("Mountpoint", ""),
            "Labels": ",".join(f"{k}={self._labels[k]}" for k in sorted(self._labels)),
            "Links": str(usage.get("RefCount", 0)) if usage else na,
            "Size": human_size(int(usage.get("Size", 0))) if usage else na,
            "Group": na, "Availability": na, "Status": na,
        })  # fmt: skip

    def Label(self, name: str) -> str:
        return str(self._labels.get(name, ""))


@volume.command("ls", context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'dangling=true')")
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.pass_context
def ls(ctx: click.Context, quiet: bool, filters: tuple[str, ...], fmt: str) -> int:
    """List volumes."""
    try:
        data = _client(ctx).request_json("GET", "/volumes", query=_filters(filters))
    except APIError as err:
        raise _daemon(err) from err
    volumes = sorted(data.get("Volumes") or [], key=lambda v: v["Name"])
    if quiet and fmt in ("", "table"):  # docker: a custom --format wins over --quiet
        for v in volumes:
            click.echo(v["Name"])
        return 0
    from dockyard.cli import formatting
    from dockyard.cli.template_error import TemplateError

    try:
        text = formatting.format_rows(fmt or None, [VolumeRow(v) for v in volumes], default_table=LS_TABLE,
                                      headers=LS_HEADERS)  # fmt: skip
    except TemplateError as err:
        raise _fail(1, err.message) from err  # docker's formatter: exit 1 for parse and execution errors alike
    click.echo(text, nl=False)
    return 0


@volume.command("inspect", context_settings=CONTEXT)
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.argument("volumes", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, volumes: tuple[str, ...], fmt: str) -> int:
    """Display detailed information on one or more volumes."""
    if fmt:  # docker's inspect.Inspect: typed run then raw fallback, exit 64 on a bad template
        from dockyard.cli.containers_info import print_inspect

        return print_inspect(_client(ctx), volumes, fmt, ("volume",), size=False)
    client, found, missing = _client(ctx), [], []
    for name in volumes:
        try:
            found.append(client.request_json("GET", f"/volumes/{name}"))
        except APIError as err:
            if err.http_status != 404:
                raise _daemon(err) from err
            missing.append(name)
    if fmt:
        from dockyard.cli.gotemplate import TemplateError, render

        try:
            for doc in found:
                click.echo(render(fmt, doc))
        except TemplateError as err:
            raise _fail(125, err.message) from err
    else:
        click.echo(json.dumps(found, indent=4, ensure_ascii=False))
    if missing:
        raise _fail(1, "\n".join(f"Error: No such volume: {name}" for name in missing))
    return 0


@volume.command("rm", context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@click.argument("volumes", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, volumes: tuple[str, ...], force: bool) -> int:
    """Remove one or more volumes. You cannot remove a volume that is in use by a container."""
    client, failed = _client(ctx), []
    for name in volumes:
        try:
            client.request_json("DELETE", f"/volumes/{name}", query={"force": "1"} if force else None)
            click.echo(name)
        except APIError as err:
            failed.append(f"Error response from daemon: {err.message}")
    if failed:
        raise _fail(1, "\n".join(failed))
    return 0


@volume.command("prune", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<label>')")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_context
def prune(ctx: click.Context, all_: bool, filters: tuple[str, ...], force: bool) -> int:
    """Remove unused local volumes."""
    if all_:
        filters = (*filters, "all=true")
    if not force:
        from dockyard.cli.containers_info import confirm

        if not confirm(PRUNE_ALL if all_ else PRUNE_ANONYMOUS):
            return 0
    try:
        report = _client(ctx).request_json("POST", "/volumes/prune", query=_filters(filters))
    except APIError as err:
        raise _daemon(err) from err
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        click.echo("Deleted Volumes:")
        for name in deleted:
            click.echo(name)
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(float(report.get('SpaceReclaimed') or 0))}")
    return 0


COMMANDS = (volume,)
