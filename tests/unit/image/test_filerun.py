"""The applier's fast lane (image/filerun.py): it must do exactly what the general path does, and no more."""

from __future__ import annotations

import hashlib
import io
import os
import random
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.image import archive
from dockyard.image.archive import apply_layer
from fixtures.malicious_layers import Entry, directory, file, hardlink, symlink, tar

_BIG = (1 << 20) + 777  # larger than one read chunk: the lane must hand it to copy_to


def _layer() -> list[Entry]:
    """Plain files and directories with everything the lane decides on: names, modes, owners, sizes, times."""
    entries: list[Entry] = [directory("./etc/", mode=0o750, mtime=1_000), directory("./usr/lib/", mode=0o755)]
    for n in range(40):
        entries.append(file(f"./usr/lib/m{n}.py", f"module {n}\n".encode() * n, mtime=1_700_000_000 + n))
    entries += [
        file("./etc/passwd", b"root:x:0:0::/root:/bin/sh\n", mode=0o644, uid=0, gid=0),
        file("./etc/shadow", b"root:*:1::::::\n", mode=0o640, uid=0, gid=42),
        file("./usr/bin/su", b"\x7fELF", mode=0o4755),  # setuid: never exact, chmod after chown
        file("./usr/bin/wall", b"\x7fELF", mode=0o2755, gid=5),
        file("usr/share/café/menu.txt", "crème brûlée\n".encode(), uid=1000, gid=1000),  # non-ASCII header
        file("./usr/share/big.bin", bytes(range(256)) * (_BIG // 256) + b"x" * (_BIG % 256)),
        file("./usr/share/empty", b""),
        directory("./var/", mode=0o755, mtime=5),
        directory("./var/tmp", mode=0o1777),
        file("./var/tmp/after-big", b"still aligned\n"),
        hardlink("./usr/bin/su2", "./usr/bin/su"),
        symlink("./usr/bin/sh", "dash"),
        file("./var/tmp/last", b"end\n", mtime=123),
    ]
    return entries


def _tree(root: Path, dir_times: frozenset[str] = frozenset()) -> dict[str, tuple[object, ...]]:
    """Every path's mode, owner, size, mtime, link count and content digest, by relative path. A directory's
    mtime counts only when named in `dir_times`: one the layer only implies gets the time it was made."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
            mtime = 0 if stat.S_ISDIR(st.st_mode) and rel not in dir_times else st.st_mtime_ns
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, mtime, st.st_nlink, digest)
    return out


@pytest.fixture
def lane_count(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Entries the lane took, per apply_layer call (the lane must really run for these tests to mean anything)."""
    counts: list[int] = []
    finish = archive._Applier.finish

    def counting(self: archive._Applier) -> None:
        counts.append(self.run_entries)
        finish(self)

    monkeypatch.setattr(archive._Applier, "finish", counting)
    yield counts


def _without_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive._Applier, "file_run", lambda self, offset: offset)


def test_lane_and_general_path_build_the_same_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lane_count: list[int]
) -> None:
    layer = tar(*_layer())
    fast, general = tmp_path / "fast", tmp_path / "general"
    fast.mkdir()
    general.mkdir()
    fast_stats = apply_layer(io.BytesIO(layer), str(fast))
    _without_lane(monkeypatch)
    general_stats = apply_layer(io.BytesIO(layer), str(general))
    assert lane_count[0] >= 45 and lane_count[1] == 0
    explicit = frozenset(info.name.removeprefix("./").rstrip("/") for info, _ in _layer())
    assert _tree(fast, explicit) == _tree(general, explicit)
    assert fast_stats == general_stats
    assert (fast / "usr/share/big.bin").stat().st_size == _BIG
    assert (fast / "usr/share/café/menu.txt").read_text() == "crème brûlée\n"
    assert (fast / "usr/bin/su").stat().st_mode & 0o7777 == 0o4755
    assert (fast / "etc").stat().st_mtime_ns == 1_000 * 1_000_000_000
    assert fast_stats.entries == len(_layer())


def test_lane_replaces_what_a_lower_layer_left(tmp_path: Path, lane_count: list[int]) -> None:
    lower = tar(
        directory("d"),
        file("d/old", b"old\n"),
        directory("d/was-dir"),
        file("d/was-dir/inner", b"inner\n"),
        file("d/was-file", b"file\n"),
    )
    apply_layer(io.BytesIO(lower), str(tmp_path))
    upper = tar(
        directory("d"),
        file("d/a", b"a\n"),
        file("d/old", b"new\n"),  # exists: replaced, and the run goes on after it
        file("d/b", b"b\n"),
        file("d/was-dir", b"now a file\n"),  # a directory with content: removed first
        directory("d/was-file", mode=0o700),  # a directory where a file was
        file("d/was-file/x", b"x\n"),
        file("d/c", b"c\n"),
    )
    stats = apply_layer(io.BytesIO(upper), str(tmp_path))
    # d/a goes the general way ("d" existed: its inherit answer is not cached yet), and so does the entry after
    # each replacement (the lane stops after replacing); old, was-dir, x and c are the lane's
    assert lane_count[-1] >= 4
    for name, data in {"a": b"a\n", "old": b"new\n", "b": b"b\n", "was-dir": b"now a file\n", "c": b"c\n"}.items():
        assert (tmp_path / "d" / name).read_bytes() == data
    assert (tmp_path / "d/was-file/x").read_bytes() == b"x\n"
    assert (tmp_path / "d/was-file").stat().st_mode & 0o777 == 0o700
    assert stats.files == 6 and stats.directories == 2


