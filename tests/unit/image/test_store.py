"""image/store.py: names, Docker's lookup rules, tag/untag/delete, records, and add's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.errors import InternalError, InvalidArgument, NotFound
from dockyard.image.content import write_blob
from dockyard.image.store import ImageStore
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from fixtures.images import CREATED, add, build, layer, open_store
from fixtures.malicious_layers import directory, file

BASE = layer(directory("bin"), file("bin/tool", b"tool\n"), file("etc/hostname", b"base\n"))


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return open_store(tmp_path)


def test_get_accepts_every_docker_form(store: ImageStore) -> None:
    image = add(store, [BASE], ["busybox"])
    forms = [
        "busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox:latest",
        "index.docker.io/library/busybox", image.id.hex, str(image.id), image.id.hex[:12],
        f"sha256:{image.id.hex[:5]}", image.id.hex[:1], f"busybox@{image.manifest_digest}",
    ]  # fmt: skip
    assert {str(store.get(ref).id) for ref in forms} == {str(image.id)}
    assert image.repo_tags == ("busybox:latest",)
    assert image.repo_digests == (f"busybox@{image.manifest_digest}",)
    assert [str(n) for n in image.names] == ["docker.io/library/busybox:latest"]


def test_names_are_normalised_and_shown_familiar(store: ImageStore) -> None:
    image = add(store, [BASE], ["localhost:5000/app:dev", "user/app", "docker.io/library/base:1"])
    assert sorted(image.repo_tags) == ["base:1", "localhost:5000/app:dev", "user/app:latest"]
    names, _ = store.references()
    assert sorted(names) == [
        "docker.io/library/base:1", "docker.io/user/app:latest", "localhost:5000/app:dev",
    ]  # fmt: skip
    assert store.get("localhost:5000/app:dev").id == image.id


def test_missing_and_malformed_references(store: ImageStore) -> None:
    add(store, [BASE], ["busybox"])
    cases = {"nosuch": "No such image: nosuch:latest", "busybox:1.0": "No such image: busybox:1.0",
             "sha256:" + "0" * 64: "No such image: sha256:" + "0" * 64}  # fmt: skip
    for ref, message in cases.items():
        with pytest.raises(NotFound) as info:
            store.get(ref)
        assert info.value.message == message
    with pytest.raises(InvalidArgument) as bad:
        store.get("UPPER")
    assert bad.value.message == "invalid reference format: repository name (library/UPPER) must be lowercase"


def _two_sharing_a_prefix(store: ImageStore) -> tuple[str, list[Digest]]:
    by_first: dict[str, list[Digest]] = {}
    for n in range(17):  # 16 hex digits: two of 17 IDs share a first character
        image = add(store, [], [f"img{n}"], labels={"n": str(n)})
        by_first.setdefault(image.id.hex[0], []).append(image.id)
    char, ids = next((c, i) for c, i in by_first.items() if len(i) > 1)
    return char, ids


def test_ambiguous_id_prefix_is_an_error_and_a_longer_one_resolves(store: ImageStore) -> None:
    char, ids = _two_sharing_a_prefix(store)
    with pytest.raises(InvalidArgument) as info:
        store.get(char)
    assert info.value.message == f"resolve image `{char}`: ambiguous, the prefix of {len(ids)} image IDs"
    assert store.get(ids[0].hex[:20]).id == ids[0]


def test_a_name_wins_over_an_id_prefix(store: ImageStore) -> None:
    char, ids = _two_sharing_a_prefix(store)
    named = add(store, [BASE], [char])  # `docker.io/library/<char>:latest`
    assert store.get(char).id == named.id


def test_tag_and_untag(store: ImageStore) -> None:
    image = add(store, [BASE], ["busybox"])
    tagged = store.tag("busybox", "myrepo/tool:v1")
    assert tagged.id == image.id and tagged.repo_tags == ("busybox:latest", "myrepo/tool:v1")
    assert store.get("myrepo/tool:v1").id == image.id
    assert store.untag("myrepo/tool:v1") == image.id
    assert store.get(image.id.hex).repo_tags == ("busybox:latest",)
    with pytest.raises(NotFound) as missing:
        store.untag("myrepo/tool:v1")
    assert missing.value.message == "No such image: myrepo/tool:v1"
    with pytest.raises(InvalidArgument) as digest:
        store.tag("busybox", f"busybox@{image.manifest_digest}")
    assert digest.value.message == "refusing to create a tag with a digest reference"
    with pytest.raises(NotFound):
        store.tag("nosuch", "x:1")


def test_a_name_moves_and_the_old_image_stays_untagged(store: ImageStore) -> None:
    first = add(store, [BASE], ["app:1"])
    second = add(store, [BASE, layer(file("new"))], ["app:1"])
    assert store.get("app:1").id == second.id
    assert store.get(first.id.hex).repo_tags == ()
    assert [i.id for i in store.list()] == sorted([first.id, second.id])


def test_an_images_blobs_are_decoded_once_and_its_names_read_fresh(store: ImageStore) -> None:
    first = add(store, [BASE], ["app:1"])
    assert store.get("app:1").config is store.get(first.id.hex).config  # the decoded config is kept
    second = add(store, [BASE, layer(file("new"))], ["app:1"])
    assert store.get("app:1").id == second.id  # the tag moved: found at once despite the cached first image
    assert store.get(first.id.hex).repo_tags == ()
    store.delete(second.id)
    with pytest.raises(NotFound, match="^No such image: app:1$"):
        store.get("app:1")


def test_delete_removes_record_and_names_not_blobs(store: ImageStore) -> None:
    image = add(store, [BASE], ["a", "b:2"])
    assert store.delete(image.id) == ["a:latest", "b:2"]
    with pytest.raises(NotFound):
        store.get("a")
    assert store.list() == []
    assert store.content.exists(image.manifest_digest)  # until gc
    with pytest.raises(NotFound) as again:
        store.delete(image.id)
    assert again.value.message == f"No such image: {image.id}"


def test_records_carry_created_size_and_are_idempotent(store: ImageStore, tmp_path: Path) -> None:
    image = add(store, [BASE], ["busybox"])
    again = add(store, [BASE], ["busybox"])
    assert again.id == image.id and len(store.list()) == 1
    assert image.created == CREATED and image.run_config.cmd == ("sh",)
    assert image.unpacked == "native"
    assert image.size == len(b"tool\n") + len(b"base\n")  # unpacked bytes of the layer
    bare = open_store(tmp_path / "bare", snapshotter=None)
    packed = add(bare, [BASE], ["busybox"])
    assert packed.unpacked == "" and packed.size == packed.manifest.layers[0].size  # the compressed blob


def test_add_refuses_bad_input_and_changes_nothing(store: ImageStore) -> None:
    built = build(store, [BASE])
    missing = build(open_store(Path(store.root) / "other", None), [layer(file("x"))])
    with pytest.raises(NotFound) as info:
        store.add(missing.manifest_raw, missing.config_raw, ["x"])
    assert info.value.message == f"add image: layer blob `{missing.manifest.layers[0].digest}` not found"
    with pytest.raises(InvalidArgument) as mismatch:
        store.add(built.manifest_raw, built.config_raw + b" ", ["x"])
    assert mismatch.value.message.startswith("add image: config does not match the manifest's digest sha256:")
    elsewhere = build(open_store(Path(store.root) / "other2", None), [layer(file("y"))])
    with pytest.raises(NotFound) as no_config:
        store.add(elsewhere.manifest_raw, None, ["x"])
    assert no_config.value.message == f"add image: config blob `{elsewhere.manifest.config.digest}` not found"
    index = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}).encode()
    with pytest.raises(InvalidArgument) as idx:
        store.add(index, None, ["x"])
    assert idx.value.message == f"add image: `{mediatypes.OCI_INDEX}` is an index, add one of its platform manifests"
    with pytest.raises(InvalidArgument) as garbage:
        store.add(b"{not json", None)
    assert garbage.value.message.startswith("add image: manifest is not valid JSON")
    assert store.list() == [] and store.references() == ({}, {})


def test_add_refuses_unknown_layer_types_and_count_mismatches(store: ImageStore) -> None:
    built = build(store, [BASE])
    data = json.loads(built.manifest_raw)
    data["layers"][0]["mediaType"] = "application/x-unknown"
    with pytest.raises(InvalidArgument) as unknown:
        store.add(json.dumps(data).encode(), built.config_raw)
    assert unknown.value.message == "add image: unsupported layer media type `application/x-unknown`"
    data = json.loads(built.manifest_raw)
    data["layers"] = data["layers"] * 2
    with pytest.raises(InvalidArgument) as count:
        store.add(json.dumps(data).encode(), built.config_raw)
    assert count.value.message == "add image: the manifest has 2 layers, the config 1 diff_ids"
    with pytest.raises(InvalidArgument) as digest_name:
        store.add(built.manifest_raw, built.config_raw, ["x@sha256:" + "1" * 64])
    assert digest_name.value.message.startswith("add image `docker.io/library/x@sha256:111")
    assert store.list() == []


def test_corrupt_metadata_is_an_internal_error(store: ImageStore) -> None:
    add(store, [BASE], ["busybox"])
    Path(store.root, "images.json").write_text('{"names": 1}')
    with pytest.raises(InternalError) as info:
        store.list()
    assert info.value.message.startswith(f"read `{store.root}/images.json`: malformed")


def test_config_blob_already_stored_can_be_omitted(store: ImageStore) -> None:
    built = build(store, [BASE])
    write_blob(store.content, built.config_raw)
    image = store.add(built.manifest_raw, None, ["tool:1"])
    assert image.id == built.id and store.get("tool:1").config.to_bytes() == built.config_raw
