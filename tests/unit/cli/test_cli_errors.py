"""The dockyard CLI in-process (no root): parsing, error messages, exit codes, record-only verbs."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.cli import parse
from dockyard.cli.commands import start_error_code
from dockyard.cli.main import main
from dockyard.errors import InvalidArgument

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def dockyard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    for var in ("DOCKYARD_HOST", "DOCKER_HOST", "DOCKYARD_DATA_ROOT", "DOCKYARD_EXEC_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKYARD_RUNTIME", "runc")

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(["--data-root", str(tmp_path), *args])
        out = capsys.readouterr()
        return int(info.value.code or 0), out.out, out.err

    return run


def test_missing_image_is_125_with_dockers_wording(dockyard: Run) -> None:
    code, out, err = dockyard("run", "--rm", "nosuch")
    assert code == 125 and out == ""
    assert err.splitlines()[0] == "dockyard: Error response from daemon: No such image: nosuch:latest"
    assert err.splitlines()[1].startswith("hint: ")


def test_unknown_flag_is_125_with_see_help(dockyard: Run) -> None:
    code, _, err = dockyard("run", "--bogus", "busybox")
    assert code == 125
    lines = err.splitlines()
    assert lines[0].startswith("dockyard: No such option: --bogus")
    assert lines[-1] == "See 'dockyard run --help'."


def test_help_is_only_double_dash(dockyard: Run) -> None:
    code, out, _ = dockyard("run", "--help")
    assert code == 0 and "-h, --hostname" in out
    code, _, err = dockyard("run", "-h")
    assert code == 125 and "requires an argument" in err


def test_bad_option_values(dockyard: Run) -> None:
    code, _, err = dockyard("run", "--memory", "lots", "busybox")
    assert (code, err) == (125, 'dockyard: invalid argument "lots" for "--memory" flag: invalid size: \'lots\'\n')
    code, _, err = dockyard("run", "--cpus", "x", "busybox")
    assert code == 125 and "failed to parse x as a rational number" in err


def test_empty_ps_and_unknown_containers(dockyard: Run) -> None:
    code, out, _ = dockyard("ps", "-a")
    assert code == 0 and re.fullmatch(r"CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n", out)
    code, _, err = dockyard("rm", "nosuch")
    assert (code, err) == (1, "dockyard: Error response from daemon: No such container: nosuch\n")
    code, out, err = dockyard("inspect", "nosuch")
    assert (code, out, err) == (1, "[]\n", "Error: No such object: nosuch\n")
    code, _, err = dockyard("logs", "nosuch")
    assert (code, err) == (1, "dockyard: Error response from daemon: No such container: nosuch\n")


@pytest.mark.skipif(not os.path.isfile("/bin/busybox"), reason="needs busybox-static")
def test_image_build_then_create_errors(dockyard: Run) -> None:
    code, out, _ = dockyard("image", "build-busybox")
    assert code == 0 and re.fullmatch(r"sha256:[0-9a-f]{64}\n", out)
    code, out, _ = dockyard("images")
    assert code == 0 and out.splitlines()[1].split()[:2] == ["busybox", "latest"]
    code, _, err = dockyard("run", "--cap-add", "foo", "busybox", "true")
    assert (code, err) == (125, 'dockyard: Error response from daemon: invalid CapAdd: unknown capability: "CAP_FOO"\n')
    code, _, err = dockyard("run", "--name", "-bad", "busybox", "true")
    assert code == 125 and "Invalid container name (-bad)" in err


def test_version_prints_client_and_server(dockyard: Run) -> None:
    code, out, _ = dockyard("version")
    assert code == 0 and out.startswith("Client:\n Version:") and "Server: Dockyard Engine" in out
    assert "API version:      1.47 (minimum version 1.24)" in out


def test_internal_errors_are_one_line_without_traceback(dockyard: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    import dockyard.client.client as client_module

    def boom(*args: object, **kw: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(client_module.Client, "request_json", boom)
    monkeypatch.delenv("DOCKYARD_DEBUG", raising=False)
    code, _, err = dockyard("ps")
    assert (code, err) == (125, "dockyard: internal error: RuntimeError: kaboom\n")


@pytest.mark.parametrize(
    ("message", "code"),
    [('exec: "nosuchcmd": executable file not found in $PATH', 127), ("exec: `/x`: no such file or directory", 127),
     ('exec: "/etc": permission denied', 126), ("cgroup: device busy", 125)],
)  # fmt: skip
def test_start_error_codes(message: str, code: int) -> None:
    assert start_error_code(message) == code


def test_parsers() -> None:
    assert parse.ram_in_bytes("64m") == 64 << 20 and parse.ram_in_bytes("1GiB") == 1 << 30
    assert parse.ram_in_bytes("1024") == 1024
    assert parse.nano_cpus("1.5") == 1_500_000_000
    assert parse.env_entries(("A=1", "HOME", "UNSET_X"), {"HOME": "/root"}) == ("A=1", "HOME=/root")
    assert parse.labels(("a=b", "c")) == {"a": "b", "c": ""}
    with pytest.raises(InvalidArgument, match="variable name is empty"):
        parse.env_entries(("=x",))


def test_inspect_json_is_printed_as_is(dockyard: Run) -> None:
    code, out, _ = dockyard("inspect", "nosuch")
    assert json.loads(out) == []