def test_lane_follows_a_symlinked_parent_only_inside_the_root(tmp_path: Path, lane_count: list[int]) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    apply_layer(io.BytesIO(tar(symlink("up", "../../../.."), symlink("abs", str(outside)))), str(root))
    upper = tar(*(file(f"up/f{n}", b"in\n") for n in range(5)), *(file(f"abs/g{n}", b"in\n") for n in range(5)))
    apply_layer(io.BytesIO(upper), str(root))
    assert lane_count[-1] >= 8  # the first file under each link resolves it; the others reuse its fd
    assert list(outside.iterdir()) == []
    for n in range(5):
        assert (root / f"f{n}").read_bytes() == b"in\n"
        assert (root / str(outside).lstrip("/") / f"g{n}").read_bytes() == b"in\n"


def _header_offsets(layer: bytes) -> list[int]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tf:
        return [member.offset for member in tf]


def _with_checksum(layer: bytes, offset: int, value: int) -> bytes:
    data = bytearray(layer)
    data[offset + 148 : offset + 156] = b"%06o\0 " % value
    return bytes(data)


def _true_checksum(layer: bytes, offset: int) -> int:
    header = bytearray(layer[offset : offset + 512])
    header[148:156] = b" " * 8
    return sum(header)


@pytest.mark.parametrize("name", ["plain-ascii-name", "non-ascii-ñame-€€€"])
def test_lane_checks_header_checksums_exactly(tmp_path: Path, name: str, lane_count: list[int]) -> None:
    """Off by 65521 (the Adler-32 modulus the lane sums with) is still wrong: refused like any bad header.

    GNU format keeps the UTF-8 name in the ustar header (PAX would move it to an extended header).
    """
    layer = tar(file("a", b"1"), file("b", b"2"), file(name, b"3"), file("c", b"4"), fmt=tarfile.GNU_FORMAT)
    offset = _header_offsets(layer)[2]
    true = _true_checksum(layer, offset)
    for root in ("good", "bad"):
        (tmp_path / root).mkdir()
    apply_layer(io.BytesIO(_with_checksum(layer, offset, true)), str(tmp_path / "good"))
    assert (tmp_path / "good" / name).read_bytes() == b"3"
    for wrong in (true + 65521, true + 1):
        with pytest.raises(InvalidArgument, match="invalid tar header"):
            apply_layer(io.BytesIO(_with_checksum(layer, offset, wrong)), str(tmp_path / "bad"))
    assert lane_count[0] == 3  # b, the name, c: the first member is tarfile's


def _random_layer(rng: random.Random, fmt: int) -> bytes:
    """A layer of plain entries in random order and shapes: nested and `./` names, repeats (a later entry replaces
    an earlier one, a directory over a file and back), sizes around the 512-byte blocks, odd modes and owners."""
    dirs = ["a", "a/b", "a/b/c", "d", "d/é", "e"]
    entries: list[Entry] = []
    for _ in range(rng.randrange(5, 60)):
        parent = rng.choice(["", *dirs])
        name = (parent + "/" if parent else "") + rng.choice(["f", "g", "h", "x.txt", "ñ", "b", "c"])
        if rng.random() < 0.3:
            name = "./" + name
        attrs = {"mode": rng.choice([0o644, 0o755, 0o600, 0o4755, 0o2711, 0o1777, 0o444]),
                 "uid": rng.choice([0, 0, 1000]), "gid": rng.choice([0, 0, 50]),
                 "mtime": rng.randrange(1, 2_000_000_000)}  # fmt: skip
        if rng.random() < 0.2:
            entries.append(directory(name + "/" if rng.random() < 0.5 else name, **attrs))
        else:
            size = rng.choice([0, 1, 511, 512, 513, 4096, 70_000])
            entries.append(
                file(name, bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1), **attrs)
            )
    return tar(*entries, fmt=fmt)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_random_layers_come_out_the_same_with_and_without_the_lane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: int, lane_count: list[int]
) -> None:
    rng = random.Random(f"filerun-{fmt}")  # fixed: a failure replays
    for n in range(12):
        lower, layer = _random_layer(rng, fmt), _random_layer(rng, fmt)
        results = []
        for lane in (True, False):
            root = tmp_path / f"{n}-{lane}"
            root.mkdir()
            with monkeypatch.context() as patched:
                if not lane:
                    _without_lane(patched)
                outcome: list[object] = []
                for blob in (lower, layer):
                    try:
                        outcome.append(apply_layer(io.BytesIO(blob), str(root)))
                    except InvalidArgument as err:
                        outcome.append(str(err))
            results.append((outcome, _tree(root)))
        assert results[0] == results[1], f"layer pair {n} ({fmt})"
    assert sum(lane_count) > 50  # the lane did take part (counted for the applications that got to finish)


def test_a_file_that_replaces_a_directory_keeps_its_own_times(tmp_path: Path) -> None:
    """The directory's deferred times must not land on the file that replaced it, even when the file was given
    the directory's freed inode number (which file systems do often: the random-layer test found it)."""
    entries: list[Entry] = []
    for n in range(40):
        entries += [directory(f"d{n}", mode=0o444, mtime=1_000), file(f"d{n}", b"x" * n, mode=0o444, mtime=2_000)]
    apply_layer(io.BytesIO(tar(*entries)), str(tmp_path))
    for n in range(40):
        st = (tmp_path / f"d{n}").lstat()
        assert (stat.S_ISREG(st.st_mode), st.st_mtime_ns) == (True, 2_000 * 1_000_000_000), f"d{n}"
