"""The pieces under apply_layer: name cleaning, compression sniffing, the zstd frame walker, confined lookups."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from dockyard.image import whiteouts
from dockyard.image.layerstream import ZstdFrames, sniff
from dockyard.image.safepath import SafeRoot, clean_name, remove_tree
from dockyard.image.tarheaders import FastTarInfo, header_sum, plain_file


@pytest.mark.parametrize(
    ("name", "cleaned", "escaped"),
    [
        ("usr/bin/env", "usr/bin/env", False),
        ("./usr//bin/", "usr/bin", False),
        ("/etc/passwd", "etc/passwd", False),
        ("../../etc/passwd", "etc/passwd", True),
        ("a/../../b", "b", True),
        ("a/./b/../c", "a/c", False),
        (".", "", False),
        ("", "", False),
        ("..", "", True),
        (".wh..wh..opq", ".wh..wh..opq", False),
        (".bashrc", ".bashrc", False),
    ],
)
def test_clean_name(name: str, cleaned: str, escaped: bool) -> None:
    assert clean_name(name) == (cleaned, escaped)


def test_sniff() -> None:
    assert sniff(b"\x1f\x8b\x08") == "gzip"
    assert sniff(b"\x28\xb5\x2f\xfd\x00") == "zstd"
    assert sniff(b"BZh91") == "bzip2"
    assert sniff(b"\xfd7zXZ\x00") == "xz"
    assert sniff(b"usr/\x00") == "none"
    assert sniff(b"") == "none"


def test_zstd_frames_tell_whole_from_cut() -> None:
    zstandard = pytest.importorskip("zstandard")
    data = os.urandom(200_000) + bytes(300_000)
    for packed in (
        zstandard.ZstdCompressor(write_checksum=True).compress(data),
        zstandard.ZstdCompressor(write_content_size=False).compress(data),
        b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"skip" + zstandard.ZstdCompressor().compress(data),
    ):
        whole = ZstdFrames()
        for i in range(0, len(packed), 7777):
            whole.feed(packed[i : i + 7777])
        assert whole.complete()
        for cut in (1, 3, len(packed) // 2, len(packed) - 1):
            frames = ZstdFrames()
            frames.feed(packed[:cut])
            assert not frames.complete(), cut
    assert not ZstdFrames().complete()


def test_whiteout_names() -> None:
    assert whiteouts.whiteout_target(".wh.foo") == "foo"
    assert whiteouts.whiteout_target(".wh..wh..opq") is None
    assert whiteouts.whiteout_target("foo") is None
    assert whiteouts.whiteout_name("foo") == ".wh.foo"
    assert whiteouts.is_overlay_xattr("trusted.overlay.opaque")
    assert not whiteouts.is_overlay_xattr("trusted.other")


def test_safe_root_confines_symlinks_and_creates_parents(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "abs").symlink_to("/real")
    (root / "up").symlink_to("../../..")
    with SafeRoot(str(root)) as sroot:
        fd = sroot.dir_fd("abs", create=False)
        assert fd is not None and os.path.samestat(os.fstat(fd), os.stat(root / "real"))
        fd = sroot.dir_fd("up", create=False)
        assert fd is not None and os.path.samestat(os.fstat(fd), os.stat(root))
        assert sroot.dir_fd("missing/deeper", create=False) is None
        made = sroot.dir_fd("up/new/deeper", create=True)
        assert made is not None and os.path.samestat(os.fstat(made), os.stat(root / "new/deeper"))
    assert not (tmp_path / "new").exists()


def test_remove_tree_never_follows_symlinks(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "file").write_text("x")
    doomed = tmp_path / "doomed"
    (doomed / "a/b/c").mkdir(parents=True)
    (doomed / "a/b/c/f").write_text("x")
    (doomed / "a/link").symlink_to(keep)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        remove_tree(fd, "doomed")
    finally:
        os.close(fd)
    assert not doomed.exists()
    assert (keep / "file").read_text() == "x"


def _header(fmt: int, **attrs: object) -> bytes:
    info = tarfile.TarInfo(str(attrs.pop("name", "usr/lib/x")))
    for key, value in attrs.items():
        setattr(info, key, value)
    return info.tobuf(fmt, "utf-8", "surrogateescape")[: tarfile.BLOCKSIZE]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize(
    "attrs",
    [
        {"size": 1234, "mtime": 1_700_000_000, "uid": 1000, "gid": 1000, "mode": 0o4755},
        {"name": "a/" * 60 + "file", "type": tarfile.REGTYPE},  # ustar prefix field
        {"name": "dir/", "type": tarfile.DIRTYPE},
        {"name": "link", "type": tarfile.SYMTYPE, "linkname": "../target"},
        {"name": "hard", "type": tarfile.LNKTYPE, "linkname": "usr/lib/x"},
        {"name": "dev", "type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 17},
        {"name": "fifo", "type": tarfile.FIFOTYPE},
        {"uid": 0o7777777, "gid": 5, "uname": "someone"},
        {"name": "caf\u00e9"},
    ],
)
def test_fast_header_decoder_agrees_with_tarfile(fmt: int, attrs: dict[str, object]) -> None:
    try:
        buf = _header(fmt, **attrs)
    except ValueError:
        pytest.skip("not representable in this format")
    fast = FastTarInfo.frombuf(buf, "utf-8", "surrogateescape").get_info()
    slow = tarfile.TarInfo.frombuf(buf, "utf-8", "surrogateescape").get_info()
    fast.pop("uname"), fast.pop("gname"), slow.pop("uname"), slow.pop("gname")  # not decoded: owners are numeric
    assert fast == slow


def test_fast_header_decoder_falls_back_on_base256_and_bad_checksum() -> None:
    buf = _header(tarfile.GNU_FORMAT, uid=1 << 30)
    assert FastTarInfo.frombuf(buf, "utf-8", "surrogateescape").uid == 1 << 30
    broken = bytearray(_header(tarfile.USTAR_FORMAT))
    broken[0] ^= 1
    with pytest.raises(tarfile.InvalidHeaderError, match="bad checksum"):
        FastTarInfo.frombuf(bytes(broken), "utf-8", "surrogateescape")


def test_header_sum_is_the_ustar_checksum() -> None:
    for block in (bytes(512), b"\xff" * 512, os.urandom(512), _header(tarfile.USTAR_FORMAT)):
        assert header_sum(block) == 256 + sum(block) - sum(block[148:156])


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize(
    "attrs",
    [
        {"size": 1234, "mtime": 1_700_000_000, "uid": 1000, "gid": 1000, "mode": 0o4755},
        {"name": "./etc/conf", "size": 0, "mode": 0o600},
        {"uid": 0o7777777, "gid": 5},
    ],
)
def test_plain_file_agrees_with_the_header_decoder(fmt: int, attrs: dict[str, object]) -> None:
    buf = _header(fmt, **attrs)
    plain = plain_file(buf)
    slow = FastTarInfo.frombuf(buf, "utf-8", "surrogateescape")
    assert plain is not None
    got = (plain.name, plain.mode, plain.uid, plain.gid, plain.size, plain.mtime, plain.pax_headers, plain.sparse)
    assert got == (slow.name, slow.mode, slow.uid, slow.gid, slow.size, slow.mtime, {}, None)


@pytest.mark.parametrize(
    "attrs",
    [
        {"type": tarfile.DIRTYPE},
        {"type": tarfile.SYMTYPE, "linkname": "x"},
        {"type": tarfile.AREGTYPE, "name": "looks/like/a/dir/"},
        {"name": "a/" * 60 + "file"},  # the ustar prefix field is in use
        {"uid": 1 << 30},  # base-256: tarfile decodes it
    ],
)
def test_plain_file_leaves_everything_else_to_tarfile(attrs: dict[str, object]) -> None:
    assert plain_file(_header(tarfile.GNU_FORMAT, **attrs)) is None


def test_plain_file_refuses_a_bad_checksum_and_a_non_octal_number() -> None:
    broken = bytearray(_header(tarfile.USTAR_FORMAT))
    broken[0] ^= 1
    assert plain_file(bytes(broken)) is None
    junk = bytearray(_header(tarfile.USTAR_FORMAT, size=7))
    junk[124:136] = b"00000000007x"
    assert plain_file(bytes(junk)) is None


def test_plain_file_ids_cache_gives_each_header_its_own_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.image import tarheaders

    for limit in (100, 3):  # every field pair and triple repeats; then a cache cleared again and again
        monkeypatch.setattr(tarheaders, "_ids", {})
        monkeypatch.setattr(tarheaders, "_MAX_IDS", limit)
        for n in range(24):
            mode, uid, gid = 0o600 + n % 2, n % 3, 100 + n % 12
            plain = plain_file(_header(tarfile.USTAR_FORMAT, mode=mode, uid=uid, gid=gid, size=n))
            assert plain is not None
            assert (plain.mode, plain.uid, plain.gid, plain.size) == (mode, uid, gid, n)
            assert len(tarheaders._ids) <= limit
    junk = bytearray(_header(tarfile.USTAR_FORMAT, uid=1, gid=101, mode=0o601))
    junk[108:116] = b"000000x\0"  # a uid that is not octal, next to cached mode and gid fields
    junk[148:156] = b"%06o\0 " % (256 + sum(junk) - sum(junk[148:156]))
    assert plain_file(bytes(junk)) is None
