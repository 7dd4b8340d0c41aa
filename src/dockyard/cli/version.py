"""`dockyard version` and `dockyard --version` / `-v`: the client's version and build, then the server's.

The build is the git short sha of the checkout the package runs from (read from .git, no `git` process), or
"unknown" for an installed copy; the package version comes from the installed dist-info.
"""

from __future__ import annotations

import os
import platform

import click

from dockyard.cli.exits import CONTEXT, client_of, daemon_error
from dockyard.client.client import API_VERSION, APIError


def package_version() -> str:
    """The installed distribution's version, read from its dist-info (importlib.metadata costs ~20 ms)."""
    import sys

    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("dockyard-") and name.endswith(".dist-info"):
                for line in _read(os.path.join(entry, name, "METADATA")).splitlines():
                    if line.startswith("Version: "):
                        return line.removeprefix("Version: ").strip()
    return "unknown"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def git_commit(start: str | None = None) -> str:
    """The short sha of HEAD of the git checkout holding `start` (default: this package), else "unknown"."""
    import dockyard

    here = os.path.abspath(start or os.path.dirname(dockyard.__file__))
    while True:
        git_dir = os.path.join(here, ".git")
        if os.path.isdir(git_dir):
            break
        parent = os.path.dirname(here)
        if parent == here:
            return "unknown"
        here = parent
    head = _read(os.path.join(git_dir, "HEAD"))
    if head.startswith("ref: "):
        ref = head[5:]
        sha = _read(os.path.join(git_dir, ref))
        if not sha:
            packed = _read(os.path.join(git_dir, "packed-refs")).splitlines()
            sha = next((line.split()[0] for line in packed if line.endswith(f" {ref}")), "")
    else:
        sha = head
    return sha[:7] if len(sha) >= 7 and all(c in "0123456789abcdef" for c in sha) else "unknown"


def version_line() -> str:
    """docker's `Docker version 28.2.2, build e6534b4`, for dockyard."""
    return f"dockyard version {package_version()}, build {git_commit()}"


@click.command(context_settings=CONTEXT)
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.pass_context
def version(ctx: click.Context, fmt: str) -> int:
    """Show the dockyard version information."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    if fmt:
        return _formatted(ctx, fmt, arch)
    click.echo("Client:")
    client_rows = (
        ("Version", package_version()),
        ("API version", API_VERSION),
        ("Python version", platform.python_version()),
        ("Git commit", git_commit()),
        ("OS/Arch", f"linux/{arch}"),
    )
    for key, value in client_rows:
        click.echo(f" {key + ':':<18} {value}")
    try:
        server = client_of(ctx).version()
    except APIError as err:
        raise daemon_error(err) from err
    click.echo("")
    click.echo(f"Server: {server.get('Platform', {}).get('Name', '')}")
    click.echo(" Engine:")
    rows = (
        ("Version", server.get("Version", "")),
        ("API version", f"{server.get('ApiVersion', '')} (minimum version {server.get('MinAPIVersion', '')})"),
        ("Python version", str(server.get("GoVersion", "")).removeprefix("python")),
        ("OS/Arch", f"{server.get('Os', '')}/{server.get('Arch', '')}"),
        ("Kernel version", server.get("KernelVersion", "")),
    )
    for key, value in rows:
        click.echo(f"  {key + ':':<17} {value}")
    return 0


def _formatted(ctx: click.Context, fmt: str, arch: str) -> int:
    """`version -f`: docker's template named "version" over its versionInfo (gotemplate_types), written through
    a tabwriter (minwidth 20, padding 1). A bad template exits 64 before anything is asked; an execution error
    still prints what was written, then fails with exit 1."""
    from dockyard.cli import formatting
    from dockyard.cli.exits import CliExit
    from dockyard.cli.gotemplate import Function, TemplateError, parse
    from dockyard.cli.gotemplate_types import version_view

    functions = {"getDetailsOrder": Function(("any",), None, _details_order)}
    try:
        template = parse("{{json .}}" if fmt == "json" else fmt, functions)
    except TemplateError as err:
        raise CliExit(64, f"template parsing error: {_named(err.detail)}") from err
    client = {"Version": package_version(), "ApiVersion": API_VERSION, "DefaultAPIVersion": API_VERSION,
              "GitCommit": git_commit(), "GoVersion": f"python{platform.python_version()}", "Os": "linux",
              "Arch": arch, "Context": "default"}  # fmt: skip
    server: dict[str, object] | None = None
    failure: Exception | None = None
    try:
        server = dict(client_of(ctx).version())
    except APIError as err:
        failure = daemon_error(err)
    try:
        text, error = template.execute(version_view(client, server)), None
    except TemplateError as err:
        text, error = err.partial, err
    click.echo(formatting.tabwrite(text + "\n", minwidth=20, padding=1), nl=False)
    if failure is not None:
        raise failure
    if error is not None:
        raise CliExit(1, _named(error.detail)) from error
    return 0


def _named(detail: str) -> str:
    """Go's wording for a template named "version": `template: version:1:2: executing "version" at …`."""
    return detail.replace("template: :", "template: version:", 1).replace('executing "" at', 'executing "version" at')


def _details_order(component: object) -> list[str]:
    """docker's getDetailsOrder: the sorted keys of a types.ComponentVersion's Details."""
    from collections.abc import Mapping

    from dockyard.cli.gotemplate_values import unbox

    component = unbox(component)
    details = component.get("Details") if isinstance(component, Mapping) else None
    return sorted(details) if isinstance(details, Mapping) else []
