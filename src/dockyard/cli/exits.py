"""What every verb shares and nothing heavy: `CliExit`, the click context settings, the per-invocation client.

Kept free of click commands and of the client's models so that `dockyard <verb>` imports only that verb's module
(cli/verbs.py); commands raise `CliExit`, only cli/main.py exits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click

    from dockyard.client.client import APIError, Client

CONTEXT: dict[str, Any] = {"help_option_names": ["--help"]}


class CliExit(Exception):
    """Stop with `code`, printing `message` (and an optional hint) to stderr."""

    def __init__(self, code: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


class PipeClosed(Exception):
    """stdout's reader went away (EPIPE): the program ends quietly with 141, as the docker CLI killed by SIGPIPE.

    Not an OSError on purpose: click.main turns an EPIPE OSError into a plain exit 1."""


def client_of(ctx: click.Context) -> Client:
    """The Client of this invocation, made on first use from -H / --data-root (client.client.from_env)."""
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "client" not in obj:
        from dockyard.client.client import from_env

        obj["client"] = from_env(obj.get("host"), obj.get("data_root"), tls=obj.get("tls"))
    client: Client = obj["client"]
    return client


def daemon_error(err: APIError, code: int = 1) -> CliExit:
    return CliExit(code, f"Error response from daemon: {err.message}")
