"""The Snapshotter contract, run against the overlay and the native snapshotter (no mounting: mounts are data).

What a mount would show is computed from the returned mounts: a bind's source, or an overlay's upper over its
lowers (first lower on top, a 0:0 character device in a higher layer hides a name).
"""

from __future__ import annotations

import os
import stat
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.image.snapshots import Mount, Snapshotter, open_snapshotter
from dockyard.image.snapshots.common import FileSnapshotter

Factory = Callable[[], Snapshotter]


@pytest.fixture(params=["overlay", "native"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    return lambda: open_snapshotter(request.param, str(tmp_path / request.param))


def layers_of(mounts: list[Mount]) -> list[str]:
    """The directories a mount shows, top first."""
    assert len(mounts) == 1
    m = mounts[0]
    if m.type == "bind":
        return [m.source]
    assert m.type == "overlay"
    opts = dict(o.split("=", 1) for o in m.options if "=" in o)
    return ([opts["upperdir"]] if "upperdir" in opts else []) + opts["lowerdir"].split(":")


def read(mounts: list[Mount], rel: str) -> bytes | None:
    for top in layers_of(mounts):
        path = os.path.join(top, rel)
        if os.path.lexists(path):
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # an overlay whiteout
            return Path(path).read_bytes()
    return None


def writable(mounts: list[Mount]) -> Path:
    assert "ro" not in mounts[0].options
    return Path(layers_of(mounts)[0])


def test_layers_stack_and_each_snapshot_keeps_its_own_content(make: Factory) -> None:
    s = make()
    base = s.prepare("extract-1")
    (writable(base) / "a").write_bytes(b"base a\n")
    info = s.commit("layer-1", "extract-1")
    assert (info.key, info.kind, info.parent) == ("layer-1", "committed", None)
    child = s.prepare("extract-2", "layer-1")
    assert read(child, "a") == b"base a\n"
    (writable(child) / "b").write_bytes(b"child b\n")
    s.commit("layer-2", "extract-2")
    c1, c2 = s.prepare("c1", "layer-2"), s.prepare("c2", "layer-2")
    (writable(c1) / "a").write_bytes(b"c1 a\n")
    assert (read(c1, "a"), read(c2, "a"), read(c2, "b")) == (b"c1 a\n", b"base a\n", b"child b\n")
    assert Path(s.path("layer-1"), "a").read_bytes() == b"base a\n"
    assert s.stat("c1").kind == "active" and s.stat("c1").parent == "layer-2"
    assert s.mounts("c1") == c1
    assert sorted(i.key for i in s.walk()) == ["c1", "c2", "layer-1", "layer-2"]
    assert s.usage("layer-1").size == len(b"base a\n")
    assert not s.exists("extract-1") and s.exists("layer-2")


def test_views_are_read_only(make: Factory) -> None:
    s = make()
    (writable(s.prepare("x")) / "f").write_bytes(b"f\n")
    s.commit("l1", "x")
    (writable(s.prepare("y", "l1")) / "g").write_bytes(b"g\n")
    s.commit("l2", "y")
    for parent in ("l1", "l2"):
        view = s.view(f"view-{parent}", parent)
        assert "ro" in view[0].options
        assert read(view, "f") == b"f\n"
    assert read(s.mounts("view-l2"), "g") == b"g\n"
    assert s.stat("view-l1").kind == "view"
    with pytest.raises(InvalidArgument) as info:
        s.commit("nope", "view-l1")
    assert info.value.message == "commit snapshot `view-l1`: not an active snapshot"


def test_errors_name_the_snapshot(make: Factory) -> None:
    s = make()
    s.prepare("a")
    with pytest.raises(Conflict) as exists:
        s.prepare("a")
    assert exists.value.message == "snapshot `a`: already exists"
    with pytest.raises(NotFound) as missing:
        s.prepare("b", "nope")
    assert missing.value.message == "snapshot `nope`: not found"
    with pytest.raises(InvalidArgument) as active_parent:
        s.prepare("b", "a")
    assert active_parent.value.message == "prepare snapshot `b`: parent `a` is not committed"
    s.commit("l", "a")
    with pytest.raises(InvalidArgument) as committed:
        s.mounts("l")
    assert committed.value.message.startswith("mounts of snapshot `l`: a committed snapshot has none")
    s.prepare("c", "l")
    with pytest.raises(Conflict) as children:
        s.remove("l")
    assert children.value.message == "remove snapshot `l`: snapshot `c` is based on it"
    s.prepare("d")
    with pytest.raises(Conflict) as taken:
        s.commit("l", "d")
    assert taken.value.message == "snapshot `l`: already exists"
    for call in (s.stat, s.remove, s.mounts, s.usage):
        with pytest.raises(NotFound) as unknown:
            call("ghost")
        assert unknown.value.message == "snapshot `ghost`: not found"
    with pytest.raises(InvalidArgument) as long_key:
        s.prepare("k" * 300)
    assert long_key.value.message.startswith("snapshot key `kkk")


def test_remove_deletes_the_directory_and_keys_may_hold_any_character(make: Factory) -> None:
    s = make()
    key = "sha256:abc/def%x y"
    (writable(s.prepare(key)) / "f").write_bytes(b"f")
    path = s.path(key)
    assert [i.key for i in s.walk()] == [key]
    s.remove(key)
    assert not os.path.exists(path) and list(s.walk()) == []


def test_crash_remnants_are_recovered_when_reopened(make: Factory) -> None:
    s = make()
    assert isinstance(s, FileSnapshotter)
    s.prepare("a")
    s.commit("l", "a")
    info = s.stat("l")
    meta = Path(s.root, "meta")
    # an interrupted commit: the active key still names the committed snapshot's directory
    (meta / "a.json").write_text(f'{{"kind": "active", "id": "{info.id}", "parent": null, "created": 1}}')
    orphan = Path(s.root, "snapshots", "deadbeef00")  # a prepare that died before its metadata
    (orphan / "fs").mkdir(parents=True)
    (meta / "x.json.tmp-1-2").write_text("{")
    again = make()
    assert sorted(i.key for i in again.walk()) == ["l"]
    assert not orphan.exists() and not (meta / "x.json.tmp-1-2").exists()
    assert again.check() == []


def test_opening_without_recovery_leaves_remnants_and_still_removes(make: Factory) -> None:
    s = make()
    assert isinstance(s, FileSnapshotter)
    s.prepare("a")
    s.commit("l", "a")
    s.prepare("c", "l")
    orphan = Path(s.root, "snapshots", "deadbeef00")
    (orphan / "fs").mkdir(parents=True)
    quick = open_snapshotter(s.name, s.root, recover=False)  # what a monitor opens to remove its container's one
    assert orphan.exists()
    quick.remove("c")
    assert sorted(i.key for i in quick.walk()) == ["l"]
    make()  # a normal open recovers
    assert not orphan.exists()


def test_check_reports_missing_directories_and_parents(make: Factory) -> None:
    s = make()
    s.prepare("a")
    s.commit("l", "a")
    s.prepare("c", "l")
    os.rename(s.path("c"), Path(s.path("c")).parent / "gone")
    quoted = urllib.parse.quote("l", safe="")
    os.unlink(Path(s.root, "meta", f"{quoted}.json"))  # type: ignore[attr-defined]
    problems = s.check()
    assert "snapshot `c`: parent `l` not found" in problems
    assert any(p.startswith("snapshot `c`: directory `") and p.endswith("` is missing") for p in problems)


def test_detach_drops_the_key_at_once_and_leaves_the_directory_to_its_caller(make: Factory) -> None:
    s = make()
    s.prepare("a")
    s.commit("l", "a")
    (writable(s.prepare("c", "l")) / "f").write_bytes(b"f")
    with pytest.raises(Conflict):
        s.detach("l")  # a parent still: nothing changes
    moved = Path(s.detach("c"))
    assert not s.exists("c") and (moved / "fs" / "f").read_bytes() == b"f"
    s.remove("l")  # its child's key is gone, although the child's directory is not
    assert moved.exists()
    make()  # or the next open's recovery deletes it
    assert not moved.exists() and list(s.walk()) == []
    with pytest.raises(NotFound) as unknown:
        s.detach("c")
    assert unknown.value.message == "snapshot `c`: not found"


def test_only_committed_snapshots_are_written_durably(make: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    s = make()
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    s.prepare("a")  # a container's layer or an unpack in progress: worth no more than what refers to it
    s.prepare("b")
    s.detach("b")
    assert synced == []
    s.commit("l", "a")  # an image layer: file and directory synced before and after the rename
    assert len(synced) >= 2
