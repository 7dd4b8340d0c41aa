"""The runc-style command-line parser: option spellings, positionals, verbatim tails, help and usage errors."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.cliargs import parse


def test_defaults() -> None:
    args = parse(["run", "c1"])
    assert (args.root, args.log, args.log_format, args.debug) == ("/run/dockyard-runtime", None, "text", False)
    assert (args.bundle, args.pid_file, args.preserve_fds, args.detach, args.keep) == (".", None, 0, False, False)
    assert args.help is None


@pytest.mark.parametrize(
    "argv",
    [
        ["create", "--bundle", "/b", "c1"],
        ["create", "--bundle=/b", "c1"],
        ["create", "-b", "/b", "c1"],
        ["create", "-b/b", "c1"],
        ["create", "-b=/b", "c1"],
        ["create", "c1", "--bundle", "/b"],
        ["create", "--bundle", "/b", "--", "c1"],
    ],
)
def test_option_spellings(argv: list[str]) -> None:
    args = parse(argv)
    assert (args.bundle, args.id) == ("/b", "c1")


def test_kill_signal_forms() -> None:
    assert parse(["kill", "c", "-9"]).signal == "-9"
    assert parse(["kill", "c", "9"]).signal == "9"
    assert parse(["kill", "--all", "c", "KILL"]).all


def test_repeatable_and_integer_options() -> None:
    args = parse(["exec", "-g", "1", "--additional-gids=2", "-e", "A=1", "--env", "B", "c", "true"])
    assert (args.additional_gids, args.env, args.argv) == ([1, 2], ["A=1", "B"], ["true"])


def test_exec_and_ps_keep_everything_after_the_id() -> None:
    assert parse(["exec", "c", "--", "sh", "-c", "x"]).argv == ["--", "sh", "-c", "x"]
    assert parse(["exec", "-t", "c", "ls", "-l", "--tty"]).argv == ["ls", "-l", "--tty"]
    assert parse(["exec", "--process", "/p.json", "c"]).argv == []
    assert parse(["ps", "c", "-e", "-o", "pid"]).ps_args == ["-e", "-o", "pid"]


def test_each_parse_gets_fresh_lists() -> None:
    parse(["exec", "-e", "A=1", "c", "true"])
    assert parse(["exec", "c", "true"]).env == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: command"),
        (["--root"], "argument --root: expected one argument"),
        (["--log-format", "xml", "list"], "argument --log-format: invalid choice `xml` (choose from text, json)"),
        (["frob"], "argument command: invalid choice `frob`"),
        (["start"], "start: the following arguments are required: id"),
        (["kill"], "kill: the following arguments are required: id"),
        (["list", "x"], "list: unrecognized arguments: x"),
        (["delete", "--force=1", "c"], "delete: argument --force: ignored explicit argument `1`"),
        (["delete", "--nope", "c"], "delete: unrecognized arguments: --nope"),
        (["create", "--preserve-fds", "two", "c"], "create: argument --preserve-fds: invalid int value `two`"),
        (["create", "--bundle", "--pid-file", "p", "c"], "create: argument --bundle: expected one argument"),
        (["ps", "-f", "yaml", "c"], "ps: argument -f: invalid choice `yaml` (choose from table, json)"),
    ],
)
def test_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(argv)
    assert str(info.value.message).startswith(message)


def test_help() -> None:
    top = parse(["--help"]).help
    assert top.startswith("usage: dockyard-runtime [global options] command") and "--root ROOT" in top
    assert "--criu" not in top
    run = parse(["run", "-h", "c"]).help
    assert run.startswith("usage: dockyard-runtime [global options] run [options] id\n") and "--detach, -d" in run
    assert parse(["kill", "--help"]).help.startswith(
        "usage: dockyard-runtime [global options] kill [options] id [signal]"
    )
