"""`dockyard` entry point: global options, the verb table, and the only place that prints errors and exits.

Errors become one `dockyard: …` line (plus an optional `hint:` line) and Docker's exit codes; an unexpected
exception is `dockyard: internal error: …` with exit 125, its traceback written only when DOCKYARD_DEBUG=1.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from dockyard.cli.commands import COMMANDS, CONTEXT, CliExit
from dockyard.cli.images import register as register_images
from dockyard.errors import EXIT_ENGINE_ERROR, DockyardError


@click.group(context_settings=CONTEXT)
@click.option("-H", "--host", default=None, help="Daemon socket to connect to (unix:///run/dockyard.sock)")
@click.option("--data-root", default=None, help="Root of persistent state (daemonless mode)")
@click.pass_context
def cli(ctx: click.Context, host: str | None, data_root: str | None) -> None:
    """A Docker-compatible container engine."""
    ctx.ensure_object(dict).update(host=host, data_root=data_root)


for command in COMMANDS:
    cli.add_command(command)
register_images(cli, cli.commands["image"])  # type: ignore[arg-type]


def _fail(code: int, message: str, hint: str | None = None) -> NoReturn:
    sys.stdout.flush()
    first, *rest = message.splitlines() or [""]
    sys.stderr.write(f"{first}\n" if first.startswith("Error: ") else f"dockyard: {first}\n")
    for line in rest:
        sys.stderr.write(f"{line}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.stderr.flush()
    sys.exit(code)


def _usage(err: click.UsageError) -> NoReturn:
    command = err.ctx.command_path if err.ctx is not None else "dockyard"
    _fail(EXIT_ENGINE_ERROR, f"{err.format_message()}\nSee '{command} --help'.")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result: Any = cli.main(args, prog_name="dockyard", standalone_mode=False)
    except CliExit as err:
        _fail(err.code, err.message, err.hint)
    except click.UsageError as err:
        _usage(err)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except click.Abort:
        _fail(130, "aborted")
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(141)
    except DockyardError as err:
        _fail(EXIT_ENGINE_ERROR, err.message, err.hint)
    except Exception as err:
        if os.environ.get("DOCKYARD_DEBUG") == "1":
            traceback.print_exc(file=sys.stderr)
        _fail(EXIT_ENGINE_ERROR, f"internal error: {type(err).__name__}: {err}")
    sys.stdout.flush()
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
