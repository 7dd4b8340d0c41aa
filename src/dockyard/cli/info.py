"""`dockyard info [--format]`: GET /info rendered as docker's `info` (Client/Server sections) or a Go template.
Rendering only; the facts come from the daemon (api/system_info.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from dockyard.cli.exits import CONTEXT, CliExit, client_of, daemon_error
from dockyard.client.client import APIError

# (label, key) of the server section, in docker's order; nested values are rendered by _server_lines
_SERVER_ROWS = (
    ("Server Version", "ServerVersion"), ("Storage Driver", "Driver"), ("Logging Driver", "LoggingDriver"),
    ("Cgroup Driver", "CgroupDriver"), ("Cgroup Version", "CgroupVersion"), ("Default Runtime", "DefaultRuntime"),
    ("Kernel Version", "KernelVersion"), ("Operating System", "OperatingSystem"), ("OSType", "OSType"),
    ("Architecture", "Architecture"), ("CPUs", "NCPU"), ("Total Memory", "MemTotal"), ("Name", "Name"),
    ("ID", "ID"), ("Docker Root Dir", "DockerRootDir"), ("Debug Mode", "Debug"),
)  # fmt: skip


def _bytes(n: int) -> str:
    """go-units BytesSize: `15.53GiB`."""
    value, units = float(n), ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    index = 0
    while value >= 1024 and index < len(units) - 1:
        value, index = value / 1024, index + 1
    return f"{value:.4g}{units[index]}"


def _value(key: str, value: Any) -> str:
    if key == "MemTotal" and isinstance(value, int):
        return _bytes(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def server_lines(info: Mapping[str, Any]) -> list[str]:
    lines = ["Server:", f" Containers: {info.get('Containers', 0)}"]
    lines += [
        f"  {label}: {info.get(key, 0)}"
        for label, key in (
            ("Running", "ContainersRunning"),
            ("Paused", "ContainersPaused"),
            ("Stopped", "ContainersStopped"),
        )
    ]
    lines.append(f" Images: {info.get('Images', 0)}")  # fmt: skip
    for label, key in _SERVER_ROWS:
        if key in info:
            lines.append(f" {label}: {_value(key, info[key])}")
        if key == "DefaultRuntime":
            lines.append(f" Runtimes: {' '.join(sorted(info.get('Runtimes') or {}))}")
    for warning in info.get("Warnings") or ():
        lines.append(warning)
    return lines


@click.command("info", context_settings=CONTEXT)
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.pass_context
def info(ctx: click.Context, fmt: str) -> int:
    """Display system-wide information."""
    try:
        data = client_of(ctx).request_json("GET", "/info")
    except APIError as err:
        raise daemon_error(err) from err
    if fmt:
        return _formatted(data, fmt)
    click.echo("Client:\n Context:    default\n Debug Mode: false\n")
    click.echo("\n".join(server_lines(data)))
    return 0


def _formatted(data: Mapping[str, Any], fmt: str) -> int:
    """`info -f`: docker's formatInfo, the template over dockerInfo (system.Info embedded beside the client's
    information, gotemplate_types.info_view); a bad template exits 64, an execution error prints what was
    written and a newline, then fails with exit 1."""
    import platform

    from dockyard.cli.gotemplate import TemplateError, parse
    from dockyard.cli.gotemplate_types import info_view
    from dockyard.cli.version import git_commit, package_version
    from dockyard.client.client import API_VERSION

    try:
        template = parse("{{json .}}" if fmt == "json" else fmt)
    except TemplateError as err:
        raise CliExit(64, err.message) from err
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    # the docker CLI's info leaves ApiVersion empty: its clientVersion is built without a connection
    client = {"Debug": False, "Version": package_version(), "DefaultAPIVersion": API_VERSION,
              "GitCommit": git_commit(), "GoVersion": f"python{platform.python_version()}", "Os": "linux",
              "Arch": arch, "Context": "default"}  # fmt: skip
    try:
        text, error = template.execute(info_view(data, client)), None
    except TemplateError as err:
        text, error = err.partial, err
    click.echo(text)
    if error is not None:
        raise CliExit(1, error.detail) from error
    return 0
