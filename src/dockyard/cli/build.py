"""`dockyard build PATH`: the context directory uploaded as a tar stream to POST /build (docker's classic builder).

Parse → client → render. The context is tarred while it is sent (client/build.py), never read whole first.
Builds themselves are not implemented by the engine yet: the daemon reads the context, then answers 501.
"""

from __future__ import annotations

import os

import click

from dockyard.cli.containers_info import daemon_error, fail
from dockyard.cli.exits import CONTEXT, client_of
from dockyard.client import build as api
from dockyard.client.client import APIError


def _dockerfile_in(context: str, dockerfile: str) -> str:
    """The `-f` file (relative to the working directory, as docker's) as a path inside the context."""
    if not dockerfile:
        return ""
    relative = os.path.relpath(os.path.abspath(dockerfile), context)
    if relative == ".." or relative.startswith("../"):
        raise fail(1, f"unable to prepare context: The Dockerfile ({os.path.abspath(dockerfile)}) must be within "
                      f"the build context ({context})")  # fmt: skip
    return relative


@click.command("build", context_settings=CONTEXT)
@click.option("-t", "--tag", multiple=True, help="Name and optionally a tag in the 'name:tag' format")
@click.option("-f", "--file", "dockerfile", default="", help="Name of the Dockerfile (Default is 'PATH/Dockerfile')")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success")
@click.argument("path")
@click.pass_context
def build(ctx: click.Context, tag: tuple[str, ...], dockerfile: str, quiet: bool, path: str) -> int:
    """Build an image from a Dockerfile."""
    context = os.path.abspath(path)
    if not os.path.isdir(context):
        raise fail(1, f'unable to prepare context: path "{path}" not found')
    name = _dockerfile_in(context, dockerfile)
    try:
        with api.context_tar(context) as upload:
            for msg in api.build(client_of(ctx), upload, tags=tag, dockerfile=name):
                if "stream" in msg and not quiet:
                    click.echo(str(msg["stream"]), nl=False)
    except APIError as err:
        raise daemon_error(err) from err
    except OSError as err:
        raise fail(1, f"read build context `{path}`: {(err.strerror or str(err)).lower()}") from err
    return 0
