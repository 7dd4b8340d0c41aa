"""image/layerstream.py: where a compressed layer's diff_id is hashed (its own thread for slow decompressors,
the decompressing thread for zstd), and that the digest is the same either way."""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Callable

import pytest

from dockyard.image import layerstream
from fixtures.transfer import tar_of

TAR = tar_of({f"dir/file{i}": bytes([i]) * (1000 + i) for i in range(50)})


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return bytes(zstandard.ZstdCompressor().compress(data))


@pytest.mark.parametrize(
    ("compress", "compression", "threaded"),
    [(gzip.compress, "gzip", True), (_zstd, "zstd", False), (lambda d: d, "none", False)],
)
def test_digest_thread_only_for_slow_decompressors(
    compress: Callable[[bytes], bytes], compression: str, threaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    real = layerstream._Hasher

    class Recording(real):  # type: ignore[misc,valid-type]
        def __init__(self, update: Callable[[bytes], object]) -> None:
            started.append(compression)
            super().__init__(update)

    monkeypatch.setattr(layerstream, "_Hasher", Recording)
    reader = layerstream.LayerReader(io.BytesIO(compress(TAR)), compression, digest=True)
    try:
        data = b""
        while chunk := reader.read(65536):
            data += chunk
        reader.drain()
    finally:
        reader.close()
    assert data == TAR
    assert reader.diff_id == "sha256:" + hashlib.sha256(TAR).hexdigest()
    assert bool(started) is threaded
