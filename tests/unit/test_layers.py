"""The import rules of ARCHITECTURE.md §2, checked by walking every module's imports (also lazy and TYPE_CHECKING ones).

runtime/ must run alone as an OCI runtime; oci/ is pure data; the CLI reaches the engine only through the client.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "dockyard"

# package → the dockyard packages (first component after `dockyard.`) it may import; itself is always allowed.
# tracing.py (timeline marks, os and time only) may be imported by everyone; spares.py (stdlib only) by the two fork
# servers, the CLI's zygote among them.
ALLOWED = {
    "runtime": {"oci", "errors", "tracing"},
    "oci": {"errors"},
    "cli": {"client", "errors", "units", "tracing", "spares"},
    "client": {"api", "engine", "errors", "units", "paths", "tracing"},  # in-process transport: api + engine
    "api": {"engine", "errors", "oci", "paths", "units", "tracing"},
    "daemon": {"api", "engine", "errors", "paths", "tracing"},
}
# Nobody below may import these (the engine never imports the runtime: it runs its CLI).
FORBIDDEN_FOR_ALL = {"cli": {"cli"}, "daemon": {"daemon"}, "runtime": {"runtime"}}
# The one exception, allowed by ARCHITECTURE.md §1: the monitor (single-threaded) runs dockyard-runtime's own CLI
# entry point in a forked child without exec (and `start` in itself); the contract stays the OCI runtime CLI's.
EXCEPTIONS = {"engine/runtime_fork.py": {"runtime"}}


def imports_of(path: Path, module_parts: tuple[str, ...] | None = None) -> set[str]:
    """Every dockyard package (first component) `path` imports, including relative imports."""
    tree = ast.parse(path.read_text(), str(path))
    if module_parts is None:
        module_parts = path.relative_to(SRC.parent).with_suffix("").parts
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[: len(module_parts) - node.level]
                names = [".".join((*base, node.module or ""))]
            else:
                names = [node.module or ""]
            if names == ["dockyard"]:
                names = [f"dockyard.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "dockyard" and len(parts) > 1:
                found.add(parts[1])
    return found


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def package_of(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py")


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(path: Path) -> None:
    package = package_of(path)
    used = imports_of(path) - {package} - EXCEPTIONS.get(str(path.relative_to(SRC)), set())
    if package in ALLOWED:
        bad = used - ALLOWED[package]
        assert not bad, f"{path.relative_to(SRC)} imports dockyard.{sorted(bad)} (allowed: {sorted(ALLOWED[package])})"
    for target, owners in FORBIDDEN_FOR_ALL.items():
        if target in used and package not in owners:
            pytest.fail(f"{path.relative_to(SRC)} imports dockyard.{target}")


def test_the_checker_sees_lazy_relative_and_type_checking_imports(tmp_path: Path) -> None:
    fake = tmp_path / "probe.py"
    text = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dockyard.engine import engine\n"
    text += "def f():\n    from ..runtime import cli\n    import dockyard.api.routes\n"
    fake.write_text(text)
    assert imports_of(fake, ("dockyard", "cli", "probe")) == {"engine", "runtime", "api"}
