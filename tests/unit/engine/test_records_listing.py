"""engine/records.py `RecordStore.list`: stable records are decoded once per store, a rewritten or removed
record is seen at the next listing, and a record written less than a second ago is never served from cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dockyard.engine import records as records_mod
from dockyard.engine.records import ContainerConfig, ContainerRecord, RecordStore, State, now
from dockyard.oci.model import replace
from dockyard.paths import Paths


def make(store: RecordStore, cid: str, name: str, *, age: float = 10.0) -> ContainerRecord:
    record = ContainerRecord(
        id=cid, name=name, created=now(), image_id="sha256:" + "0" * 64, path="sh", config=ContainerConfig(image="b")
    )
    Path(store.paths.container_dir(cid)).mkdir(parents=True, exist_ok=True)
    store.save(record)
    past = time.time() - age
    os.utime(store.paths.record(cid), (past, past))
    return record


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    return RecordStore(Paths(data_root=str(tmp_path), exec_root=str(tmp_path / "run")))


def _count_loads(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loads: list[str] = []
    real = RecordStore.load

    def counting(self: RecordStore, cid: str) -> ContainerRecord:
        loads.append(cid)
        return real(self, cid)

    monkeypatch.setattr(RecordStore, "load", counting)
    return loads


def test_stable_records_are_read_once(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = make(store, "a" * 64, "one"), make(store, "b" * 64, "two")
    loads = _count_loads(store, monkeypatch)
    assert {r.id for r in store.list()} == {a.id, b.id}
    assert {r.id for r in store.list()} == {a.id, b.id}
    assert sorted(loads) == [a.id, b.id]


def test_a_rewritten_or_removed_record_is_seen(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = make(store, "a" * 64, "one"), make(store, "b" * 64, "two")
    store.list()
    store.save(replace(a, state=State(status="running", pid=7)))
    os.unlink(store.paths.record(b.id))
    (Path(store.paths.containers) / "stray-file").write_text("")
    listed = store.list()
    assert [(r.id, r.state.status) for r in listed] == [(a.id, "running")]


def test_a_fresh_record_is_not_cached(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Within the same clock tick a rewrite may keep size, mtime and a reused inode: only older files are cached.
    make(store, "a" * 64, "one", age=0.0)
    loads = _count_loads(store, monkeypatch)
    store.list()
    store.list()
    assert loads == ["a" * 64] * 2
    monkeypatch.setattr(records_mod, "_STABLE_NS", -1)
    store.list()
    store.list()
    assert loads == ["a" * 64] * 3


def test_names_follow_renames_and_removals_without_decoding(
    store: RecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = make(store, "a" * 64, "one"), make(store, "b" * 64, "two")
    loads = _count_loads(store, monkeypatch)
    assert store.names() == {"one": a.id, "two": b.id}
    assert store.name_in_use("two") == b.id and store.name_in_use("three") is None
    store.save(replace(b, name="three"))  # a rename rewrites the record: seen at once, even this fresh
    assert store.names() == {"one": a.id, "three": b.id}
    os.unlink(store.paths.record(a.id))
    assert store.names() == {"three": b.id}
    assert loads == []  # names come from the plain JSON, never from decoding whole records
