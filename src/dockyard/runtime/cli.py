"""`dockyard-runtime`: an OCI runtime with runc's command line (stdlib only); parses, dispatches, exits.

Global flags go before the command: --root, --log, --log-format text|json, --debug, --systemd-cgroup (refused).
Errors print as `dockyard-runtime: <message>` on stderr and, with --log, also as one logrus-style line in the log
file (json: {"level":"error","msg":…,"time":…}, which containerd-style callers parse); the exit status is 1,
except for `run` and `exec`, which exit with the container process's status (128+signal when it was killed).
Imports stay lazy: `state` of a stopped container loads neither the spec model nor the cgroup code.
"""

from __future__ import annotations

import os
import sys

from dockyard.errors import DockyardError, Unsupported
from dockyard.runtime import container as ct
from dockyard.runtime import state as st
from dockyard.runtime.cliargs import PROG, Args, parse

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import NoReturn

    from dockyard.runtime import spawn


class _Log:
    """Where errors and debug lines go besides stderr: the --log file, as text or json (logrus's formats)."""

    def __init__(self, path: str | None, fmt: str, debug: bool) -> None:
        self.path, self.fmt, self.debug_enabled = path, fmt, debug

    def write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        import json  # lazy, as every json.dumps here: the hot path has no error to log and no json to print

        now = st.now_rfc3339()
        if self.fmt == "json":
            line = json.dumps({"level": level, "msg": msg, "time": now})
        else:
            line = f"time={json.dumps(now)} level={level} msg={json.dumps(msg)}"
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def debug(self, msg: str) -> None:
        if self.debug_enabled:
            self.write("debug", msg)


def _load(args: Args) -> ct.Container:
    return ct.Container.load(args.root, args.id)


def cmd_create(args: Args) -> int:
    from dockyard.runtime import spawn

    spawn.create(_create_options(args, detach=True))
    return 0


def _create_options(args: Args, *, detach: bool) -> spawn.CreateOptions:
    from dockyard.runtime import spawn

    return spawn.CreateOptions(
        root=args.root,
        id=args.id,
        bundle=args.bundle,
        pid_file=args.pid_file,
        console_socket=args.console_socket,
        preserve_fds=args.preserve_fds,
        detach=detach,
    )


def cmd_run(args: Args) -> int:
    from dockyard.runtime import lifecycle

    return lifecycle.run(_create_options(args, detach=args.detach), keep=args.keep)


def cmd_start(args: Args) -> int:
    from dockyard.runtime import lifecycle

    lifecycle.start(_load(args))
    return 0


def cmd_state(args: Args) -> int:
    import json

    print(json.dumps(_load(args).oci_state(), indent=2))
    return 0


def cmd_kill(args: Args) -> int:
    from dockyard.runtime import lifecycle
    from dockyard.runtime.signals import parse_signal

    lifecycle.kill(_load(args), parse_signal(args.signal), all_processes=args.all)
    return 0


def cmd_delete(args: Args) -> int:
    from dockyard.runtime import lifecycle

    if not st.exists(args.root, args.id) and args.force:
        st.validate_id(args.id)
        return 0  # why: runc's delete --force of a missing container succeeds, so cleanup is idempotent
    lifecycle.delete(_load(args), force=args.force)
    return 0


def cmd_pause(args: Args) -> int:
    c = _load(args)
    ct.can_pause(c.status())
    c.cgroup().freeze()
    return 0


def cmd_resume(args: Args) -> int:
    c = _load(args)
    ct.can_resume(c.status())
    c.cgroup().thaw()
    return 0


def cmd_ps(args: Args) -> int:
    from dockyard.runtime import lifecycle

    lifecycle.ps(_load(args), args.format, list(args.ps_args))
    return 0


def cmd_list(args: Args) -> int:
    import json

    rows = []
    for cid in st.list_ids(args.root):
        try:
            rows.append(ct.Container.load(args.root, cid).oci_state())
        except DockyardError:
            continue
    if args.quiet:
        for row in rows:
            print(row["id"])
    elif args.format == "json":
        print(json.dumps(rows))
    else:
        _print_table(rows)
    return 0


def _print_table(rows: list[dict[str, object]]) -> None:
    header = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")
    lines = [header] + [
        (str(r["id"]), str(r["pid"]), str(r["status"]), str(r["bundle"]), str(r["created"]), str(r["owner"]) or "root")
        for r in rows
    ]
    # why: runc prints through Go's tabwriter (minwidth 12, padding 3): same column alignment
    widths = [max(12, *(len(line[i]) + 3 for line in lines)) for i in range(len(header))]
    for line in lines:
        print("".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])) + line[-1])


def cmd_spec(args: Args) -> int:
    from dockyard.runtime.defaults import write_default_spec

    write_default_spec(args.bundle, rootless=args.rootless)
    return 0


def cmd_features(args: Args) -> int:
    import json

    from dockyard.runtime.features import features

    print(json.dumps(features(), indent=4))
    return 0


def cmd_exec(args: Args) -> int:
    from dockyard.runtime import execution

    return execution.exec_command(args)


COMMANDS: dict[str, Callable[[Args], int]] = {
    "create": cmd_create,
    "run": cmd_run,
    "start": cmd_start,
    "state": cmd_state,
    "kill": cmd_kill,
    "delete": cmd_delete,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "ps": cmd_ps,
    "list": cmd_list,
    "spec": cmd_spec,
    "features": cmd_features,
    "exec": cmd_exec,
}


def parse_args(argv: Sequence[str]) -> Args:
    args = parse(list(argv))
    if args.help is not None:
        return args
    if args.systemd_cgroup:
        raise Unsupported("--systemd-cgroup: systemd cgroup management is not supported")
    args.root = os.path.abspath(args.root)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    log = _Log(None, "text", False)
    try:
        args = parse_args(raw)
        if args.help is not None:
            sys.stdout.write(args.help)
            return 0
        log = _Log(args.log, args.log_format, args.debug)
        log.debug(f"{PROG} {' '.join(raw)}")
        return COMMANDS[args.command](args)
    except DockyardError as err:
        _report(log, err.message)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as err:
        what = f" `{err.filename}`" if err.filename else ""
        _report(log, f"{args_command(raw)}{what}: {(err.strerror or str(err)).lower()}")
        return 1
    except Exception as err:  # why: never show a traceback to a user; the log keeps the exception's type
        _report(log, f"{args_command(raw)}: internal error: {type(err).__name__}: {err}")
        return 1


def args_command(raw: Sequence[str]) -> str:
    """The command word of a command line, for messages about errors that carry no operation of their own."""
    return next((word for word in raw if word in COMMANDS), PROG)


def _report(log: _Log, message: str) -> None:
    log.write("error", message)
    try:
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()
    except OSError:
        pass


def entry() -> NoReturn:
    """The program's entry point: main(), then exit without finalizing the interpreter.

    why: tearing the interpreter down (module dicts, a GC pass over every object) costs ~5 ms per invocation and
    the runtime needs none of it: files are closed where they are written, stdio is flushed here.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
