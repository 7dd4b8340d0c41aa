"""image/store.py and image/busybox.py: the simple store and the busybox stand-in image."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import NotFound
from dockyard.image.busybox import build_busybox
from dockyard.image.store import ImageStore

pytestmark = pytest.mark.skipif(not os.path.isfile("/bin/busybox"), reason="needs busybox-static")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ImageStore:
    store = ImageStore(str(tmp_path_factory.mktemp("images")))
    build_busybox(store)
    return store


def test_busybox_image_layout(built: ImageStore) -> None:
    image = built.get("busybox")
    root = Path(image.rootfs)
    assert (root / "bin/busybox").is_file()
    assert os.readlink(root / "bin/sh") == "/bin/busybox"
    assert (root / "etc/passwd").read_text().startswith("root:x:0:0:root:/root:/bin/sh\n")
    assert "wheel:x:10:root" in (root / "etc/group").read_text()
    assert oct((root / "tmp").stat().st_mode & 0o7777) == "0o1777"
    config = image.run_config
    assert config.cmd == ("sh",)
    assert config.env == ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    assert image.names == ("busybox:latest",)


def test_build_is_idempotent_and_id_is_the_config_digest(built: ImageStore) -> None:
    first = built.get("busybox:latest")
    again = build_busybox(built)
    assert again.id == first.id
    assert again.id == first.config.id()
    assert [e for e in os.listdir(built.root) if not e.startswith(".") and e != "names.json"] == [first.id.hex]


def test_lookup_forms(built: ImageStore) -> None:
    image = built.get("busybox")
    for ref in ("docker.io/library/busybox:latest", image.id.hex[:12], str(image.id), image.id.hex):
        assert built.get(ref).id == image.id
    assert [i.id for i in built.list()] == [image.id]


@pytest.mark.parametrize(
    ("ref", "shown"), [("nosuch", "nosuch:latest"), ("busybox:1.0", "busybox:1.0"), ("UPPER", "UPPER")]
)
def test_missing_images(built: ImageStore, ref: str, shown: str) -> None:
    with pytest.raises(NotFound) as info:
        built.get(ref)
    assert info.value.message == f"No such image: {shown}"
