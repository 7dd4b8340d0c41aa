"""`dockyard` entry point: global options, the verb table, and the only place that prints errors and exits.

Errors become one `dockyard: …` line (plus an optional `hint:` line) and Docker's exit codes; an unexpected
exception is `dockyard: internal error: …` with exit 125, its traceback written only when DOCKYARD_DEBUG=1.
`entry()` (the launcher's and `python -m`'s) leaves with os._exit once stdout and stderr are flushed: tearing the
interpreter down (module teardown, GC of every object) cost ~40 ms and nothing is left to do at that point.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from dockyard import tracing
from dockyard.cli.exits import CONTEXT, CliExit, PipeClosed
from dockyard.cli.verbs import TOP_VERBS, LazyGroup
from dockyard.errors import EXIT_ENGINE_ERROR, DockyardError

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`--version` / `-v`: docker's one line (`Docker version 28.2.2, build e6534b4`), for dockyard."""
    if value and not ctx.resilient_parsing:
        from dockyard.cli.version import version_line

        click.echo(version_line())
        ctx.exit(0)


@click.group(cls=LazyGroup, table=TOP_VERBS, context_settings=CONTEXT)
@click.option("-H", "--host", default=None, help="Daemon socket to connect to (unix:///run/dockyard.sock)")
@click.option("--data-root", default=None, help="Root of persistent state (daemonless mode)")
@click.option("--tls", is_flag=True, help="Use TLS; implied by --tlsverify")
@click.option("--tlsverify", is_flag=True, help="Use TLS and verify the remote")
@click.option("--tlscacert", default=None, help="Trust certs signed only by this CA")
@click.option("--tlscert", default=None, help="Path to TLS certificate file")
@click.option("--tlskey", default=None, help="Path to TLS key file")
@click.option("-v", "--version", is_flag=True, expose_value=False, is_eager=True, callback=print_version,
              help="Print version information and quit")  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, /, host: str | None, data_root: str | None, **tls: Any) -> None:
    """A Docker-compatible container engine."""
    obj = ctx.ensure_object(dict)
    obj.update(host=host, data_root=data_root)
    if any(tls.values()):
        from dockyard.client.hosts import TLSOptions

        obj["tls"] = TLSOptions(verify=tls["tlsverify"], ca=tls["tlscacert"], cert=tls["tlscert"],
                                key=tls["tlskey"])  # fmt: skip


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
    """Run one command and raise SystemExit with its status (tests call this; programs call `entry`)."""
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
    except (BrokenPipeError, PipeClosed):
        sys.stderr.close()
        sys.exit(EXIT_BROKEN_PIPE)
    except DockyardError as err:
        _fail(EXIT_ENGINE_ERROR, err.message, err.hint)
    except Exception as err:
        if os.environ.get("DOCKYARD_DEBUG") == "1":
            import traceback

            traceback.print_exc(file=sys.stderr)
        _fail(EXIT_ENGINE_ERROR, f"internal error: {type(err).__name__}: {err}")
    sys.stdout.flush()
    sys.exit(result if isinstance(result, int) else 0)


def exit_status(code: object) -> int:
    """SystemExit's code as a process status, as the interpreter reads it (None → 0, text → printed, 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def flush_streams(code: int) -> int:
    """Flush stdout then stderr; a reader that went away turns a success into 141 (as main() does)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = code or EXIT_BROKEN_PIPE
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return code


def run_to_status(argv: Sequence[str] | None = None) -> int:
    """main(), then the streams flushed: the command's exit status (the CLI zygote's worker reports it itself)."""
    try:
        main(argv)
    except SystemExit as done:
        code = exit_status(done.code)
    tracing.mark("cli: exit")
    return flush_streams(code)


def entry(argv: Sequence[str] | None = None) -> NoReturn:
    """The program: main(), flush, then os._exit (no interpreter teardown: see the module docstring)."""
    os._exit(run_to_status(argv))


if __name__ == "__main__":
    entry()
