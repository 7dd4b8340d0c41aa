"""tests/host_guard.py sees a write, a chmod, a replacement and a removal of a guarded file."""

from __future__ import annotations

import os
from pathlib import Path

import host_guard


def test_every_kind_of_change_is_seen(tmp_path: Path) -> None:
    names = [str(tmp_path / n) for n in ("a", "b", "c", "d")]
    for name in names:
        Path(name).write_text("x")
    before = host_guard.stamps(names)
    assert host_guard.changed(before, host_guard.stamps(names)) == []
    Path(names[0]).write_text("payload\n")
    os.chmod(names[1], 0o600)
    (tmp_path / "new").write_text("x")
    os.replace(tmp_path / "new", names[2])
    os.unlink(names[3])
    assert host_guard.changed(before, host_guard.stamps(names)) == sorted(names)
