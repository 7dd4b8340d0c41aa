"""Host files no test may change, and how a change is seen (used by conftest.py for every test).

Why: a layer, archive or copy that escaped its root would write here first; one did, while the hardened
extractor was being written, and replaced this machine's /etc/passwd unnoticed for hours. ctime moves with any
write, chmod or rename over the name, so a stat before and after each test names the test that did it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

GUARDED = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/sudoers", "/bin/sh", "/usr/bin/env")

Stamp = tuple[int, int, int]


def stamps(paths: Iterable[str] = GUARDED) -> dict[str, Stamp]:
    """(inode, size, ctime in ns) of each path that exists."""
    out = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        out[path] = (st.st_ino, st.st_size, st.st_ctime_ns)
    return out


def changed(before: Mapping[str, Stamp], after: Mapping[str, Stamp]) -> list[str]:
    """The paths whose stamp differs, appeared or vanished."""
    return sorted(p for p in {*before, *after} if before.get(p) != after.get(p))
