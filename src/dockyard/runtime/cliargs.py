"""runc's command line as data and the small parser for it; parses only, never acts.

Why not argparse: building its parser with a sub-parser per command, and its gettext/locale look-ups, cost ~7 ms
of every `dockyard-runtime` invocation (a `run` takes ~40 ms in all). This parser covers what runc's CLI uses:
global options before the command; per command long and short options (`--bundle x`, `--bundle=x`, `-b x`,
`-bx`), flags, ints, repeatable options, positionals with defaults, and for `exec`/`ps` everything after the id
passed on verbatim. Options may come between positionals (as argparse allows); `--` ends the options. Errors
read like argparse's (`the following arguments are required: id`) and raise InvalidArgument.
"""

from __future__ import annotations

from types import SimpleNamespace

from dockyard.errors import InvalidArgument
from dockyard.oci.model import Model
from dockyard.runtime.state import DEFAULT_ROOT

PROG = "dockyard-runtime"
FLAG, TEXT, INT, APPEND, APPEND_INT = "flag", "text", "int", "append", "append-int"
_HIDDEN = "hidden"

Args = SimpleNamespace  # the parsed command line: one attribute per option and positional (`dest`)


class Option(Model):
    names: tuple[str, ...]
    kind: str = TEXT
    default: object = None
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def dest(self) -> str:
        return self.names[0].lstrip("-").replace("-", "_")


class Command(Model):
    options: tuple[Option, ...] = ()
    positionals: tuple[tuple[str, object], ...] = (("id", None),)  # (dest, default); None: required
    rest: str | None = None  # dest of the verbatim arguments after the positionals (exec's command, ps's args)


def _opt(
    *names: str, kind: str = TEXT, default: object = None, choices: tuple[str, ...] = (), help: str = ""
) -> Option:
    if kind == FLAG:
        default = False
    elif kind in (APPEND, APPEND_INT):
        default = ()
    return Option(names=names, kind=kind, default=default, choices=choices, help=help)


GLOBAL_OPTIONS = (
    _opt("--root", default=DEFAULT_ROOT, help=f"state directory root (default {DEFAULT_ROOT})"),
    _opt("--log", help="also write errors to this file"),
    _opt("--log-format", default="text", choices=("text", "json")),
    _opt("--debug", kind=FLAG),
    _opt("--systemd-cgroup", kind=FLAG, help="unsupported; refused"),
    _opt("--rootless", default="auto", help="accepted for runc compatibility"),
    _opt("--criu", help=_HIDDEN),
)
_CREATE = (
    _opt("--bundle", "-b", default="."),
    _opt("--console-socket"),
    _opt("--pid-file"),
    _opt("--preserve-fds", kind=INT, default=0),
    _opt("--no-pivot", kind=FLAG),
    _opt("--no-new-keyring", kind=FLAG),
)
_FORMAT = _opt("--format", "-f", default="table", choices=("table", "json"))
_EXEC = (
    _opt("--console-socket"),
    _opt("--cwd"),
    _opt("--env", "-e", kind=APPEND),
    _opt("--tty", "-t", kind=FLAG),
    _opt("--user", "-u"),
    _opt("--additional-gids", "-g", kind=APPEND_INT),
    _opt("--process", "-p"),
    _opt("--detach", "-d", kind=FLAG),
    _opt("--pid-file"),
    _opt("--process-label"),
    _opt("--apparmor"),
    _opt("--no-new-privs", kind=FLAG),
    _opt("--cap", "-c", kind=APPEND),
    _opt("--preserve-fds", kind=INT, default=0),
    _opt("--ignore-paused", kind=FLAG),
)
COMMANDS = {
    "create": Command(options=_CREATE),
    "run": Command(options=(*_CREATE, _opt("--detach", "-d", kind=FLAG), _opt("--keep", kind=FLAG))),
    "start": Command(),
    "state": Command(),
    "pause": Command(),
    "resume": Command(),
    "kill": Command(options=(_opt("--all", "-a", kind=FLAG),), positionals=(("id", None), ("signal", "SIGTERM"))),
    "delete": Command(options=(_opt("--force", "-f", kind=FLAG),)),
    "ps": Command(options=(_FORMAT,), rest="ps_args"),
    "list": Command(options=(_FORMAT, _opt("--quiet", "-q", kind=FLAG)), positionals=()),
    "spec": Command(options=(_opt("--bundle", "-b", default="."), _opt("--rootless", kind=FLAG)), positionals=()),
    "features": Command(positionals=()),
    "exec": Command(options=_EXEC, rest="argv"),
}


def parse(argv: list[str]) -> Args:
    """The parsed command line; `help` holds usage text when -h/--help was given (then nothing else is checked)."""
    args = Args(help=None, command=None)
    _defaults(args, GLOBAL_OPTIONS)
    i = _options_until_positional(argv, 0, GLOBAL_OPTIONS, args, "")
    if args.help is not None:
        return args
    if i == len(argv):
        raise InvalidArgument("the following arguments are required: command")
    word = argv[i]
    command = COMMANDS.get(word)
    if command is None:
        raise InvalidArgument(f"argument command: invalid choice `{word}` (choose from {', '.join(COMMANDS)})")
    args.command = word
    _defaults(args, command.options)
    _command_arguments(argv[i + 1 :], command, args, word)
    return args


