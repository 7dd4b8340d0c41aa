"""The runtime's hot path stays import-light: no typing, enum, re, json, collections, dataclasses, argparse, ...

Each of these costs milliseconds on every `dockyard-runtime` start (measured in bench/runtime_bench.py); this test
fails when a module on the create/start/run/delete path starts importing one again at module level.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dockyard

HOT_PATH = (
    "dockyard.runtime.cli",
    "dockyard.runtime.lifecycle",
    "dockyard.runtime.spawn",
    "dockyard.runtime.init",
    "dockyard.runtime.rootfs",
    "dockyard.runtime.execution",
    "dockyard.runtime.seccomp",
    "dockyard.runtime.seccomp_cache",
    "dockyard.runtime.cgroups.v1",
    "dockyard.runtime.cgroups.v2",
    "dockyard.runtime.cgroups.warmup",
)
HEAVY = {
    "typing", "enum", "re", "json", "collections", "functools", "dataclasses", "inspect", "argparse", "gettext",
    "locale", "subprocess", "shutil", "tempfile", "socket", "threading", "logging", "contextlib", "signal", "ast",
}  # fmt: skip


def test_hot_path_modules_import_nothing_heavy() -> None:
    loaded = _imported_by(HOT_PATH)
    assert set(HOT_PATH) <= loaded
    assert sorted(loaded & HEAVY) == []


def test_the_check_sees_heavy_imports() -> None:
    assert {"logging", "subprocess", "signal"} <= _imported_by(("dockyard.runtime.hooks",))


def _imported_by(modules: tuple[str, ...]) -> set[str]:
    """The modules that importing `modules` loads, in a fresh `python -I -S` (as the launcher runs it)."""
    src = str(Path(dockyard.__file__).resolve().parent.parent)
    code = (
        f"import sys; sys.path.append({src!r}); before = set(sys.modules); "
        + "; ".join(f"import {m}" for m in modules)
        + "; print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    loaded: set[str] = set(ast.literal_eval(out.stdout))
    return loaded
