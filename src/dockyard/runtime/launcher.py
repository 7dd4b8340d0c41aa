"""Writes the launcher scripts of `dockyard-runtime`, `dockyard` and `dockyardd` (`make install` runs this);
touches no other file.

Why not pip's console scripts: they start Python with `site` (the venv's .pth files, setuptools' distutils hack)
and go through the editable-install finder, ~3 ms of every invocation. The launcher runs the interpreter with
`-I -S` (isolated, no site) and puts the directory that holds the `dockyard` package on sys.path itself; the
runtime imports only the standard library and this package, the CLI and the daemon also get the venv's
site-packages directory (click, h11, zstandard: none of them needs a .pth file). `python -m
dockyard.runtime.cli`, `python -m dockyard.cli.main` and `python -m dockyard.daemon.main` keep working as before.

Usage: python -m dockyard.runtime.launcher <path>…   (each replaced atomically, mode 0755; the file name picks
the program: dockyard, dockyardd, anything else is dockyard-runtime)
"""

from __future__ import annotations

import os
import sys
import sysconfig

import dockyard

# program → (module, function, whether it needs site-packages); the function runs the program and exits.
PROGRAMS = {
    "dockyard-runtime": ("dockyard.runtime.cli", "entry", False),
    "dockyard": ("dockyard.cli.main", "entry", True),
    "dockyardd": ("dockyard.daemon.main", "run", True),
}


def site_dirs() -> tuple[str, ...]:
    """This interpreter's site-packages directories (pure and platform), without duplicates."""
    paths = sysconfig.get_paths()
    return tuple(dict.fromkeys((paths["purelib"], paths["platlib"])))


def launcher_text(python: str, package_parent: str, program: str = "dockyard-runtime",
                  extra_paths: tuple[str, ...] = ()) -> str:  # fmt: skip
    module, function, _ = PROGRAMS[program]
    # why: `dockyard` first offers the call to dockyardd's CLI zygote (cli/fastpath.py), before site-packages and
    # click are even on the path; it returns only when no zygote takes the call
    fast = ["from dockyard.cli.fastpath import try_zygote", "try_zygote()"] if program == "dockyard" else []
    lines = [
        f"#!{python} -IS",
        f"# {program}, written by `python -m dockyard.runtime.launcher` (see that module for why).",
        "import sys",
        f"sys.path.append({package_parent!r})",
        *fast,
        *(f"sys.path.append({path!r})" for path in extra_paths),
        f"from {module} import {function}",
        f"{function}()",
    ]
    return "\n".join(lines) + "\n"


def program_of(path: str) -> str:
    name = os.path.basename(path)
    return name if name in PROGRAMS else "dockyard-runtime"


def write_launcher(path: str, python: str = sys.executable, program: str | None = None) -> bool:
    """Write the launcher to `path` unless it is already current; whether the file changed."""
    program = program or program_of(path)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
    extra = site_dirs() if PROGRAMS[program][2] else ()
    text = launcher_text(python, package_parent, program, extra)
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
    if not argv:
        sys.stderr.write("usage: python -m dockyard.runtime.launcher <path>…\n")
        return 2
    for path in argv:
        try:
            write_launcher(path)
        except OSError as err:
            sys.stderr.write(f"{program_of(path)} launcher: write `{path}`: {(err.strerror or str(err)).lower()}\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