def _error(prog: str, message: str) -> InvalidArgument:
    """A usage error; `prog` is the command word (empty for the global options)."""
    return InvalidArgument(f"{prog}: {message}" if prog else message)


def _defaults(args: Args, options: tuple[Option, ...]) -> None:
    for option in options:
        default = option.default
        setattr(args, option.dest, list(default) if isinstance(default, tuple) else default)


def _options_until_positional(argv: list[str], i: int, options: tuple[Option, ...], args: Args, prog: str) -> int:
    while i < len(argv) and _is_option(argv[i]):
        i = _take_option(argv, i, options, args, prog)
    return i


def _command_arguments(argv: list[str], command: Command, args: Args, prog: str) -> None:
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            positionals.extend(argv[i + 1 :])
            break
        if _is_option(word):
            i = _take_option(argv, i, command.options, args, prog)
            if args.help is not None:
                return
            continue
        positionals.append(word)
        i += 1
        if command.rest and len(positionals) == len(command.positionals):
            positionals.extend(argv[i:])
            break
    _assign_positionals(positionals, command, args, prog)


def _assign_positionals(values: list[str], command: Command, args: Args, prog: str) -> None:
    missing = [
        dest for index, (dest, default) in enumerate(command.positionals) if default is None and index >= len(values)
    ]
    if missing:
        raise _error(prog, f"the following arguments are required: {', '.join(missing)}")
    for index, (dest, default) in enumerate(command.positionals):
        setattr(args, dest, values[index] if index < len(values) else default)
    extra = values[len(command.positionals) :]
    if command.rest:
        setattr(args, command.rest, extra)
    elif extra:
        raise _error(prog, f"unrecognized arguments: {' '.join(extra)}")


def _is_option(word: str) -> bool:
    # why: `-9` is a signal number for kill, as argparse reads a negative number as a positional
    return word.startswith("-") and word != "-" and not word[1:].isdigit()


def _take_option(argv: list[str], i: int, options: tuple[Option, ...], args: Args, prog: str) -> int:
    """Apply the option at argv[i] (and its value); the index of the next word."""
    word = argv[i]
    if word in ("-h", "--help"):
        args.help = usage(prog, options, COMMANDS.get(prog))
        return i + 1
    name, value = _split(word, options)
    option = next((o for o in options if name in o.names), None)
    if option is None:
        raise _error(prog, f"unrecognized arguments: {word}")
    if option.kind == FLAG:
        if value is not None:
            raise _error(prog, f"argument {name}: ignored explicit argument `{value}`")
        setattr(args, option.dest, True)
        return i + 1
    if value is None:
        if i + 1 == len(argv) or (_is_option(argv[i + 1]) and argv[i + 1] != "-"):
            raise _error(prog, f"argument {name}: expected one argument")
        value, i = argv[i + 1], i + 1
    _store(option, name, value, args, prog)
    return i + 1


def _split(word: str, options: tuple[Option, ...]) -> tuple[str, str | None]:
    """(option name, attached value): `--name=value`, `-n=value` and `-nvalue`."""
    if "=" in word:
        name, _, value = word.partition("=")
        return name, value
    if not word.startswith("--") and len(word) > 2 and any(word[:2] in o.names for o in options):
        return word[:2], word[2:]
    return word, None


def _store(option: Option, name: str, value: str, args: Args, prog: str) -> None:
    if option.choices and value not in option.choices:
        raise _error(prog, f"argument {name}: invalid choice `{value}` (choose from {', '.join(option.choices)})")
    if option.kind in (INT, APPEND_INT):
        try:
            number = int(value)
        except ValueError:
            raise _error(prog, f"argument {name}: invalid int value `{value}`") from None
        if option.kind == INT:
            setattr(args, option.dest, number)
        else:
            getattr(args, option.dest).append(number)
    elif option.kind == APPEND:
        getattr(args, option.dest).append(value)
    else:
        setattr(args, option.dest, value)


def usage(prog: str, options: tuple[Option, ...], command: Command | None) -> str:
    if command is None:
        lines = [f"usage: {PROG} [global options] command [options] [arguments]", f"commands: {', '.join(COMMANDS)}"]
    else:
        words = [dest if default is None else f"[{dest}]" for dest, default in command.positionals]
        words += [f"[{command.rest}...]"] if command.rest else []
        lines = [f"usage: {PROG} [global options] {prog} [options] {' '.join(words)}".rstrip()]
    for option in options:
        if option.help == _HIDDEN:
            continue
        value = "" if option.kind == FLAG else f" {option.dest.upper()}"
        extra = f"  {{{','.join(option.choices)}}}" if option.choices else ""
        lines.append(f"  {', '.join(option.names)}{value}{extra}  {option.help}".rstrip())
    return "\n".join(lines) + "\n"
