"""Command-line parsing with runc's flag spellings, and how errors reach the user."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.runtime import cli


def test_global_flags_and_create() -> None:
    args = cli.parse_args(
        ["--root", "/r", "--log", "/l", "--log-format", "json", "--debug", "create", "--bundle", "/b",
         "--pid-file", "/p", "--console-socket", "/s", "--preserve-fds", "2", "c1"]
    )  # fmt: skip
    assert (args.root, args.log, args.log_format, args.debug) == ("/r", "/l", "json", True)
    assert (args.command, args.bundle, args.pid_file, args.console_socket, args.preserve_fds, args.id) == (
        "create", "/b", "/p", "/s", 2, "c1",
    )  # fmt: skip


def test_short_flags() -> None:
    assert cli.parse_args(["run", "-d", "-b", "/b", "c"]).detach
    assert cli.parse_args(["delete", "-f", "c"]).force
    assert cli.parse_args(["kill", "-a", "c", "KILL"]).all
    listed = cli.parse_args(["list", "-f", "json", "-q"])
    assert (listed.format, listed.quiet) == ("json", True)


def test_kill_default_signal() -> None:
    assert cli.parse_args(["kill", "c"]).signal == "SIGTERM"


def test_exec_keeps_the_command_verbatim() -> None:
    args = cli.parse_args(
        ["exec", "-t", "--env", "A=1", "-e", "B=2", "--cap", "CAP_SYS_ADMIN", "-u", "1:2", "--cwd", "/w", "c1",
         "sh", "-c", "echo --env"]
    )  # fmt: skip
    assert args.command == "exec" and args.id == "c1"
    assert args.argv == ["sh", "-c", "echo --env"]
    assert (args.tty, args.env, args.cap, args.user, args.cwd) == (True, ["A=1", "B=2"], ["CAP_SYS_ADMIN"], "1:2", "/w")


def test_ps_passes_its_arguments() -> None:
    args = cli.parse_args(["ps", "--format", "table", "c1", "-o", "pid,comm"])
    assert args.ps_args == ["-o", "pid,comm"]


def test_root_is_made_absolute() -> None:
    assert cli.parse_args(["--root", "rel", "list"]).root.startswith("/")


def test_usage_errors_raise_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="the following arguments are required: id"):
        cli.parse_args(["start"])
    with pytest.raises(InvalidArgument, match="invalid choice"):
        cli.parse_args(["frobnicate"])


def test_systemd_cgroup_is_refused() -> None:
    with pytest.raises(Unsupported, match="--systemd-cgroup"):
        cli.parse_args(["--systemd-cgroup", "list"])


def test_main_reports_errors_on_stderr_and_log(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    log = f"{tmp_path}/log.json"
    code = cli.main(["--root", str(tmp_path), "--log", log, "--log-format", "json", "state", "nosuch"])
    assert code == 1
    assert capsys.readouterr().err == "dockyard-runtime: container `nosuch` does not exist\n"
    with open(log) as f:
        entry = json.loads(f.read().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container `nosuch` does not exist"


def test_text_log_format(tmp_path: object) -> None:
    log = f"{tmp_path}/log.txt"
    assert cli.main(["--root", str(tmp_path), "--log", log, "start", "x"]) == 1
    with open(log) as f:
        line = f.read().strip()
    assert line.startswith('time="') and 'level=error msg="container `x` does not exist"' in line


def test_list_of_empty_root(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", f"{tmp_path}/none", "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["--root", f"{tmp_path}/none", "list"]) == 0
    assert capsys.readouterr().out.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
