"""apply_layer without root: content, modes, times, links, whiteouts, compression, stats and bad input."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NotFound, Unsupported
from dockyard.image.archive import LayerStats, apply_layer
from fixtures.malicious_layers import directory, entry, file, hardlink, symlink, tar


def apply(root: Path, *entries: tuple[tarfile.TarInfo, bytes], compression: str | None = None) -> LayerStats:
    return apply_layer(io.BytesIO(tar(*entries)), str(root), compression=compression)


def names(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def test_files_dirs_symlinks_hardlinks_modes(tmp_path: Path) -> None:
    stats = apply(
        tmp_path,
        directory("etc", mode=0o751),
        file("etc/hosts", b"127.0.0.1 localhost\n", mode=0o640),
        file("bin/tool", b"#!/bin/sh\n", mode=0o4755),
        symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
        hardlink("bin/tool2", "bin/tool"),
        directory("tmp", mode=0o1777),
    )
    assert (tmp_path / "etc/hosts").read_bytes() == b"127.0.0.1 localhost\n"
    assert stat.S_IMODE((tmp_path / "etc/hosts").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "etc").stat().st_mode) == 0o751
    assert stat.S_IMODE((tmp_path / "bin/tool").stat().st_mode) == 0o4755
    assert stat.S_IMODE((tmp_path / "tmp").stat().st_mode) == 0o1777
    assert stat.S_IMODE((tmp_path / "bin").stat().st_mode) == 0o755  # implicit parent
    assert os.readlink(tmp_path / "etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert (tmp_path / "bin/tool").stat().st_ino == (tmp_path / "bin/tool2").stat().st_ino
    assert (stats.files, stats.directories, stats.symlinks, stats.hardlinks) == (2, 2, 1, 1)
    assert stats.entries == 6 and stats.content_bytes == 30


def test_times_including_pax_nanoseconds_and_dirs_after_content(tmp_path: Path) -> None:
    apply(
        tmp_path,
        directory("d", mtime=1000),
        file("d/f", mtime=2000, pax_headers={"mtime": "2000.123456789", "atime": "2500.5"}),
        symlink("d/l", "f", mtime=3000),
    )
    st = os.stat(tmp_path / "d/f")
    assert (st.st_mtime_ns, st.st_atime_ns) == (2_000_123_456_789, 2_500_500_000_000)
    assert os.stat(tmp_path / "d").st_mtime == 1000  # not bumped by creating d/f and d/l
    assert os.lstat(tmp_path / "d/l").st_mtime == 3000


def test_stats_diff_id_and_stream_fully_read(tmp_path: Path) -> None:
    raw = tar(file("a", b"x" * 1000), directory("b"))
    stream = io.BytesIO(raw + b"\0" * 4096)  # padding after the end-of-archive blocks is read too
    stats = apply_layer(stream, str(tmp_path))
    assert stats.diff_id == "sha256:" + hashlib.sha256(raw + b"\0" * 4096).hexdigest()
    assert stats.tar_bytes == stats.compressed_bytes == len(raw) + 4096
    assert stats.compression == "none"
    assert stream.read() == b""


@pytest.mark.parametrize(
    ("kind", "pack"),
    [("gzip", gzip.compress), ("bzip2", bz2.compress), ("xz", lzma.compress), ("none", lambda b: b)],
)
def test_compression_sniffed_and_explicit(tmp_path: Path, kind: str, pack: object) -> None:
    raw = tar(file("f", b"data" * 5000))
    packed = pack(raw)  # type: ignore[operator]
    for explicit in (None, kind):
        root = tmp_path / str(explicit)
        root.mkdir()
        stats = apply_layer(io.BytesIO(packed), str(root), compression=explicit)
        assert (root / "f").read_bytes() == b"data" * 5000
        assert stats.compression == kind
        assert stats.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
        assert stats.compressed_bytes == len(packed)


def test_zstd_multi_frame_and_truncated(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    raw = tar(file("f", os.urandom(300_000)))
    half = len(raw) // 2
    packed = zstandard.ZstdCompressor().compress(raw[:half]) + zstandard.ZstdCompressor().compress(raw[half:])
    stats = apply_layer(io.BytesIO(packed), str(tmp_path))
    assert stats.compression == "zstd" and stats.tar_bytes == len(raw)
    whole = zstandard.ZstdCompressor().compress(raw)
    (tmp_path / "other").mkdir()
    with pytest.raises(InvalidArgument, match="apply layer: corrupt zstd stream: unexpected end of data"):
        apply_layer(io.BytesIO(whole[:-3]), str(tmp_path / "other"))


def test_zstd_without_the_package_is_unsupported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(Unsupported, match="zstd layers need the `zstandard` package"):
        apply_layer(io.BytesIO(b"\x28\xb5\x2f\xfd" + bytes(100)), str(tmp_path))


def test_unknown_compression_and_missing_root(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="apply layer: unknown compression `lz4`"):
        apply_layer(io.BytesIO(b""), str(tmp_path), compression="lz4")
    with pytest.raises(NotFound, match="open root `.*/nope`: no such directory"):
        apply_layer(io.BytesIO(tar(file("a"))), str(tmp_path / "nope"))


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (os.urandom(2048), "apply layer: (bad checksum|invalid header)"),
        (tar(file("a", b"x" * 3000))[:1200], "entry `a`: unexpected end of data"),
        (tar(entry("vol", b"V")), "entry `vol`: unsupported entry type `V`"),
        (tar(hardlink("h", "missing")), "entry `h`: hardlink target `missing` not found"),
        (tar(hardlink("h", "../../x")), r"entry `h`: invalid hardlink to `../../x`: target escapes the root"),
        (tar(symlink("s", "")), "entry `s`: empty symlink target"),
        (tar(file("a"), file("a/b")), "entry `a/b`: not a directory"),
        (gzip.compress(tar(file("a"))) + b"junk", "corrupt compressed stream: trailing garbage"),
        (gzip.compress(tar(file("a"))) + bytes(100) + b"junk", "corrupt compressed stream: trailing garbage"),
        (
            tar(entry("big", tarfile.XHDTYPE, b"9" * (2 << 20), size=2 << 20)),
            "tar header of 2097152 bytes is too large",
        ),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else "layer",
)
def test_bad_layers_are_refused_with_a_message(tmp_path: Path, layer: bytes, message: str) -> None:
    threads = threading.active_count()
    with pytest.raises(InvalidArgument, match=message):
        apply_layer(io.BytesIO(layer), str(tmp_path))
    assert threading.active_count() == threads


def test_whiteouts_across_layers(tmp_path: Path) -> None:
    apply(tmp_path, file("a"), file("d/x"), file("d/y"), directory("gone"), file("gone/deep/z"))
    stats = apply(tmp_path, file(".wh.a"), file("d/.wh.x"), file(".wh.gone"), file(".wh.never-existed"))
    assert names(tmp_path) == {"d", "d/y"}
    assert stats.whiteouts == 4 and stats.files == 0


def test_whiteout_never_hides_the_same_layer(tmp_path: Path) -> None:
    apply(tmp_path, file("x", b"lower\n"))
    apply(tmp_path, file("x", b"upper\n"), file(".wh.x"))
    assert (tmp_path / "x").read_bytes() == b"upper\n"


def test_opaque_dir_keeps_this_layers_entries(tmp_path: Path) -> None:
    apply(tmp_path, file("d/old"), file("d/sub/older"), file("other/kept"))
    stats = apply(tmp_path, directory("d"), file("d/new"), file("d/.wh..wh..opq"), file("d/newdir/f"))
    assert names(tmp_path) == {"d", "d/new", "d/newdir", "d/newdir/f", "other", "other/kept"}
    assert stats.opaque_dirs == 1


def test_aufs_metadata_is_skipped(tmp_path: Path) -> None:
    apply(tmp_path, directory(".wh..wh.plnk"), file(".wh..wh.plnk/123.456"), file(".wh..wh.aufs"), file("real"))
    assert names(tmp_path) == {"real"}


def test_replacement_rules(tmp_path: Path) -> None:
    apply(tmp_path, file("dir/lower"), file("was-dir/deep/f"), file("was-file"), symlink("was-link", "/x"))
    apply(tmp_path, directory("dir"), file("was-dir"), directory("was-file"), file("was-link", b"now\n"))
    assert (tmp_path / "dir/lower").is_file()  # a directory over a directory merges
    assert (tmp_path / "was-dir").is_file()
    assert (tmp_path / "was-file").is_dir()
    assert not (tmp_path / "was-link").is_symlink()


def test_dangling_symlink_in_parent_creates_the_target_inside(tmp_path: Path) -> None:
    apply(tmp_path, symlink("l", "/made/here"), file("l/f"))
    assert (tmp_path / "made/here/f").is_file()


def test_read_only_directory_is_filled_before_its_mode(tmp_path: Path) -> None:
    apply(tmp_path, directory("ro", mode=0o555), file("ro/f"), directory("ro/sub", mode=0o500), file("ro/sub/g"))
    assert (tmp_path / "ro/sub/g").is_file()
    assert stat.S_IMODE((tmp_path / "ro").stat().st_mode) == 0o555
    os.chmod(tmp_path / "ro/sub", 0o755)
    os.chmod(tmp_path / "ro", 0o755)


def test_user_xattrs_are_applied(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError:
        pytest.skip("file system without user xattrs")
    value = "\udcff\udcfe"  # tarfile's surrogateescape view of non-UTF-8 bytes
    apply(
        tmp_path,
        file("f", pax_headers={"SCHILY.xattr.user.mime": "text/plain", "SCHILY.xattr.user.bin": value}),
        directory("d", pax_headers={"SCHILY.xattr.user.dir": "yes"}),
    )
    assert os.getxattr(tmp_path / "f", "user.mime") == b"text/plain"
    assert os.getxattr(tmp_path / "f", "user.bin") == b"\xff\xfe"
    assert os.getxattr(tmp_path / "d", "user.dir") == b"yes"


def test_empty_and_zero_block_streams_are_empty_layers(tmp_path: Path) -> None:
    assert apply_layer(io.BytesIO(b""), str(tmp_path)).entries == 0
    assert apply_layer(io.BytesIO(bytes(1024)), str(tmp_path)).entries == 0
    assert os.listdir(tmp_path) == []


def test_large_sparse_like_file_streams_in_bounded_pieces(tmp_path: Path) -> None:
    size = 24 << 20
    layer = gzip.compress(tar(file("zeros", bytes(size))), compresslevel=1)
    assert len(layer) < size // 100
    stats = apply_layer(io.BytesIO(layer), str(tmp_path))
    assert (tmp_path / "zeros").stat().st_size == size == stats.content_bytes
