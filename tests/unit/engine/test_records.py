"""engine/records.py: container records on disk, lookup by id, name and prefix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dockyard.engine.records import ContainerConfig, ContainerRecord, RecordStore, State, now
from dockyard.errors import Conflict, InternalError, NotFound
from dockyard.paths import Paths


def make(store: RecordStore, cid: str, name: str) -> ContainerRecord:
    record = ContainerRecord(
        id=cid, name=name, created=now(), image_id="sha256:" + "0" * 64, path="sh", config=ContainerConfig(image="b")
    )
    Path(store.paths.container_dir(cid)).mkdir(parents=True)
    store.save(record)
    return record


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    return RecordStore(Paths(data_root=str(tmp_path), exec_root=str(tmp_path / "run")))


def test_save_load_and_update(store: RecordStore) -> None:
    record = make(store, "a" * 64, "one")
    assert store.load("a" * 64) == record
    updated = store.update_state("a" * 64, lambda s: State(status="running", pid=5))
    assert store.load("a" * 64).state == updated.state == State(status="running", pid=5)


def test_resolve_by_id_name_and_prefix(store: RecordStore) -> None:
    make(store, "ab" + "0" * 62, "one")
    make(store, "ac" + "0" * 62, "two")
    assert store.resolve("two") == "ac" + "0" * 62
    assert store.resolve("/one") == "ab" + "0" * 62
    assert store.resolve("ab") == "ab" + "0" * 62
    with pytest.raises(Conflict, match="^multiple IDs found with provided prefix: a$"):
        store.resolve("a")
    with pytest.raises(NotFound, match="^No such container: zz$"):
        store.resolve("zz")


def test_corrupt_record_is_an_internal_error(store: RecordStore) -> None:
    make(store, "c" * 64, "x")
    Path(store.paths.record("c" * 64)).write_text("{")
    with pytest.raises(InternalError, match="^read container record `.*config.v2.json`: "):
        store.load("c" * 64)


def test_now_is_rfc3339_nano() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", now())


def test_delete_takes_the_directory_away_before_it_empties_it(
    store: RecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = "d" * 64
    make(store, cid, "gone")
    lock = Path(store.paths.container_dir(cid), "start.lock")
    lock.write_text("")
    seen: list[bool] = []
    import shutil

    real_rmtree = shutil.rmtree

    def rmtree(path: str, **kwargs: object) -> None:
        # what a concurrent repair sees while the files go: no directory to create its lock file in
        seen.append(Path(store.paths.container_dir(cid)).exists())
        real_rmtree(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    store.delete(cid)
    assert seen == [False]
    assert sorted(Path(store.paths.containers).iterdir()) == []
    store.delete(cid)  # gone already: nothing to do
    with pytest.raises(NotFound):
        store.load(cid)


def test_daemon_start_finishes_deletions_cut_short(tmp_path: Path) -> None:
    from dockyard.engine.engine import Engine

    paths = Paths(data_root=str(tmp_path), exec_root=str(tmp_path / "run"))
    left = Path(paths.containers, ".removing-" + "e" * 64)
    (left / "sub").mkdir(parents=True)
    (left / "sub" / "config.v2.json").write_text("{}")
    kept = Path(paths.containers, "f" * 64)
    kept.mkdir()
    Path(paths.record("f" * 64)).write_text("{}")
    assert Engine(paths, runtime="runc")._remove_orphan_dirs() == []
    assert not left.exists() and kept.exists()


def test_a_detached_container_is_gone_from_every_listing_while_its_files_remain(store: RecordStore) -> None:
    kept, gone = "1" * 64, "2" * 64
    make(store, kept, "kept")
    make(store, gone, "gone")
    moved = store.detach(gone)
    assert Path(moved, "config.v2.json").is_file()
    assert [r.id for r in store.list()] == [kept] and store.ids() == [kept]
    assert store.names() == {"kept": kept}
    with pytest.raises(NotFound):
        store.resolve("gone")
    assert store.detach(gone) == ""
