"""The generated `dockyard-runtime` launcher: its text, its atomic rewrite, and that it runs the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dockyard
from dockyard.runtime import launcher


def test_text_runs_isolated_without_site() -> None:
    text = launcher.launcher_text("/venv/bin/python", "/src")
    assert text.splitlines()[0] == "#!/venv/bin/python -IS"
    assert "sys.path.append('/src')" in text and text.endswith("entry()\n")


def test_write_is_idempotent_and_executable(tmp_path: Path) -> None:
    path = str(tmp_path / "dockyard-runtime")
    assert launcher.write_launcher(path)
    assert os.stat(path).st_mode & 0o777 == 0o755
    assert not launcher.write_launcher(path)
    Path(path).write_text("#!/bin/sh\n")
    assert launcher.write_launcher(path)
    assert os.listdir(tmp_path) == ["dockyard-runtime"]


def test_launcher_runs_the_cli(tmp_path: Path) -> None:
    path = str(tmp_path / "dockyard-runtime")
    launcher.write_launcher(path)
    assert Path(dockyard.__file__).parent.parent.as_posix() in Path(path).read_text()
    ok = subprocess.run([path, "--help"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stdout.startswith("usage: dockyard-runtime")
    bad = subprocess.run(
        [path, "--root", str(tmp_path), "state", "nosuch"], capture_output=True, text=True, check=False
    )
    assert (bad.returncode, bad.stderr) == (1, "dockyard-runtime: container `nosuch` does not exist\n")


def test_main_usage(tmp_path: Path) -> None:
    assert launcher.main([]) == 2
    assert launcher.main([str(tmp_path / "missing" / "x")]) == 1
    out = subprocess.run(
        [sys.executable, "-m", "dockyard.runtime.launcher", str(tmp_path / "l")], capture_output=True, check=False
    )
    assert out.returncode == 0 and os.access(tmp_path / "l", os.X_OK)
