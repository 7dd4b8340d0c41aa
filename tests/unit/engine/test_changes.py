"""engine.changes: docker diff from an overlay upper dir and from two trees, with the init layer hidden."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.engine.changes import ADDED, DELETED, MODIFIED, Change, hide_init_paths, overlay_changes, tree_changes


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _letters(changes: list[Change]) -> list[str]:
    return [f"{'CAD'[c.kind]} {c.path}" for c in sorted(changes, key=lambda c: c.path)]


def test_overlay_upper_added_changed_and_parent_dirs(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    _tree(lower, {"etc/passwd": "root", "bin/sh": "x"})
    _tree(upper, {"etc/passwd": "root2", "etc/new": "n", "tmp/d/f": "f"})
    assert _letters(list(overlay_changes(str(upper), [str(lower)]))) == [
        "C /etc",
        "A /etc/new",
        "C /etc/passwd",
        "A /tmp",
        "A /tmp/d",
        "A /tmp/d/f",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="a whiteout is a 0:0 character device (mknod needs root)")
def test_overlay_whiteout_is_a_deletion(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    _tree(lower, {"bin/ls": "x", "bin/sh": "y"})
    (upper / "bin").mkdir(parents=True)
    os.mknod(upper / "bin" / "ls", 0o600 | 0o020000, os.makedev(0, 0))
    assert _letters(list(overlay_changes(str(upper), [str(lower)]))) == ["C /bin", "D /bin/ls"]


def test_tree_changes_compare_content_and_deletions(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _tree(old, {"a/keep": "1", "a/gone": "2", "b/changed": "3"})
    _tree(new, {"a/keep": "1", "b/changed": "33", "c/new": "4"})
    for name in ("a/keep",):
        st = os.stat(old / name)
        os.utime(new / name, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _letters(list(tree_changes(str(old), str(new)))) == [
        "C /a",
        "D /a/gone",
        "C /b",
        "C /b/changed",
        "A /c",
        "A /c/new",
    ]


def test_init_layer_paths_are_hidden() -> None:
    found = [Change(path=p, kind=k) for p, k in (
        ("/dev", MODIFIED), ("/dev/console", ADDED), ("/etc", MODIFIED), ("/etc/hostname", ADDED),
        ("/proc", ADDED), ("/tmp", MODIFIED), ("/tmp/x", ADDED), ("/etc2", MODIFIED), ("/etc2/hosts", DELETED),
    )]  # fmt: skip
    assert _letters(hide_init_paths(found)) == ["C /etc2", "D /etc2/hosts", "C /tmp", "A /tmp/x"]


def test_a_real_change_under_etc_keeps_etc() -> None:
    found = [Change(path="/etc", kind=MODIFIED), Change(path="/etc/hosts", kind=ADDED),
             Change(path="/etc/motd", kind=ADDED)]  # fmt: skip
    assert _letters(hide_init_paths(found)) == ["C /etc", "A /etc/motd"]
