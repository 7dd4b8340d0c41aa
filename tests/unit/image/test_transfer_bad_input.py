"""Bad archives refused by load with a clear message, and the store left exactly as it was (every file compared)."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.errors import DockyardError
from dockyard.image.transfer.load import load
from fixtures.images import add, layer
from fixtures.malicious_layers import file
from fixtures.transfer import docker_archive, layer_tar, oci_archive, sha, store, store_state, tar_of

GOOD = layer_tar("good.txt", b"good\n")
OTHER = layer_tar("other.txt", b"other\n")


def _swap_blob(archive: bytes, old: bytes, new: bytes) -> bytes:
    """The archive with one blob's bytes replaced (same length, so the tar stays well formed)."""
    assert len(old) == len(new) and archive.count(old) == 1
    return archive.replace(old, new)


def _tampered_layer() -> bytes:
    bad = GOOD.replace(b"good\n", b"evil\n")
    return _swap_blob(oci_archive([GOOD]), GOOD, bad)


def _two_images_second_bad() -> bytes:
    """Image 1 is fine, image 2's layer does not match its diff id: image 1's blobs must not stay behind."""
    first = json.loads(tar_to_members(docker_archive([OTHER], ["one:1"]))["manifest.json"])
    members = tar_to_members(docker_archive([OTHER], ["one:1"]))
    second = tar_to_members(docker_archive([GOOD], ["two:1"], diff_ids=[sha(b"x")]))
    manifest = [*first, {**json.loads(second["manifest.json"])[0], "Layers": ["ffff/layer.tar"]}]
    members.update({k: v for k, v in second.items() if k.endswith(".json") and k != "manifest.json"})
    members["ffff/layer.tar"] = second["0000000000000000000000000000000000000000000000000000000000000000/layer.tar"]
    members["manifest.json"] = json.dumps(manifest).encode()
    return tar_of(members)


def tar_to_members(data: bytes) -> dict[str, bytes]:
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf if m.isreg()}  # type: ignore[union-attr]


def _unknown_index_entry() -> bytes:
    members = tar_to_members(oci_archive([GOOD]))
    index = json.loads(members["index.json"])
    index["manifests"][0]["mediaType"] = "application/vnd.example.thing+json"
    members["index.json"] = json.dumps(index).encode()
    return tar_of(members)


def _layout_version(version: str) -> bytes:
    members = tar_to_members(oci_archive([GOOD]))
    members["oci-layout"] = json.dumps({"imageLayoutVersion": version}).encode()
    return tar_of(members)


def _manifest_json(text: bytes) -> bytes:
    members = tar_to_members(docker_archive([GOOD]))
    members["manifest.json"] = text
    return tar_of(members)


def _missing_config() -> bytes:
    members = tar_to_members(docker_archive([GOOD]))
    for name in [n for n in members if n.endswith(".json") and n != "manifest.json"]:
        del members[name]
    return tar_of(members)


CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "garbage": (lambda: b"this is not an archive at all\n" * 40, r"load: invalid tar archive"),
    "empty": (lambda: b"", r"load: not an image archive: it has neither manifest.json nor index.json"),
    "tar without images": (lambda: tar_of({"etc/passwd": b"root:x:0:0\n"}), r"neither manifest.json nor index"),
    "truncated tar": (lambda: docker_archive([GOOD * 20])[:3000], r"load: .*unexpected end of data"),
    "truncated gzip": (lambda: gzip.compress(docker_archive([GOOD]))[:-40], r"load: unexpected end of data"),
    "corrupt gzip": (
        lambda: (lambda d: d[:30] + bytes(b ^ 0xFF for b in d[30:60]) + d[60:])(gzip.compress(docker_archive([GOOD]))),
        r"load: corrupt gzip stream",
    ),
    "layer digest mismatch (docker-archive)": (
        lambda: docker_archive([GOOD], diff_ids=[sha(OTHER)]),
        r"busybox:latest: layer 0 `sha256:[0-9a-f]{64}`: digest mismatch, got sha256:[0-9a-f]{64}$",
    ),
    "layer digest mismatch (oci)": (_tampered_layer, r"digest mismatch"),
    "gzip layer whose diff id does not match": (
        lambda: docker_archive([gzip.compress(GOOD)], diff_ids=[sha(OTHER)]),
        r"diff id mismatch, the config says sha256:[0-9a-f]{64}, the layer is sha256:",
    ),
    "manifest points at a missing layer blob": (
        lambda: oci_archive([GOOD], drop=sha(GOOD)),
        r"layer 0 `sha256:[0-9a-f]{64}`: blob is missing from the archive",
    ),
    "index points at a missing manifest": (
        lambda: (
            lambda m: tar_of({k: v for k, v in m.items() if not k.startswith("blobs/") or b"schemaVersion" not in v})
        )(tar_to_members(oci_archive([GOOD]))),  # fmt: skip
        r"manifest `sha256:[0-9a-f]{64}`: blob is missing from the archive",
    ),
    "unknown layer media type": (
        lambda: oci_archive([GOOD], layer_type="application/x-unknown-layer"),
        r"layer 0 `sha256:[0-9a-f]{64}`: unsupported media type `application/x-unknown-layer`",
    ),
    "unknown index media type": (_unknown_index_entry, r"unsupported media type `application/vnd.example.thing\+json`"),
    "unsupported layout version": (lambda: _layout_version("2.0.0"), r"unsupported layout version `2.0.0`"),
    "manifest.json not JSON": (lambda: _manifest_json(b"{nope"), r"`manifest.json`: not valid JSON"),
    "manifest.json not a list": (lambda: _manifest_json(b"{}"), r"`manifest.json`: expected an array of images"),
    "config missing": (_missing_config, r"config `[0-9a-f]{64}.json` not found in the archive"),
    "layer count differs from diff ids": (
        lambda: docker_archive([GOOD, OTHER], diff_ids=[sha(GOOD)]),
        r"2 layers in `manifest.json`, 1 diff ids in the config",
    ),
    "invalid tag": (lambda: docker_archive([GOOD], ["UPPER:case"]), r"invalid tag `UPPER:case` in `manifest.json`"),
    "second image bad": (_two_images_second_bad, r"two:1: layer 0 .*digest mismatch"),
    "pre-1.10 archive": (lambda: tar_of({"repositories": b"{}"}), r"archives without manifest.json"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_archive_is_refused_and_store_unchanged(tmp_path: Path, case: str) -> None:
    make, message = CASES[case]
    target = store(tmp_path / "store")
    add(target, [layer(file("base.txt"))], ["base:1"], unpack=False)
    before = store_state(tmp_path / "store")
    with pytest.raises(DockyardError, match=message):
        load(target, io.BytesIO(make()))
    assert store_state(tmp_path / "store") == before
    assert [i.repo_tags for i in target.list()] == [("base:1",)]
