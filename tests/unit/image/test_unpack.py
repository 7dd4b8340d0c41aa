"""image/unpack.py with the native snapshotter: chain-ID snapshots, whiteouts, diff_id checks, concurrency."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import zstandard

from dockyard.errors import InvalidArgument, NotFound
from dockyard.image.content import write_blob
from dockyard.image.gc import check
from dockyard.image.mutate import append_layer
from dockyard.image.store import ImageStore
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor
from fixtures.images import add, build, layer, open_store
from fixtures.malicious_layers import directory, file, symlink

LOWER = layer(
    directory("etc"), file("etc/keep", b"keep\n"), file("etc/gone", b"gone\n"),
    directory("opaque"), file("opaque/old", b"old\n"), symlink("lib", "usr/lib"),
)  # fmt: skip
UPPER = layer(
    file("etc/.wh.gone"), directory("opaque"), file("opaque/.wh..wh..opq"), file("opaque/new", b"new\n"),
    file("etc/keep", b"changed\n"),
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return open_store(tmp_path)


def test_two_layers_apply_in_order_with_whiteouts(store: ImageStore) -> None:
    image = add(store, [LOWER, UPPER], ["app:1"])
    assert store.snapshotter is not None
    chain = [str(c) for c in image.chain_ids]
    assert chain[0] == str(image.config.rootfs.diff_ids[0])
    assert sorted(i.key for i in store.snapshotter.walk()) == sorted(chain)
    top = Path(store.snapshotter.path(chain[1]))
    assert (top / "etc/keep").read_bytes() == b"changed\n"
    assert not (top / "etc/gone").exists()
    assert sorted(os.listdir(top / "opaque")) == ["new"]
    assert os.readlink(top / "lib") == "usr/lib"
    assert Path(store.snapshotter.path(chain[0]), "etc/gone").read_bytes() == b"gone\n"  # the lower is untouched
    assert store.snapshotter.stat(chain[1]).parent == chain[0]


def test_unpack_is_idempotent_and_layers_are_shared(store: ImageStore) -> None:
    first = add(store, [LOWER], ["a:1"])
    assert store.snapshotter is not None
    before = {i.key: i.id for i in store.snapshotter.walk()}
    second = add(store, [LOWER, UPPER], ["b:1"])
    again = store.unpack(store.get("b:1"))
    after = {i.key: i.id for i in store.snapshotter.walk()}
    assert after[str(first.chain_ids[0])] == before[str(first.chain_ids[0])]  # the shared layer, once
    assert set(after) == {str(c) for c in second.chain_ids} and again.size == second.size


def test_diff_id_mismatch_is_refused_and_leaves_no_snapshot(store: ImageStore) -> None:
    built = build(store, [LOWER])
    config = json.loads(built.config_raw)
    config["rootfs"]["diff_ids"] = ["sha256:" + "a" * 64]
    config_raw = json.dumps(config).encode()
    manifest = json.loads(built.manifest_raw)
    manifest["config"].update(digest=str(Digest.of_bytes(config_raw)), size=len(config_raw))
    with pytest.raises(InvalidArgument) as info:
        store.add(json.dumps(manifest).encode(), config_raw, ["bad:1"])
    layer_digest = built.manifest.layers[0].digest
    assert info.value.message == (
        f"unpack layer `{layer_digest}`: diff_id mismatch, the config says sha256:{'a' * 64}, the layer is"
        f" {built.config.rootfs.diff_ids[0]}"
    )
    assert store.snapshotter is not None and list(store.snapshotter.walk()) == []
    assert store.list() == [] and check(store) == []


def test_plain_and_zstd_layers(store: ImageStore) -> None:
    plain = add(store, [LOWER], ["plain:1"], compression="none")
    assert plain.manifest.layers[0].media_type == mediatypes.OCI_LAYER
    assert plain.manifest.layers[0].digest == plain.config.rootfs.diff_ids[0]
    data = zstandard.ZstdCompressor().compress(UPPER)
    info = write_blob(store.content, data)
    zstd = Descriptor(media_type=mediatypes.OCI_LAYER_ZSTD, digest=info.digest, size=info.size)
    built = append_layer(build(store, [LOWER]), zstd, Digest.of_bytes(UPPER))
    image = store.add(built.manifest_raw, built.config_raw, ["zstd:1"])
    assert store.snapshotter is not None
    assert Path(store.snapshotter.path(image.top_layer or ""), "opaque/new").read_bytes() == b"new\n"


def test_a_missing_layer_blob_is_not_found(store: ImageStore) -> None:
    image = add(store, [LOWER], ["a:1"], unpack=False)
    store.content.delete(image.manifest.layers[0].digest)
    with pytest.raises(NotFound) as info:
        store.unpack(image)
    assert info.value.message == f"unpack layer `{image.manifest.layers[0].digest}`: blob not found"


def test_concurrent_unpacks_of_the_same_layers(store: ImageStore, tmp_path: Path) -> None:
    big = layer(directory("d"), *(file(f"d/f{i}", os.urandom(4096)) for i in range(300)))
    built = build(store, [big, UPPER])
    pids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the children
            code = 1
            try:
                open_store(tmp_path).add(built.manifest_raw, built.config_raw, ["race:1"])
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    assert all(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in pids)
    image = store.get("race:1")
    assert store.snapshotter is not None
    assert sorted(i.key for i in store.snapshotter.walk()) == sorted(str(c) for c in image.chain_ids)
    assert len(os.listdir(Path(store.snapshotter.path(image.top_layer or ""), "d"))) == 300
    assert check(store) == []


def test_import_rootfs_makes_a_one_layer_image(store: ImageStore) -> None:
    from dockyard.image.debian import import_rootfs

    rootfs = layer(directory("bin"), file("bin/bash", b"#!fake\n", mode=0o755), file("etc/debian_version", b"12\n"))
    image = import_rootfs(store, io.BytesIO(rootfs), names=["debian:bookworm"], created="2024-05-06T07:08:09Z")
    assert image.repo_tags == ("debian:bookworm",) and image.run_config.cmd == ("bash",)
    assert image.config.rootfs.diff_ids == (Digest.of_bytes(rootfs),)
    assert image.manifest.layers[0].media_type == mediatypes.OCI_LAYER_GZIP
    assert store.snapshotter is not None
    assert Path(store.snapshotter.path(image.top_layer or ""), "etc/debian_version").read_bytes() == b"12\n"


def test_build_debian_without_mmdebstrap_says_how_to_get_it(store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.image import debian

    monkeypatch.setattr(debian.shutil, "which", lambda _name: None)
    with pytest.raises(NotFound) as info:
        debian.build_debian(store)
    assert info.value.message == "build debian image: `mmdebstrap` is not installed"
    assert info.value.hint == "apt-get install -y mmdebstrap"


def test_only_compressed_layers_are_hashed_again(store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # An uncompressed blob's digest is its diff_id, verified when the content store committed it.
    from dockyard.image.archive import apply_layer as real

    seen: list[tuple[str | None, bool]] = []

    def spy(stream: io.BufferedIOBase, root: str, *, compression: str | None = None, digest: bool = True) -> object:
        seen.append((compression, digest))
        return real(stream, root, compression=compression, digest=digest)  # type: ignore[arg-type]

    monkeypatch.setattr("dockyard.image.unpack.apply_layer", spy)
    add(store, [LOWER], ["plain:1"], compression="none")
    add(store, [UPPER], ["packed:1"], compression="gzip")
    assert seen == [("none", False), ("gzip", True)]
