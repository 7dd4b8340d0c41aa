"""The `network` verbs (create, ls, inspect, rm, prune, connect, disconnect), `port`, and the networking flags of
`run`/`create`. Parse → client → render; no engine imports, no exiting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from dockyard.cli.gotemplate_typed import GoTime, RowContext
from dockyard.client.client import APIError

CONTEXT = {"help_option_names": ["--help"]}
LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4",
              "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}  # fmt: skip
F = TypeVar("F", bound=Callable[..., Any])

RUN_OPTIONS = (
    click.option("--network", "--net", "network", default="", help="Connect a container to a network"),
    click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)"),
    click.option("--network-alias", multiple=True, help="Add network-scoped alias for the container"),
    click.option("--dns", multiple=True, help="Set custom DNS servers"),
    click.option("--dns-search", multiple=True, help="Set custom DNS search domains"),
    click.option("--dns-option", multiple=True, help="Set DNS options"),
    click.option("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)"),
    click.option("--mac-address", default="", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    click.option("--expose", multiple=True, help="Expose a port or a range of ports"),
    click.option("-p", "--publish", multiple=True, help="Publish a container's port(s) to the host"),
    click.option("-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports"),
)


def run_options(func: F) -> F:
    """The networking flags of `run` and `create`."""
    for option in reversed(RUN_OPTIONS):
        func = option(func)
    return func


def create_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The flags above → `CreateOptions` keyword arguments."""
    return {
        "network": opts["network"],
        "ip": opts["ip"],
        "network_aliases": tuple(opts["network_alias"]),
        "dns": tuple(opts["dns"]),
        "dns_search": tuple(opts["dns_search"]),
        "dns_options": tuple(opts["dns_option"]),
        "extra_hosts": tuple(opts["add_host"]),
        "mac_address": opts["mac_address"],
        "expose": tuple(opts["expose"]),
        "publish": tuple(opts["publish"]),
        "publish_all": opts["publish_all"],
    }


def _client(ctx: click.Context) -> Any:
    from dockyard.cli.exits import client_of

    return client_of(ctx)


def _fail(err: APIError) -> Exception:
    from dockyard.cli.exits import CliExit

    return CliExit(1, f"Error response from daemon: {err.message}")


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, _, v in (x.partition("=") for x in values)}


@click.group(context_settings=CONTEXT)
def network() -> None:
    """Manage networks."""


@network.command("create", context_settings=CONTEXT)
@click.option("-d", "--driver", default="bridge", help="Driver to manage the Network")
@click.option("--subnet", default="", help="Subnet in CIDR format that represents a network segment")
@click.option("--gateway", default="", help="IPv4 Gateway for the master subnet")
@click.option("--ip-range", default="", help="Allocate container ip from a sub-range")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--label", multiple=True, help="Set metadata on a network")
@click.option("-o", "--opt", multiple=True, help="Set driver specific options")
@click.argument("name")
@click.pass_context
def create(ctx: click.Context, /, name: str, **o: Any) -> int:
    """Create a network."""
    pool = {k: v for k, v in (("Subnet", o["subnet"]), ("Gateway", o["gateway"]), ("IPRange", o["ip_range"])) if v}
    body = {"Name": name, "Driver": o["driver"], "Internal": o["internal"], "Labels": _pairs(o["label"]),
            "Options": _pairs(o["opt"]), "IPAM": {"Driver": "default", "Config": [pool] if pool else []},
            "CheckDuplicate": True}  # fmt: skip
    try:
        click.echo(_client(ctx).request_json("POST", "/networks/create", body=body)["Id"])
    except APIError as err:
        raise _fail(err) from err
    return 0


def _filters(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, dict[str, bool]] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            from dockyard.cli.exits import CliExit

            raise CliExit(125, f"invalid argument \"{value}\" for \"-f, --filter\" flag: bad format of filter "
                          "(expected name=value)")  # fmt: skip
        out.setdefault(key, {})[val] = True
    return {"filters": json.dumps(out)} if out else {}


@network.command("ls", context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'driver=bridge')")
@click.option("--format", "fmt", default="", help="Pretty-print networks using a Go template")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@click.pass_context
def ls(ctx: click.Context, quiet: bool, filters: tuple[str, ...], fmt: str, no_trunc: bool) -> int:
    """List networks."""
    try:
        nets = _client(ctx).request_json("GET", "/networks", query=_filters(filters))
    except APIError as err:
        raise _fail(err) from err
    nets.sort(key=lambda n: n["Name"])
    if quiet and fmt in ("", "table"):  # docker: a custom --format wins over --quiet
        for n in nets:
            click.echo(n["Id"] if no_trunc else n["Id"][:12])
        return 0
    from dockyard.cli import formatting
    from dockyard.cli.exits import CliExit
    from dockyard.cli.template_error import TemplateError

    if fmt == "raw":
        fmt = "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n"
    try:
        text = formatting.format_rows(fmt or None, [NetworkRow(n, trunc=not no_trunc) for n in nets],
                                      default_table=LS_TABLE, headers=LS_HEADERS)  # fmt: skip
    except TemplateError as err:
        raise CliExit(1, err.message) from err  # docker's formatter: exit 1 for parse and execution errors alike
    click.echo(text, nl=False)
    return 0


