"""image/rmi.py (Docker's untag-or-delete rules and conflict messages) and image/gc.py (collect, check)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.errors import Conflict
from dockyard.image.gc import check, collect
from dockyard.image.rmi import DeleteItem, ImageUser, remove_image
from dockyard.image.store import ImageStore
from fixtures.images import add, layer, open_store
from fixtures.malicious_layers import directory, file

BASE = layer(directory("etc"), file("etc/os-release", b"base\n"))
TOP = layer(file("app", b"app\n"))


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return open_store(tmp_path)


def _lines(items: list[DeleteItem]) -> list[str]:
    return [f"Untagged: {i.untagged}" if i.untagged else f"Deleted: {i.deleted}" for i in items]


def test_rmi_by_name_untags_until_the_last_name(store: ImageStore) -> None:
    image = add(store, [BASE], ["app:1", "app:2"])
    assert _lines(remove_image(store, "app:1")) == ["Untagged: app:1"]
    assert store.get("app:2").id == image.id
    assert _lines(remove_image(store, "app:2")) == ["Untagged: app:2", f"Deleted: {image.id}"]
    assert store.list() == []


def test_rmi_by_id_with_several_repositories_must_be_forced(store: ImageStore) -> None:
    image = add(store, [BASE], ["one:1", "two:1"])
    short = image.id.hex[:12]
    with pytest.raises(Conflict) as info:
        remove_image(store, short)
    assert info.value.message == (
        f"conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
    )
    forced = remove_image(store, short, force=True)
    assert _lines(forced) == ["Untagged: one:1", "Untagged: two:1", f"Deleted: {image.id}"]


def test_rmi_by_id_with_one_repository_untags_and_deletes(store: ImageStore) -> None:
    image = add(store, [BASE], ["one:1", "one:2"])
    with pytest.raises(Conflict):
        remove_image(store, image.id.hex)  # two tags of one repository are two references
    single = add(store, [TOP], ["solo:1"])
    assert _lines(remove_image(store, str(single.id))) == ["Untagged: solo:1", f"Deleted: {single.id}"]


def test_rmi_conflicts_with_containers(store: ImageStore) -> None:
    image = add(store, [BASE], ["app:1"])
    short, cid = image.id.hex[:12], "c0ffee" * 10 + "abcd"
    stopped = [ImageUser(container_id=cid, image_id=image.id, running=False)]
    running = [ImageUser(container_id=cid, image_id=image.id, running=True)]
    with pytest.raises(Conflict) as by_name:
        remove_image(store, "app:1", users=stopped)
    assert by_name.value.message == (
        f'conflict: unable to remove repository reference "app:1" (must force) - container {cid[:12]} is using its'
        f" referenced image {short}"
    )
    with pytest.raises(Conflict) as by_id:
        remove_image(store, short, users=stopped)
    assert by_id.value.message == (
        f"conflict: unable to delete {short} (must be forced) - image is being used by stopped container {cid[:12]}"
    )
    with pytest.raises(Conflict) as hard:
        remove_image(store, short, users=running, force=True)
    assert hard.value.message == (
        f"conflict: unable to delete {short} (cannot be forced) - image is being used by running container {cid[:12]}"
    )
    # forced by name: the name goes, the image stays for its running container (quietly, as moby)
    assert _lines(remove_image(store, "app:1", users=running, force=True)) == ["Untagged: app:1"]
    assert store.get(image.id.hex).repo_tags == ()
    assert _lines(remove_image(store, short, users=stopped, force=True)) == [f"Deleted: {image.id}"]


def test_gc_removes_only_what_nothing_references(store: ImageStore) -> None:
    assert store.snapshotter is not None
    shared = add(store, [BASE], ["base:1"])
    app = add(store, [BASE, TOP], ["app:1"])
    other = add(store, [BASE, layer(file("other"))], ["other:1"])
    store.snapshotter.prepare("container-1", other.top_layer)
    for image in (app, other):
        store.delete(image.id)
    report = collect(store, keep_snapshots=["container-1"])
    kept = {i.key for i in store.snapshotter.walk()}
    assert kept == {shared.top_layer, other.top_layer, "container-1"}  # the container keeps its layer chain
    gone = {app.manifest_digest, app.id, app.manifest.layers[1].digest, other.manifest_digest, other.id}
    assert set(report.blobs) >= gone and report.snapshots == (app.top_layer,)
    assert not any(store.content.exists(d) for d in gone)
    assert store.content.exists(shared.manifest.layers[0].digest)
    assert check(store) == []
    assert store.get("base:1").id == shared.id


def test_check_reports_corruption_and_dangling_references(store: ImageStore) -> None:
    image = add(store, [BASE, TOP], ["app:1"])
    assert check(store) == []
    blob = Path(store.content.root, "blobs", "sha256", image.manifest.layers[1].digest.hex)  # type: ignore[attr-defined]
    os.chmod(blob, 0o644)
    blob.write_bytes(b"bitrot")
    config = Path(store.content.root, "blobs", "sha256", image.id.hex)  # type: ignore[attr-defined]
    meta = json.loads(Path(store.root, "images.json").read_text())
    meta["names"]["docker.io/library/ghost:1"] = "sha256:" + "e" * 64
    Path(store.root, "images.json").write_text(json.dumps(meta))
    assert store.snapshotter is not None
    os.rename(store.snapshotter.path(image.top_layer or ""), Path(store.root, "moved-away"))
    problems = check(store)
    digest = image.manifest.layers[1].digest
    assert f"blob `{digest}`: digest mismatch, got sha256:" in "\n".join(problems)
    assert f"name `docker.io/library/ghost:1`: manifest `sha256:{'e' * 64}` belongs to no image" in problems
    assert any(
        p.startswith(f"snapshot `{image.top_layer}`: directory `") and p.endswith("is missing") for p in problems
    )
    config.unlink()
    assert f"image `{image.id}`: config: blob `{image.id}`: not found" in check(store)
