"""The network package imports only errors, oci, paths and the stdlib (pyroute2 is allowed in netlink only)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dockyard.network

PACKAGE = Path(dockyard.network.__file__).parent
ALLOWED = ("dockyard.errors", "dockyard.oci", "dockyard.paths", "dockyard.network")


def imported_modules(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def test_only_allowed_dockyard_imports() -> None:
    bad = []
    for path in sorted(PACKAGE.glob("*.py")):
        for module, line in imported_modules(path):
            if module.startswith("dockyard") and not module.startswith(ALLOWED):
                bad.append(f"{path.name}:{line} imports {module}")
            if module.startswith("pyroute2") and path.name != "netlink.py":
                bad.append(f"{path.name}:{line} imports {module}")
    assert bad == []


def test_importing_the_manager_does_not_load_pyroute2() -> None:
    code = ("import sys, dockyard.network.manager, dockyard.network.proxy, dockyard.network.dns;"
            "print('pyroute2' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}
