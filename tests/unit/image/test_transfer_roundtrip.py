"""save → load round trips in every layout, loads of hand-written docker-archive / combined / oci-archive tars,
compressed with gzip, zstd or not, and the save name rules."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockyard.image.transfer.load import load
from dockyard.image.transfer.local import save_items, stream_save
from dockyard.image.transfer.save import LAYOUTS, save
from dockyard.image.transfer.sources import ContentSource
from dockyard.oci.digest import Digest
from fixtures.images import add, layer
from fixtures.malicious_layers import file, symlink
from fixtures.transfer import docker_archive, layer_tar, oci_archive, sha, store


def _save(src_store, names, layout="combined") -> bytes:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    save(save_items(src_store, names), out, layout=layout)
    return out.getvalue()


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_round_trip_keeps_id_tags_and_layers(tmp_path: Path, layout: str, compression: str) -> None:
    src = store(tmp_path / "a")
    image = add(src, [layer(file("a.txt", b"one\n")), layer(file("b.txt", b"two\n"))], ["busybox:latest", "me/bb:v1"],
                unpack=False, compression=compression)  # fmt: skip
    data = _save(src, ["busybox", "me/bb:v1"], layout)
    dst = store(tmp_path / "b")
    lines: list[str] = []
    loaded = load(dst, io.BytesIO(data), lines.append)
    assert [r.image_id for r in loaded] == [image.id]
    assert lines == ["Loaded image: busybox:latest", "Loaded image: me/bb:v1"]
    got = dst.get("me/bb:v1")
    assert got.id == image.id and got.repo_tags == ("busybox:latest", "me/bb:v1")
    if layout == "oci" or (layout == "combined" and compression == "none"):
        assert got.manifest_digest == image.manifest_digest  # the stored manifest travels byte for byte
    assert got.config.rootfs.diff_ids == image.config.rootfs.diff_ids


def test_combined_layout_has_docker_and_oci_views(tmp_path: Path) -> None:
    src = store(tmp_path / "a")
    image = add(src, [layer(file("a.txt"))], ["busybox:latest"], unpack=False, compression="gzip")
    with tarfile.open(fileobj=io.BytesIO(_save(src, ["busybox"]))) as tf:
        names = set(tf.getnames())
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tf.extractfile("index.json"))  # type: ignore[arg-type]
        layer_member = tf.extractfile(manifest[0]["Layers"][0])
        assert layer_member is not None
        layer_bytes = layer_member.read()
    assert {"oci-layout", "index.json", "manifest.json"} <= names
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    assert manifest[0]["Config"] == f"blobs/sha256/{image.id.hex}"
    assert sha(layer_bytes) == str(image.config.rootfs.diff_ids[0])  # uncompressed for Docker's loader
    annotations = index["manifests"][0]["annotations"]
    assert annotations == {"io.containerd.image.name": "docker.io/library/busybox:latest",
                           "org.opencontainers.image.ref.name": "latest"}  # fmt: skip


def test_legacy_layout_files(tmp_path: Path) -> None:
    src = store(tmp_path / "a")
    image = add(src, [layer(file("a.txt")), layer(file("b.txt"))], ["busybox:latest"], unpack=False)
    with tarfile.open(fileobj=io.BytesIO(_save(src, ["busybox"], "legacy"))) as tf:
        names = set(tf.getnames())
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        repositories = json.load(tf.extractfile("repositories"))  # type: ignore[arg-type]
    assert f"{image.id.hex}.json" in names
    top = manifest[0]["Layers"][-1].split("/")[0]
    assert repositories == {"busybox": {"latest": top}}
    assert {f"{top}/VERSION", f"{top}/json", f"{top}/layer.tar"} <= names


@pytest.mark.parametrize("wrap", ["none", "gzip", "zstd"])
def test_load_compressed_archives(tmp_path: Path, wrap: str) -> None:
    data = docker_archive([layer_tar()], ["app:1"])
    if wrap == "gzip":
        data = gzip.compress(data)
    elif wrap == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    dst = store(tmp_path)
    loaded = load(dst, io.BytesIO(data))
    assert loaded[0].tags == ("app:1",)
    assert dst.get("app:1").config.rootfs.diff_ids == (Digest.parse(sha(layer_tar())),)


def test_load_legacy_archive_with_gzip_layer(tmp_path: Path) -> None:
    plain = layer_tar()
    dst = store(tmp_path)
    load(dst, io.BytesIO(docker_archive([gzip.compress(plain)], ["app:gz"])))
    image = dst.get("app:gz")
    assert image.manifest.layers[0].media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert str(image.config.rootfs.diff_ids[0]) == sha(plain)


def test_load_oci_archive_names_from_annotation(tmp_path: Path) -> None:
    dst = store(tmp_path)
    lines: list[str] = []
    load(dst, io.BytesIO(oci_archive([layer_tar()], name="localhost:5000/app:dev")), lines.append)
    assert lines == ["Loaded image: localhost:5000/app:dev"]


def test_load_oci_archive_with_bare_tag_is_untagged(tmp_path: Path) -> None:
    dst = store(tmp_path)
    lines: list[str] = []
    [loaded] = load(dst, io.BytesIO(oci_archive([layer_tar()], name="latest")), lines.append)
    assert lines == [f"Loaded image ID: {loaded.image_id}"]
    assert dst.get(str(loaded.image_id)).repo_tags == ()


def test_load_docker25_symlinked_layers(tmp_path: Path) -> None:
    """Docker ≥ 25 links `<id>/layer.tar` to the blob; the link is followed inside the archive."""
    plain = layer_tar()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(plain)]}}).encode()  # fmt: skip
    blob = "blobs/sha256/" + sha(plain).split(":")[1]
    manifest = [
        {"Config": "blobs/sha256/" + sha(config).split(":")[1], "RepoTags": ["x:1"], "Layers": ["abc/layer.tar"]}
    ]
    members = {blob: plain, "blobs/sha256/" + sha(config).split(":")[1]: config,
               "manifest.json": json.dumps(manifest).encode()}  # fmt: skip
    from fixtures.transfer import tar_of

    dst = store(tmp_path)
    load(dst, io.BytesIO(tar_of(members, {"abc/layer.tar": "../" + blob})))
    assert dst.get("x:1").manifest.layers[0].digest == Digest.parse(sha(plain))


def test_load_moves_a_tag_and_says_so(tmp_path: Path) -> None:
    dst = store(tmp_path)
    old = add(dst, [layer(file("old.txt"))], ["app:1"], unpack=False)
    lines: list[str] = []
    [loaded] = load(dst, io.BytesIO(docker_archive([layer_tar()], ["app:1"])), lines.append)
    assert lines == [
        f"The image app:1 already exists, renaming the old one with ID {old.id} to empty string",
        "Loaded image: app:1",
    ]
    assert dst.get("app:1").id == loaded.image_id
    assert dst.get(str(old.id)).repo_tags == ()


def test_save_name_rules(tmp_path: Path) -> None:
    src = store(tmp_path)
    a = add(src, [layer(file("a"))], ["repo:1", "repo:2"], unpack=False)
    b = add(src, [layer(file("b"))], ["other:1"], unpack=False)
    items = save_items(src, ["repo"])  # a repository alone: every tag of it
    assert [(i.label, [r.familiar_string() for r in i.names]) for i in items] == [("repo:1", ["repo:1", "repo:2"])]
    items = save_items(src, [b.id.hex[:12], "repo:2"])  # an ID: no tag
    assert [[r.familiar_string() for r in i.names] for i in items] == [[], ["repo:2"]]
    assert isinstance(items[1].source, ContentSource) and items[1].source.manifest_digest == a.manifest_digest
    with pytest.raises(Exception, match=r"No such image: nothere:latest"):
        save_items(src, ["nothere"])


def test_stream_save_chunks_equal_direct_save(tmp_path: Path) -> None:
    src = store(tmp_path)
    add(src, [layer(file("a", b"x" * 3_000_000)), layer(symlink("l", "/a"))], ["big:1"], unpack=False)
    items = save_items(src, ["big:1"])
    direct = io.BytesIO()
    save(items, direct)
    assert b"".join(stream_save(src, items)) == direct.getvalue()


def test_stream_save_stops_when_reader_leaves(tmp_path: Path) -> None:
    src = store(tmp_path)
    add(src, [layer(file("a", bytes(range(256)) * 40_000))], ["big:1"], unpack=False)
    chunks = stream_save(src, save_items(src, ["big:1"]))
    first = next(chunks)
    chunks.close()  # the worker thread must notice and end (the generator joins it)
    assert first
