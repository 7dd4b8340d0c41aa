"""cli/verbs.py and cli/main.py: the lazy verb table matches the commands, --help and a verb import only what
they need, `--version`, and `entry()`'s exit (flushed output, exit codes, no interpreter teardown)."""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import click
import pytest

from dockyard.cli import main as cli_main
from dockyard.cli import verbs
from dockyard.cli.version import git_commit

TABLES = {"": verbs.TOP_VERBS, "container": verbs.container_group.table, "image": verbs.IMAGE_VERBS,
          "system": verbs.SYSTEM_VERBS}  # fmt: skip


@pytest.mark.parametrize(
    ("group", "name"), [(group, name) for group, table in TABLES.items() for name in sorted(table)]
)  # fmt: skip
def test_table_names_a_command_with_its_own_help(group: str, name: str) -> None:
    module, attribute, short = TABLES[group][name]
    command = getattr(importlib.import_module(f"dockyard.cli.{module}"), attribute)
    assert isinstance(command, click.Command)
    assert short == command.get_short_help_str(limit=1000)


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from dockyard.cli.main import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('@@', *sorted(m for m in sys.modules if m.startswith('dockyard')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER", "DOCKYARD"))}
    env["DOCKYARD_DATA_ROOT"] = "/nonexistent-dockyard-root"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return set(proc.stdout.rsplit("@@", 1)[1].split())


def test_help_imports_no_verb_module() -> None:
    loaded = _modules_after(["--help"])
    assert {m for m in loaded if m.startswith("dockyard.cli.")} == {"dockyard.cli.main", "dockyard.cli.exits",
                                                                    "dockyard.cli.verbs"}  # fmt: skip
    assert not any(m.startswith(("dockyard.client", "dockyard.engine", "dockyard.api")) for m in loaded)


def test_a_verb_imports_its_module_only() -> None:
    loaded = _modules_after(["images", "--help"])
    assert "dockyard.cli.images" in loaded
    assert not {"dockyard.cli.commands", "dockyard.cli.containers_copy", "dockyard.cli.exec",
                "dockyard.cli.gotemplate", "dockyard.cli.run_lifecycle"} & loaded  # fmt: skip


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main.main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    listed = re.findall(r"^  (\S+)  ", out.split("Commands:\n", 1)[1], re.M)
    assert listed == sorted(verbs.TOP_VERBS)
    assert "  ps         List containers.\n" in out


def test_group_help_and_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main.main(["container", "--help"])
    out = capsys.readouterr().out
    assert "  ls       List containers.\n" in out and "  prune    Remove all stopped containers.\n" in out
    with pytest.raises(SystemExit) as info:
        cli_main.main(["image", "nosuch"])
    err = capsys.readouterr().err
    assert info.value.code == 125
    assert err == "dockyard: No such command 'nosuch'.\nSee 'dockyard image --help'.\n"


@pytest.mark.parametrize("flag", ["-v", "--version"])
def test_version_flag(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main.main([flag])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert re.fullmatch(r"dockyard version \S+, build ([0-9a-f]{7}|unknown)\n", out)
    assert out.endswith(f"build {git_commit()}\n")


def test_git_commit_reads_refs_and_packed_refs(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text("# pack-refs\n" + "ab" * 20 + " refs/heads/main\n")
    (tmp_path / "pkg").mkdir()
    assert git_commit(str(tmp_path / "pkg")) == "abababa"
    (git / "refs" / "heads" / "main").write_text("0123456789" * 4 + "\n")
    assert git_commit(str(tmp_path / "pkg")) == "0123456"
    (git / "HEAD").write_text("not a sha\n")
    assert git_commit(str(tmp_path)) == "unknown"


def _entry(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER", "DOCKYARD"))}
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], input=stdin, env=env, text=True,
                          capture_output=True, check=False, timeout=60)  # fmt: skip


def test_entry_exit_codes_and_complete_output(tmp_path: Path) -> None:
    ok = _entry("--data-root", str(tmp_path), "ps", "-a", "--format", "{{json .}}")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    missing = _entry("--data-root", str(tmp_path), "rm", "nosuch", "other")
    assert missing.returncode == 1
    assert missing.stderr == ("dockyard: Error response from daemon: No such container: nosuch\n"
                              "Error response from daemon: No such container: other\n")  # fmt: skip
    usage = _entry("--data-root", str(tmp_path), "ps", "--bogus")
    assert (usage.returncode, usage.stderr) == (125, "dockyard: No such option: --bogus\nSee 'dockyard ps --help'.\n")
    helped = _entry("--help")
    assert helped.returncode == 0 and helped.stdout.rstrip().endswith("Block until one or more containers stop, "
                                                                      "then print their...")  # fmt: skip


@pytest.mark.skipif(not os.path.isfile("/bin/busybox"), reason="needs busybox-static")
def test_entry_output_to_a_pipe_is_complete(tmp_path: Path) -> None:
    # `save` streams megabytes to a pipe read in small pieces: all of it arrives before os._exit.
    root = str(tmp_path / "data")
    assert _entry("--data-root", root, "image", "build-busybox").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "dockyard.cli.main", "--data-root", root, "save", "busybox"],
                            stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    chunks = []
    while chunk := proc.stdout.read(4096):
        chunks.append(chunk)
    assert proc.wait(timeout=60) == 0
    data = b"".join(chunks)
    assert len(data) > 1_000_000
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "manifest.json" in tar.getnames()


class _Stream:
    def __init__(self, error: type[BaseException] | None) -> None:
        self.error = error

    def flush(self) -> None:
        if self.error is not None:
            raise self.error()


def test_flush_streams_maps_a_closed_reader_to_141(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _Stream(BrokenPipeError))
    monkeypatch.setattr(sys, "stderr", _Stream(ValueError))
    assert cli_main.flush_streams(0) == 141
    assert cli_main.flush_streams(3) == 3
    monkeypatch.setattr(sys, "stdout", _Stream(None))
    assert cli_main.flush_streams(0) == 0


def test_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert [cli_main.exit_status(c) for c in (None, 0, 3, 256 + 7)] == [0, 0, 3, 7]
    assert cli_main.exit_status("bad thing") == 1
    assert capsys.readouterr().err == "bad thing\n"


def test_version_json_of_the_verb(tmp_path: Path) -> None:
    proc = _entry("--data-root", str(tmp_path), "version")
    assert proc.returncode == 0 and "Git commit:" in proc.stdout and "Server: Dockyard Engine" in proc.stdout
    assert json.dumps(proc.stdout)  # printable text
