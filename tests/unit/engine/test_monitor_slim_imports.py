"""The slim monitor (engine/monitor_slim.py) stays import-light: its steady-state module set has no typing,
ctypes, shutil, threading, calendar/locale/datetime, traceback, socket, ...

Each of these is resident memory in every running container's monitor (measured in bench/daemon_bench.py); rare
paths (exit clean-up, crash log, restart, log reading) import them when they happen. This test fails when a module
of the slim monitor starts importing one again at module level, or when decoding a record pulls in typing.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dockyard

# what monitor_slim.resume() imports, then a decode of every record type (RecordStore.load on each poll)
STEADY_STATE = """
import dockyard.engine.monitor, dockyard.engine.monitor_core, dockyard.engine.restart
import dataclasses
from dockyard.engine import records
from dockyard.oci.jsonmodel import _hints
for value in list(vars(records).values()):
    if isinstance(value, type) and dataclasses.is_dataclass(value):
        _hints(value)
"""
HEAVY = {
    "typing", "ctypes", "shutil", "threading", "calendar", "locale", "datetime", "traceback", "bz2", "lzma",
    "subprocess", "tempfile", "logging", "argparse", "asyncio", "email", "http", "urllib", "pathlib",
    "socket",  # ~0.6 MB (selectors, array, its enums): the monitor uses the C module `_socket`
}  # fmt: skip


def test_slim_monitor_imports_nothing_heavy() -> None:
    loaded = _imported_by(STEADY_STATE)
    assert {"dockyard.engine.monitor_core", "dockyard.engine.records", "dockyard.oci.jsonmodel"} <= loaded
    assert sorted(loaded & HEAVY) == []


def test_the_check_sees_heavy_imports() -> None:
    assert {"shutil", "traceback"} <= _imported_by("import dockyard.engine.monitor_core; import shutil, traceback")


def _imported_by(code: str) -> set[str]:
    """The modules that running `code` loads, in a fresh `python -S` (as monitor_slim re-executes it)."""
    src = str(Path(dockyard.__file__).resolve().parent.parent)
    script = f"import sys; sys.path.append({src!r}); before = set(sys.modules)\n{code}\n"
    script += "print(sorted(set(sys.modules) - before))\n"
    out = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, check=True)
    loaded: set[str] = set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    return loaded
