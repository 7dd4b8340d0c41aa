"""`dockyard build` in-process (no root): the context checks and messages, and the daemon's answers reaching the
user (the context is read in full, then builds are refused with 501: exit 1)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.cli.main import main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def dockyard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    for var in ("DOCKYARD_HOST", "DOCKER_HOST", "DOCKYARD_DATA_ROOT", "DOCKYARD_EXEC_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(["--data-root", str(tmp_path / "data"), *args])
        out = capsys.readouterr()
        return int(info.value.code or 0), out.out, out.err

    return run


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "ctx" / "sub").mkdir(parents=True)
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "ctx" / "sub" / "Other").write_text("FROM busybox\n")
    (tmp_path / "outside").write_text("FROM busybox\n")
    return tmp_path / "ctx"


def test_the_context_is_sent_and_the_build_refused(dockyard: Run, context: Path, tmp_path: Path) -> None:
    for args in (("ctx",), ("-t", "x:1", "-f", "ctx/sub/Other", "ctx")):
        assert dockyard("build", *args) == (
            1,
            "",
            "dockyard: Error response from daemon: build: Dockerfile builds are not supported by this engine yet\n",
        )
    assert os.listdir(tmp_path / "data" / "tmp") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), 'unable to prepare context: path "nope" not found'),
        (("-f", "ctx/missing", "ctx"), "Error response from daemon: Cannot locate specified Dockerfile: missing"),
        (("-f", "outside", "ctx"), "unable to prepare context: The Dockerfile ({tmp}/outside) must be within the "
                                   "build context ({tmp}/ctx)"),
    ],
)  # fmt: skip
def test_bad_contexts(dockyard: Run, context: Path, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    assert dockyard("build", *args) == (1, "", f"dockyard: {message.format(tmp=tmp_path)}\n")
