"""Archive plumbing: compression detection and strict decompression, tar member lookup with links kept inside
the archive."""

from __future__ import annotations

import gzip
import io

import pytest
import zstandard

from dockyard.errors import InvalidArgument, NotFound
from dockyard.image.transfer.compression import decompress, detect
from dockyard.image.transfer.tarindex import TarIndex, normalize
from fixtures.transfer import tar_of


def test_detect() -> None:
    assert detect(gzip.compress(b"x")) == "gzip"
    assert detect(zstandard.ZstdCompressor().compress(b"x")) == "zstd"
    assert detect(b"BZh91AY") == "bzip2"
    assert detect(b"\xfd7zXZ\x00\x00") == "xz"
    assert detect(b"ustar") == "none"


def test_decompress_concatenated_members_and_frames() -> None:
    out = io.BytesIO()
    assert decompress(io.BytesIO(gzip.compress(b"ab") + gzip.compress(b"cd")), out, "gzip", "t") == 4
    assert out.getvalue() == b"abcd"
    z = zstandard.ZstdCompressor()
    out = io.BytesIO()
    decompress(io.BytesIO(z.compress(b"ab") + z.compress(b"cd")), out, "zstd", "t")
    assert out.getvalue() == b"abcd"


@pytest.mark.parametrize(
    ("data", "kind", "message"),
    [
        (gzip.compress(b"abc" * 1000)[:-5], "gzip", "^t: unexpected end of data$"),
        (gzip.compress(b"abc") + b"trailing", "gzip", "^t: invalid gzip header after the end of the stream$"),
        (zstandard.ZstdCompressor().compress(b"abc" * 1000)[:-3], "zstd", "^t: unexpected end of data$"),
        (b"\x1f\x8b" + b"\x00" * 30, "gzip", "^t: corrupt gzip stream: "),
        (b"", "gzip", "^t: unexpected end of data$"),
    ],
)
def test_decompress_errors(data: bytes, kind: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        decompress(io.BytesIO(data), io.BytesIO(), kind, "t")


def test_normalize() -> None:
    assert normalize("./a//b/../c") == "a/c"
    assert normalize("/etc/x") == "etc/x"
    assert normalize("a/../../x") == "../x"


def test_tar_index_follows_links_only_inside() -> None:
    data = tar_of(
        {"blobs/sha256/aa": b"blob", "top.txt": b"top"},
        {"id/layer.tar": "../blobs/sha256/aa", "escape": "../../etc/passwd", "abs": "/top.txt", "loop": "loop"},
    )
    index = TarIndex(io.BytesIO(data))
    with index.open("id/layer.tar") as f:
        assert f.read() == b"blob"
    assert index.size("./id/layer.tar") == 4
    assert not index.exists("escape")
    assert index.exists("abs")  # an absolute link target is rooted at the archive
    with pytest.raises(NotFound, match="^load: `nothere` not found in the archive$"):
        index.open("nothere")
    with pytest.raises(InvalidArgument, match="too many levels of links"):
        index.exists("loop")


def test_member_reader_seeks_within_the_member() -> None:
    index = TarIndex(io.BytesIO(tar_of({"a": b"0123456789", "b": b"xyz"})))
    with index.open("a") as f:
        assert f.read(3) == b"012"
        f.seek(0)
        assert f.read() == b"0123456789"
