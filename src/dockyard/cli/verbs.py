"""The verb table (name → module, attribute, one-line help) and `LazyGroup`, which imports a verb's module only
when that verb runs; `--help` lists every verb from the table without importing any of them.

Why: importing every command module (Go templates, tarfile, the attach machinery…) cost ~60 ms of each
`dockyard` call. tests/unit/cli/test_verbs.py checks the table against the commands themselves.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from dockyard.cli.exits import CONTEXT, PipeClosed

# name → (module under dockyard.cli, attribute: a click command, one-line help shown by --help)
Entry = tuple[str, str, str]

_RUN = ("commands", "run", "Create and run a new container from an image.")
_PS = ("containers_info", "ps", "List containers.")
_IMAGES = ("images", "images", "List images.")
_RMI = ("images", "rmi", "Remove one or more images.")
CONTAINER_VERBS: dict[str, Entry] = {
    "attach": ("containers_lifecycle", "attach", "Attach local standard input, output, and error streams to a "
               "running container."),
    "commit": ("containers_info", "commit", "Create a new image from a container's changes."),
    "cp": ("containers_copy", "cp", "Copy files/folders between a container and the local filesystem."),
    "create": ("commands", "create", "Create a new container."),
    "diff": ("containers_info", "diff", "Inspect changes to files or directories on a container's filesystem."),
    "events": ("system", "events", "Get real time events from the server."),
    "exec": ("exec", "exec_", "Execute a command in a running container."),
    "export": ("containers_copy", "export", "Export a container's filesystem as a tar archive."),
    "inspect": ("containers_info", "inspect", "Return low-level information on Docker objects."),
    "kill": ("containers_lifecycle", "kill", "Kill one or more running containers."),
    "logs": ("containers_lifecycle", "logs", "Fetch the logs of a container."),
    "pause": ("containers_lifecycle", "pause", "Pause all processes within one or more containers."),
    "ps": _PS,
    "rename": ("containers_info", "rename", "Rename a container."),
    "restart": ("containers_lifecycle", "restart", "Restart one or more containers."),
    "rm": ("commands", "rm", "Remove one or more containers."),
    "run": _RUN,
    "start": ("containers_lifecycle", "start", "Start one or more stopped containers."),
    "stats": ("system", "stats", "Display a live stream of container(s) resource usage statistics."),
    "stop": ("containers_lifecycle", "stop", "Stop one or more running containers."),
    "top": ("containers_info", "top", "Display the running processes of a container."),
    "unpause": ("containers_lifecycle", "unpause", "Unpause all processes within one or more containers."),
    "update": ("containers_info", "update", "Update configuration of one or more containers."),
    "wait": ("containers_lifecycle", "wait", "Block until one or more containers stop, then print their exit codes."),
}  # fmt: skip
IMAGE_VERBS: dict[str, Entry] = {
    "build": ("build", "build", "Build an image from a Dockerfile."),
    "build-busybox": ("commands", "build_busybox", "Build busybox:latest from the host's busybox-static "
                      "(idempotent)."),
    "build-debian": ("commands", "build_debian", "Build debian:SUITE with mmdebstrap --variant=minbase (needs the "
                     "mmdebstrap package and a Debian mirror)."),
    "history": ("images", "history", "Show the history of an image."),
    "import": ("images", "import_", "Import the contents from a tarball to create a filesystem image."),
    "inspect": ("images", "image_inspect", "Display detailed information on one or more images."),
    "list": _IMAGES,
    "load": ("images", "load", "Load an image from a tar archive or STDIN (plain, gzip, zstd, bzip2 or xz)."),
    "ls": _IMAGES,
    "prune": ("images", "image_prune", "Remove unused images."),
    "remove": _RMI,
    "rm": _RMI,
    "save": ("images", "save", "Save one or more images to a tar archive (streamed to STDOUT by default)."),
    "tag": ("images", "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."),
}  # fmt: skip
SYSTEM_VERBS: dict[str, Entry] = {
    "check": ("commands", "system_check", "Re-hash every blob and report corruption and dangling references; "
              "exits 1 when anything is wrong."),
    "df": ("system", "df", "Show docker disk usage."),
    "info": ("info", "info", "Display system-wide information."),
    "prune": ("system", "system_prune", "Remove unused data."),
}  # fmt: skip


class LazyGroup(click.Group):
    """A click group whose subcommands are named in a table and imported on first use."""

    def __init__(self, name: str, table: dict[str, Entry], **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT)
        super().__init__(name, **kwargs)
        self.table = table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.table, *self.commands})

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:  # fmt: skip
        try:  # eager options print here: --help, --version
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError as err:
            raise PipeClosed from err  # why: click.main would turn it into exit 1 (see PipeClosed)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as err:
            raise PipeClosed from err

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in self.table:
            module, attribute, _ = self.table[cmd_name]
            command = getattr(importlib.import_module(f"dockyard.cli.{module}"), attribute)
            assert isinstance(command, click.Command), f"{module}.{attribute}"
            self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, with the help text from the table (importing nothing)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            entry = self.table.get(name)
            text = entry[2] if entry else self.commands[name].get_short_help_str(limit)
            rows.append((name, click.utils.make_default_short_help(text, limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


container_group = LazyGroup(
    "container", {**CONTAINER_VERBS, "ls": _PS, "list": _PS,
                  "prune": ("containers_info", "container_prune", "Remove all stopped containers.")},
    help="Manage containers.",
)  # fmt: skip
image_group = LazyGroup("image", IMAGE_VERBS, help="Manage images.")
system_group = LazyGroup("system", SYSTEM_VERBS, help="Manage dockyard.")

TOP_VERBS: dict[str, Entry] = {
    **CONTAINER_VERBS,
    "build": IMAGE_VERBS["build"],
    "container": ("verbs", "container_group", "Manage containers."),
    "history": IMAGE_VERBS["history"],
    "image": ("verbs", "image_group", "Manage images."),
    "images": _IMAGES,
    "import": IMAGE_VERBS["import"],
    "info": ("info", "info", "Display system-wide information."),
    "load": IMAGE_VERBS["load"],
    "network": ("networks", "network", "Manage networks."),
    "port": ("networks", "port", "List port mappings or a specific mapping for the container."),
    "rmi": _RMI,
    "save": IMAGE_VERBS["save"],
    "system": ("verbs", "system_group", "Manage dockyard."),
    "tag": IMAGE_VERBS["tag"],
    "version": ("version", "version", "Show the dockyard version information."),
    "volume": ("volumes", "volume", "Manage volumes."),
}
