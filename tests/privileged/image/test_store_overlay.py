"""Overlay snapshots mounted for real: unpack with whiteouts, containers sharing lower layers, many layers, and
the engine's container snapshots (created with the container, gone with it; `system check`)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.image.gc import check
from dockyard.image.snapshots.mount import DATA_LIMIT, is_mountpoint, mount_all, unmount
from dockyard.image.snapshots.overlay import supported
from dockyard.image.store import ImageStore
from fixtures.images import add, layer, open_store
from fixtures.malicious_layers import directory, file
from privileged_gate import require

pytestmark = pytest.mark.privileged

LOWER = layer(
    directory("etc"), file("etc/keep", b"keep\n"), file("etc/gone", b"gone\n"), directory("opaque"),
    file("opaque/old", b"old\n"),
)  # fmt: skip
UPPER = layer(file("etc/.wh.gone"), directory("opaque"), file("opaque/.wh..wh..opq"), file("opaque/new", b"new\n"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ImageStore]:
    ok, why = supported(str(tmp_path / "probe"))
    require(ok, f"overlayfs does not mount here: {why}")
    yield open_store(tmp_path, "overlay")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(str(tmp_path)):
            unmount(point)


def _mounted(tmp_path: Path, name: str, mounts: list) -> Path:  # type: ignore[type-arg]
    target = tmp_path / name
    target.mkdir()
    mount_all(mounts, str(target))
    return target


def _is_whiteout(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_unpack_turns_whiteouts_into_overlay_whiteouts(store: ImageStore, tmp_path: Path) -> None:
    image = add(store, [LOWER, UPPER], ["app:1"])
    assert store.snapshotter is not None and image.unpacked == "overlay"
    lower, top = (Path(store.snapshotter.path(str(c))) for c in image.chain_ids)
    assert (lower / "etc/gone").read_bytes() == b"gone\n"  # each layer unpacked once, in its own directory
    assert _is_whiteout(top / "etc/gone") and _is_whiteout(top / "opaque/old")
    assert not (top / "etc/keep").exists()  # only what the layer changed is in its directory
    merged = _mounted(tmp_path, "view", store.snapshotter.view("view", image.top_layer))
    try:
        assert sorted(os.listdir(merged / "etc")) == ["keep"]
        assert sorted(os.listdir(merged / "opaque")) == ["new"]
    finally:
        unmount(str(merged))
    assert not any(key.startswith("extract-") for key in (i.key for i in store.snapshotter.walk()))
    assert os.listdir(Path(store.root, "mnt")) == []


def test_two_containers_share_the_lower_layers_and_write_to_their_own_upper(store: ImageStore, tmp_path: Path) -> None:
    image = add(store, [LOWER, UPPER], ["app:1"])
    snapshotter = store.snapshotter
    assert snapshotter is not None
    mounts = {cid: snapshotter.prepare(cid, image.top_layer) for cid in ("c1", "c2")}
    lowers = {cid: [o for o in m[0].options if o.startswith("lowerdir=")] for cid, m in mounts.items()}
    assert lowers["c1"] == lowers["c2"] and lowers["c1"][0].count(":") == 1
    roots = {cid: _mounted(tmp_path, cid, m) for cid, m in mounts.items()}
    try:
        (roots["c1"] / "etc/keep").write_bytes(b"c1 wrote\n")
        (roots["c2"] / "only-c2").write_bytes(b"c2\n")
        os.unlink(roots["c2"] / "opaque/new")
        assert (roots["c2"] / "etc/keep").read_bytes() == b"keep\n"
        assert not (roots["c1"] / "only-c2").exists() and (roots["c1"] / "opaque/new").exists()
        assert Path(snapshotter.path("c1"), "etc/keep").read_bytes() == b"c1 wrote\n"
        assert sorted(os.listdir(snapshotter.path("c2"))) == ["only-c2", "opaque"]
        assert not Path(snapshotter.path("c1"), "only-c2").exists()
        lower = Path(snapshotter.path(str(image.chain_ids[0])))
        assert (lower / "etc/keep").read_bytes() == b"keep\n"
    finally:
        for root in roots.values():
            unmount(str(root))
    for cid in mounts:
        snapshotter.remove(cid)
    assert check(store) == []


def test_more_layers_than_one_mount_call_can_carry(store: ImageStore, tmp_path: Path) -> None:
    require(tuple(int(x) for x in os.uname().release.split(".")[:2]) >= (6, 8), "overlayfs lowerdir+ needs linux 6.8")
    layers = [layer(directory("d"), file(f"d/layer-{n:03d}", f"{n}\n".encode())) for n in range(90)]
    image = add(store, layers, ["tall:1"])
    assert store.snapshotter is not None
    mounts = store.snapshotter.prepare("tall", image.top_layer)
    assert len(",".join(mounts[0].options)) >= DATA_LIMIT  # too long for mount(2): the fsconfig path
    root = _mounted(tmp_path, "tall", mounts)
    try:
        assert len(os.listdir(root / "d")) == 90
        assert (root / "d/layer-000").read_bytes() == b"0\n"
    finally:
        unmount(str(root))
    assert not is_mountpoint(str(root))


def _dockyard(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKYARD_HOST", "DOCKER_HOST", "DOCKYARD_EXEC_ROOT")}
    runtime = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")
    env.update(DOCKYARD_DATA_ROOT=str(root), DOCKYARD_RUNTIME=runtime)
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli.main", *args], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


def test_containers_get_a_snapshot_that_goes_with_them(tmp_path: Path) -> None:
    require(os.path.isfile("/bin/busybox"), "busybox-static is not installed")
    root = tmp_path / "data"
    assert _dockyard(root, "image", "build-busybox").returncode == 0
    run = _dockyard(root, "run", "--rm", "busybox", "sh", "-c", "echo hi > /f && cat /f")
    assert (run.returncode, run.stdout) == (0, "hi\n"), run.stderr
    kind = (root / "image/snapshotter").read_text().strip()
    keys = [p.name for p in (root / "image/snapshots" / kind / "meta").iterdir()]
    assert len(keys) == 1 and keys[0].startswith("sha256"), keys  # only the busybox layer is left
    ok = _dockyard(root, "system", "check")
    assert (ok.returncode, ok.stdout) == (0, "no problems found\n")
    blob = next((root / "image/content/blobs/sha256").iterdir())
    os.chmod(blob, 0o644)
    blob.write_bytes(b"bitrot")
    bad = _dockyard(root, "system", "check")
    assert bad.returncode == 1
    assert f"blob `sha256:{blob.name}`: digest mismatch, got sha256:" in bad.stdout
    assert bad.stderr.strip() == "dockyard: 1 problem found"
