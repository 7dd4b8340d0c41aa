"""Writes the `dockyard-runtime` launcher script (`make install` runs this); touches no other file.

Why not pip's console script: it starts Python with `site` (the venv's .pth files, setuptools' distutils hack)
and goes through the editable-install finder, ~3 ms of every runtime invocation that the runtime does not need:
it imports only the standard library and this package. The launcher runs the interpreter with `-I -S` (isolated,
no site) and puts the directory that holds the `dockyard` package on sys.path itself. `python -m
dockyard.runtime.cli` keeps working as before.

Usage: python -m dockyard.runtime.launcher <path of the script to write>   (replaced atomically, mode 0755)
"""

from __future__ import annotations

import os
import sys

import dockyard


def launcher_text(python: str, package_parent: str) -> str:
    return (
        f"#!{python} -IS\n"
        "# dockyard-runtime, written by `python -m dockyard.runtime.launcher` (see that module for why).\n"
        "import sys\n"
        f"sys.path.append({package_parent!r})\n"
        "from dockyard.runtime.cli import entry\n"
        "entry()\n"
    )


def write_launcher(path: str, python: str = sys.executable) -> bool:
    """Write the launcher to `path` unless it is already current; whether the file changed."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
    text = launcher_text(python, package_parent)
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    except (OSError, UnicodeDecodeError):
        pass
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m dockyard.runtime.launcher <path>\n")
        return 2
    try:
        write_launcher(argv[0])
    except OSError as err:
        sys.stderr.write(f"dockyard-runtime launcher: write `{argv[0]}`: {(err.strerror or str(err)).lower()}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
