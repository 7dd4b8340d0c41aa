"""image/busybox.py: busybox:latest as a real one-layer image, reproducible to the byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.image.busybox import build_busybox
from dockyard.oci import mediatypes
from fixtures.images import open_store

pytestmark = pytest.mark.skipif(not os.path.isfile("/bin/busybox"), reason="needs busybox-static")


def test_busybox_is_a_reproducible_one_layer_image(tmp_path: Path) -> None:
    first, second = open_store(tmp_path / "a"), open_store(tmp_path / "b")
    image = build_busybox(first)
    again = build_busybox(second)
    assert (again.id, again.manifest_digest) == (image.id, image.manifest_digest)
    assert build_busybox(first).id == image.id and len(first.list()) == 1
    assert image.repo_tags == ("busybox:latest",)
    assert image.manifest.media_type == mediatypes.OCI_MANIFEST
    assert [layer.media_type for layer in image.manifest.layers] == [mediatypes.OCI_LAYER_GZIP]
    config = image.run_config
    assert config.cmd == ("sh",)
    assert config.env == ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    assert image.created.endswith("Z") and image.config.history and image.config.history[0].created == image.created
    assert first.snapshotter is not None
    root = Path(first.snapshotter.path(image.top_layer or ""))
    assert (root / "bin/busybox").read_bytes() == Path("/bin/busybox").read_bytes()
    assert os.readlink(root / "bin/sh") == "/bin/busybox"
    assert (root / "etc/passwd").read_text().startswith("root:x:0:0:root:/root:/bin/sh\n")
    assert oct((root / "tmp").stat().st_mode & 0o7777) == "0o1777"
    assert image.size >= os.path.getsize("/bin/busybox")
