"""The ContentStore contract, run against LocalContentStore and MemoryContentStore, plus the on-disk guarantees."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.errors import InternalError, InvalidArgument, NotFound
from dockyard.image.content import (
    ContentStore,
    LocalContentStore,
    copy_stream,
    read_blob,
    write_blob,
)
from dockyard.image.content_memory import MemoryContentStore
from dockyard.oci.digest import Digest

DATA = b"the quick brown fox jumps over the lazy dog\n" * 1000
DIGEST = Digest.of_bytes(DATA)


@dataclass
class Harness:
    store: ContentStore
    corrupt: Callable[[Digest], None]  # flips one byte of a stored blob, bypassing verification
    reopen: Callable[[], ContentStore]  # a fresh store on the same backing state


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


def _local(root: Path) -> Harness:
    def corrupt(d: Digest) -> None:
        path = root / "blobs" / d.algorithm / d.hex
        path.chmod(0o644)
        path.write_bytes(_flip(path.read_bytes()))

    return Harness(LocalContentStore(str(root)), corrupt, lambda: LocalContentStore(str(root)))


def _memory() -> Harness:
    store = MemoryContentStore()
    return Harness(store, lambda d: store.tamper(d, _flip(read_blob(store, d))), lambda: store)


@pytest.fixture(params=["local", "memory"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield _local(tmp_path / "content") if request.param == "local" else _memory()


def test_write_commit_read(harness: Harness) -> None:
    store = harness.store
    with store.writer(DIGEST, len(DATA)) as w:
        for i in range(0, len(DATA), 1000):
            w.write(DATA[i : i + 1000])
        assert w.written == len(DATA) and w.digest() == DIGEST
        info = w.commit()
    assert (info.digest, info.size) == (DIGEST, len(DATA))
    assert store.info(DIGEST).size == len(DATA) and store.exists(DIGEST)
    assert read_blob(store, DIGEST) == DATA
    assert [b.digest for b in store.walk()] == [DIGEST]
    assert store.check() == []
    assert read_blob(harness.reopen(), DIGEST) == DATA


def test_commit_without_expected_digest_computes_it(harness: Harness) -> None:
    with harness.store.writer() as w:
        w.write(b"abc")
        info = w.commit()
    assert info.digest == Digest.of_bytes(b"abc")
    assert write_blob(harness.store, b"abc").digest == info.digest  # committing existing content succeeds


def test_sha512_blobs(harness: Harness) -> None:
    d = Digest.of_bytes(b"x", "sha512")
    assert write_blob(harness.store, b"x", d).digest == d
    assert read_blob(harness.store, d) == b"x"
    assert harness.store.check() == []


def test_missing_blob_is_not_found(harness: Harness) -> None:
    for call in (harness.store.info, harness.store.open, harness.store.delete):
        with pytest.raises(NotFound) as info:
            call(DIGEST)
        assert str(info.value) == f"blob `{DIGEST}`: not found"
    assert not harness.store.exists(DIGEST)


def test_delete(harness: Harness) -> None:
    write_blob(harness.store, DATA, DIGEST)
    harness.store.delete(DIGEST)
    assert not harness.store.exists(DIGEST) and list(harness.store.walk()) == []


def _assert_empty(store: ContentStore) -> None:
    assert list(store.walk()) == []
    assert not store.exists(DIGEST)


def test_digest_mismatch_publishes_nothing(harness: Harness) -> None:
    with pytest.raises(InvalidArgument) as info, harness.store.writer(DIGEST, len(DATA)) as w:
        w.write(_flip(DATA))
        w.commit()
    assert str(info.value) == f"commit blob `{DIGEST}`: digest mismatch, got {Digest.of_bytes(_flip(DATA))}"
    _assert_empty(harness.store)


def test_short_write_is_a_size_mismatch(harness: Harness) -> None:
    with pytest.raises(InvalidArgument) as info, harness.store.writer(DIGEST, len(DATA)) as w:
        w.write(DATA[:-1])
        w.commit()
    assert str(info.value) == f"commit blob `{DIGEST}`: size mismatch, expected {len(DATA)} bytes, got {len(DATA) - 1}"
    _assert_empty(harness.store)


def test_long_write_fails_at_once(harness: Harness) -> None:
    with pytest.raises(InvalidArgument) as info, harness.store.writer(DIGEST, 10) as w:
        w.write(DATA)
    assert str(info.value) == f"write blob `{DIGEST}`: size mismatch, more than 10 bytes"
    _assert_empty(harness.store)


def test_negative_size_is_refused(harness: Harness) -> None:
    with pytest.raises(InvalidArgument, match="size -1 is negative"):
        harness.store.writer(DIGEST, -1)


def test_writer_is_single_use(harness: Harness) -> None:
    w = harness.store.writer()
    w.write(b"a")
    w.commit()
    with pytest.raises(InternalError, match="writer is closed"):
        w.write(b"b")
    with pytest.raises(InternalError, match="writer is closed"):
        w.commit()


def test_abandoned_writer_leaves_no_visible_blob(harness: Harness) -> None:
    w = harness.store.writer(DIGEST, len(DATA))
    w.write(DATA)  # never committed, never closed
    _assert_empty(harness.store)
    _assert_empty(harness.reopen())
    with harness.store.writer(DIGEST, len(DATA)) as w2:
        w2.write(DATA)  # the block ends without commit: discarded
    _assert_empty(harness.store)
    w.abort()


def test_concurrent_writers_of_the_same_blob(harness: Harness) -> None:
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with harness.store.writer(DIGEST, len(DATA)) as w:
                barrier.wait()
                for i in range(0, len(DATA), 4096):
                    w.write(DATA[i : i + 4096])
                barrier.wait()  # every writer has written everything before anyone commits
                assert w.commit().digest == DIGEST
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [b.digest for b in harness.store.walk()] == [DIGEST]
    assert read_blob(harness.store, DIGEST) == DATA
    assert harness.store.check() == []


def test_check_finds_a_corrupted_blob(harness: Harness) -> None:
    write_blob(harness.store, DATA, DIGEST)
    other = write_blob(harness.store, b"fine").digest
    harness.corrupt(DIGEST)
    assert harness.store.check() == [f"blob `{DIGEST}`: digest mismatch, got {Digest.of_bytes(_flip(DATA))}"]
    assert harness.store.exists(other)


def test_copy_stream(harness: Harness, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(DATA * 30)
    with src.open("rb") as f:
        info = copy_stream(harness.store, f, Digest.of_bytes(DATA * 30), len(DATA) * 30)
    assert info.size == len(DATA) * 30


# --- LocalContentStore only: layout, durability, crash recovery -------------------------------------------


def test_local_layout_and_read_only_blobs(tmp_path: Path) -> None:
    store = LocalContentStore(str(tmp_path))
    write_blob(store, DATA, DIGEST)
    path = tmp_path / "blobs" / "sha256" / DIGEST.hex
    assert path.read_bytes() == DATA
    assert path.stat().st_mode & 0o777 == 0o444
    assert os.listdir(tmp_path / "ingest") == []


def test_local_commit_fsyncs_file_then_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalContentStore(str(tmp_path))
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_blob(store, DATA, DIGEST)
    assert len(synced) == 2
    assert synced[0].startswith(str(tmp_path / "ingest") + "/")
    assert synced[1] == str(tmp_path / "blobs" / "sha256")


def test_local_ingest_of_a_live_writer_survives_cleanup(tmp_path: Path) -> None:
    store = LocalContentStore(str(tmp_path))
    w = store.writer(DIGEST, len(DATA))
    w.write(DATA[:100])
    assert store.clean_ingest() == 0  # a writer is active: nothing is touched
    LocalContentStore(str(tmp_path))
    assert len(os.listdir(tmp_path / "ingest")) == 1
    w.write(DATA[100:])
    assert w.commit().digest == DIGEST
    assert os.listdir(tmp_path / "ingest") == []


CRASHING_WRITER = """
import os, signal, sys
from dockyard.image.content import LocalContentStore
from dockyard.oci.digest import Digest
data = b"x" * 100000
w = LocalContentStore(sys.argv[1]).writer(Digest.of_bytes(data), len(data))
w.write(data[:50000])
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_local_crash_mid_write_leaves_nothing_visible(tmp_path: Path) -> None:
    root = tmp_path / "content"
    proc = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(root)], capture_output=True, check=False)
    assert proc.returncode == -9, proc.stderr
    assert len(os.listdir(root / "ingest")) == 1  # the dead writer's partial file
    store = LocalContentStore(str(root))  # opening the store cleans it up
    assert os.listdir(root / "ingest") == []
    assert list(store.walk()) == []
    assert not store.exists(Digest.of_bytes(b"x" * 100000))


def test_local_check_reports_stray_files(tmp_path: Path) -> None:
    store = LocalContentStore(str(tmp_path))
    (tmp_path / "blobs" / "sha256" / "not-a-digest").write_bytes(b"?")
    (tmp_path / "blobs" / "md5").mkdir()
    assert list(store.walk()) == []
    assert store.check() == [
        f"blob `{tmp_path / 'blobs' / 'md5'}`: unexpected entry",
        f"blob `{tmp_path / 'blobs' / 'sha256' / 'not-a-digest'}`: unexpected entry",
    ]