class NetworkRow(RowContext):
    """docker's network.networkContext: what `network ls --format` reaches, plus `.Label "key"`."""

    go_name = "*network.networkContext"

    def __init__(self, n: Mapping[str, Any], *, trunc: bool) -> None:
        self._labels = dict(n.get("Labels") or {})
        created = n.get("Created") or "0001-01-01T00:00:00Z"
        super().__init__({
            "ID": n["Id"][:12] if trunc else n["Id"], "Name": n["Name"], "Driver": n["Driver"],
            "Scope": n["Scope"], "IPv4": _go_bool(n.get("EnableIPv4")), "IPv6": _go_bool(n.get("EnableIPv6")),
            "Internal": _go_bool(n.get("Internal")),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(self._labels.items())),
            "CreatedAt": str(GoTime(str(created))),  # time.Time.String
        })  # fmt: skip

    def Label(self, name: str) -> str:
        return str(self._labels.get(name, ""))


def _go_bool(value: object) -> str:
    return "true" if value is True else "false"


@network.command("inspect", context_settings=CONTEXT)
@click.option("-f", "--format", "fmt", default="", help="Format the output using the given Go template")
@click.argument("networks", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, networks: tuple[str, ...], fmt: str) -> int:
    """Display detailed information on one or more networks."""
    if fmt:  # docker's inspect.Inspect: typed run then raw fallback, exit 64 on a bad template
        from dockyard.cli.containers_info import print_inspect

        return print_inspect(_client(ctx), networks, fmt, ("network",), size=False)
    client, found, missing = _client(ctx), [], []
    for name in networks:
        try:
            found.append(client.request_json("GET", f"/networks/{name}"))
        except APIError as err:
            if err.http_status != 404:
                raise _fail(err) from err
            missing.append(name)
    if fmt:
        from dockyard.cli.gotemplate import render

        for doc in found:
            click.echo(render(fmt, doc))
    else:
        click.echo(json.dumps(found, indent=4, ensure_ascii=False))
    if missing:
        from dockyard.cli.exits import CliExit

        raise CliExit(1, "\n".join(f"Error: No such network: {name}" for name in missing))
    return 0


@network.command("rm", context_settings=CONTEXT)
@click.argument("networks", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, networks: tuple[str, ...]) -> int:
    """Remove one or more networks."""
    client, failed = _client(ctx), []
    for name in networks:
        try:
            client.request_json("DELETE", f"/networks/{name}")
            click.echo(name)
        except APIError as err:
            failed.append(f"Error response from daemon: {err.message}")
    if failed:
        from dockyard.cli.exits import CliExit

        raise CliExit(1, "\n".join(failed))
    return 0


@network.command("prune", context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=<timestamp>')")
@click.pass_context
def prune(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> int:
    """Remove all unused networks."""
    if not force and not click.confirm(
        "WARNING! This will remove all custom networks not used by at least one container.\n"
        "Are you sure you want to continue?",
        default=False,
    ):
        return 0
    try:
        data = _client(ctx).request_json("POST", "/networks/prune", query=_filters(filters))
    except APIError as err:
        raise _fail(err) from err
    deleted = data.get("NetworksDeleted") or []
    if deleted:
        click.echo("Deleted Networks:")
        for name in deleted:
            click.echo(name)
    return 0


@network.command("connect", context_settings=CONTEXT)
@click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
@click.option("--alias", multiple=True, help="Add network-scoped alias for the container")
@click.argument("network_name")
@click.argument("container")
@click.pass_context
def connect(ctx: click.Context, network_name: str, container: str, ip: str, alias: tuple[str, ...]) -> int:
    """Connect a container to a network."""
    config: dict[str, Any] = {"Aliases": list(alias) or None}
    if ip:
        config["IPAMConfig"] = {"IPv4Address": ip}
    body = {"Container": container, "EndpointConfig": config}
    try:
        _client(ctx).request_json("POST", f"/networks/{network_name}/connect", body=body)
    except APIError as err:
        raise _fail(err) from err
    return 0


@network.command("disconnect", context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network")
@click.argument("network_name")
@click.argument("container")
@click.pass_context
def disconnect(ctx: click.Context, network_name: str, container: str, force: bool) -> int:
    """Disconnect a container from a network."""
    body = {"Container": container, "Force": force}
    try:
        _client(ctx).request_json("POST", f"/networks/{network_name}/disconnect", body=body)
    except APIError as err:
        raise _fail(err) from err
    return 0


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.argument("private_port", required=False)
@click.pass_context
def port(ctx: click.Context, container: str, private_port: str | None) -> int:
    """List port mappings or a specific mapping for the container."""
    try:
        doc = _client(ctx).request_json("GET", f"/containers/{container}/json")
    except APIError as err:
        raise _fail(err) from err
    from dockyard.cli import ports_column
    from dockyard.cli.exits import CliExit

    ports: dict[str, Any] = doc.get("NetworkSettings", {}).get("Ports") or {}
    wanted = None
    if private_port:
        number, _, proto = private_port.partition("/")
        if not (number.isascii() and number.isdigit()) or int(number) > 65535:  # Go's strconv.ParseUint(port, 10, 16)
            reason = "value out of range" if number.isascii() and number.isdigit() else "invalid syntax"
            raise CliExit(1, f'Error: invalid port ({number}): strconv.ParseUint: parsing "{number}": {reason}')
        wanted = f"{number}/{proto or 'tcp'}"
    lines = ports_column.port_lines(ports, wanted)
    if wanted is not None and not lines:
        raise CliExit(1, f"Error: No public port '{private_port}' published for {container}")
    for line in lines:
        click.echo(line)
    return 0


COMMANDS = (network, port)
