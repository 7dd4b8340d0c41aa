"""The slim monitor (engine/monitor_slim.py) stays import-light: its steady-state module set has no typing,
ctypes, shutil, threading, calendar/locale/datetime, traceback, socket, inspect/ast/dis (dataclasses imports them: see
monitor_slim.defer_inspect), ...

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
from dockyard.engine.monitor_slim import defer_inspect
defer_inspect()
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
    "inspect", "ast", "dis", "tokenize", "linecache",  # ~0.8 MB, imported by dataclasses: see defer_inspect
    "socket",  # ~0.6 MB (selectors, array, its enums): the monitor uses the C module `_socket`
}  # fmt: skip


def test_slim_monitor_imports_nothing_heavy() -> None:
    loaded = _imported_by(STEADY_STATE)
    assert {"dockyard.engine.monitor_core", "dockyard.engine.records", "dockyard.oci.jsonmodel"} <= loaded
    assert sorted(loaded & HEAVY) == []


def test_dataclasses_without_inspect_still_work_and_inspect_loads_on_use() -> None:
    code = """
from dockyard.engine.monitor_slim import defer_inspect
defer_inspect()
import dataclasses, sys
assert "inspect" not in sys.modules
@dataclasses.dataclass(frozen=True)
class Docless:
    a: int
assert Docless.__doc__ == "Docless" and dataclasses.replace(Docless(1), a=2) == Docless(2)
assert "inspect" not in sys.modules
assert dataclasses.inspect.isclass(Docless) and "inspect" in sys.modules
import inspect
assert inspect.isclass is dataclasses.inspect.isclass
"""
    assert {"dataclasses", "inspect"} <= _imported_by(code)


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
