"""The local volume store: names, create/inspect/list/filters/remove/prune, references and option mounts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from dockyard.errors import Conflict, InternalError, InvalidArgument, NotFound
from dockyard.volume import ANONYMOUS_LABEL, FakeMounter, VolumeStore, name_error
from dockyard.volume.store import rfc3339

TMPFS_OPTS = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
NOON = 1795870800.0  # 2026-11-28T13:00:00Z


@pytest.fixture
def mounter() -> FakeMounter:
    return FakeMounter()


@pytest.fixture
def store(tmp_path: Path, mounter: FakeMounter) -> VolumeStore:
    return VolumeStore(str(tmp_path / "volumes"), mounter=mounter, clock=lambda: NOON)


@pytest.mark.parametrize("name", ["ab", "a1", "my-vol", "my_vol.2", "0abc", "A-B_c.d"])
def test_valid_names(store: VolumeStore, name: str) -> None:
    assert name_error(name) is None
    assert store.create(name).name == name


BAD_NAMES = ["a-/", "-ab", ".ab", "_ab", "a b", "a/b", "../x", "ab\n", "héllo", "a:b"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names(store: VolumeStore, name: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        store.create(name)
    quoted = json.dumps(name, ensure_ascii=False)
    assert str(err.value) == (
        f"create {name}: {quoted} includes invalid characters for a local volume name, only "
        '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'
    )
    assert store.names() == []


def test_one_character_name(store: VolumeStore) -> None:
    with pytest.raises(InvalidArgument) as err:
        store.create("x")
    assert str(err.value) == "create x: volume name is too short, names should be at least two alphanumeric characters"


def test_unknown_driver(store: VolumeStore) -> None:
    with pytest.raises(NotFound) as err:
        store.create("vol", driver="rexray")
    assert str(err.value) == 'create vol: error looking up volume plugin rexray: plugin "rexray" not found'
    store.create("vol")
    with pytest.raises(NotFound):  # an existing name does not skip the driver lookup
        store.create("vol", driver="rexray")


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"colour": "red"}, 'invalid option: "colour"'),
        ({"type": "tmpfs"}, 'missing required option: "device"'),
        ({"device": "tmpfs"}, 'missing required option: "type"'),
        ({"o": "size=1m", "type": "tmpfs"}, 'missing required option: "device"'),
        ({"size": "10m"}, "quota size requested but no quota support"),
        ({"size": "big"}, "invalid size: 'big'"),
    ],
)
def test_invalid_options(store: VolumeStore, options: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        store.create("vol", options=options)
    assert str(err.value) == f"create vol: {reason}"


def test_inspect_fields(store: VolumeStore) -> None:
    created = store.create("vol", labels={"a": "1"}, options=TMPFS_OPTS)
    volume = store.get("vol")
    assert volume == created
    assert volume.name == "vol"
    assert volume.driver == "local" and volume.scope == "local"
    assert volume.mountpoint == os.path.join(store.root, "vol", "_data")
    assert volume.labels == {"a": "1"}
    assert volume.options == TMPFS_OPTS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", volume.created_at)
    assert os.path.isdir(volume.mountpoint)
    assert os.stat(volume.mountpoint).st_mode & 0o777 == 0o755


def test_labels_and_options_keep_null_apart_from_empty(store: VolumeStore) -> None:
    assert store.create("v1").labels is None
    assert store.create("v2", labels={}, options={}).labels == {}
    assert store.get("v2").options == {}


def test_created_at_is_rfc3339(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    try:
        assert rfc3339(NOON + 0.9) == "2026-11-28T13:00:00Z"
        monkeypatch.setenv("TZ", "Europe/Berlin")
        time.tzset()
        assert rfc3339(NOON) == "2026-11-28T14:00:00+01:00"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_create_is_idempotent(store: VolumeStore) -> None:
    first = store.create("vol", labels={"a": "1"})
    again = store.create("vol", labels={"b": "2"})
    assert again.labels == first.labels == {"a": "1"}
    assert store.names() == ["vol"]


def test_anonymous_volume(store: VolumeStore) -> None:
    volume = store.create(labels={"x": "y"})
    assert re.fullmatch(r"[0-9a-f]{64}", volume.name)
    assert not volume.name[:12].isdigit()
    assert volume.labels == {"x": "y", ANONYMOUS_LABEL: ""}
    assert volume.anonymous


def test_get_missing(store: VolumeStore) -> None:
    with pytest.raises(NotFound) as err:
        store.get("nope")
    assert str(err.value) == "get nope: no such volume"
    with pytest.raises(NotFound):
        store.get("../etc")


def test_refs_block_removal(store: VolumeStore) -> None:
    store.create("vol", ref="c1")
    store.register("vol", "c2")
    with pytest.raises(Conflict) as err:
        store.remove("vol")
    assert str(err.value) == "remove vol: volume is in use - [c1, c2]"
    with pytest.raises(Conflict):
        store.remove("vol", force=True)  # -f does not override "in use", as in Docker
    store.unregister("vol", "c1")
    store.unregister("vol", "c2")
    store.remove("vol")
    assert store.names() == []
    assert os.listdir(store.root) == [".lock"]


def test_refs_survive_reopen(tmp_path: Path, mounter: FakeMounter) -> None:
    root = str(tmp_path / "v")
    VolumeStore(root, mounter=mounter).create("vol", ref="c1")
    again = VolumeStore(root, mounter=mounter)
    assert again.get("vol").refs == ("c1",)
    with pytest.raises(Conflict):
        again.remove("vol")


def test_register_missing(store: VolumeStore) -> None:
    with pytest.raises(NotFound) as err:
        store.register("nope", "c1")
    assert str(err.value) == "get nope: no such volume"


def test_remove_missing(store: VolumeStore) -> None:
    with pytest.raises(NotFound) as err:
        store.remove("nope")
    assert str(err.value) == "get nope: no such volume"
    store.remove("nope", force=True)


def test_list_and_filters(store: VolumeStore) -> None:
    store.create("web-data", labels={"app": "web", "tier": "front"})
    store.create("db-data", labels={"app": "db"}, ref="c1")
    anon = store.create().name

    def names(filters: dict[str, list[str]] | None) -> list[str]:
        return [v.name for v in store.list(filters)]

    assert names(None) == sorted(["web-data", "db-data", anon])
    assert names({"dangling": ["true"]}) == sorted(["web-data", anon])
    assert names({"dangling": ["0"]}) == ["db-data"]
    assert names({"label": ["app"]}) == ["db-data", "web-data"]
    assert names({"label": ["app=web"]}) == ["web-data"]
    assert names({"label": ["app=web", "tier=back"]}) == []
    assert names({"name": ["data"]}) == ["db-data", "web-data"]
    assert names({"name": ["^db"]}) == ["db-data"]
    assert names({"name": ["web-data"], "label": ["app"]}) == ["web-data"]
    assert names({"driver": ["local"]}) == names(None)
    assert names({"driver": ["other"]}) == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"colour": ["red"]}, "invalid filter 'colour'"),
        ({"label!": ["a"]}, "invalid filter 'label!'"),
        ({"dangling": ["maybe"]}, "invalid filter 'dangling=[maybe]'"),
        ({"dangling": ["true", "false"]}, "invalid filter 'dangling=[false true]'"),
        ({"dangling": []}, "invalid filter 'dangling'"),
    ],
)
def test_list_filter_errors(store: VolumeStore, filters: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        store.list(filters)
    assert str(err.value) == message


def test_prune_defaults_to_anonymous(store: VolumeStore) -> None:
    store.create("named")
    anon = store.create()
    (Path(anon.mountpoint) / "f").write_bytes(b"x" * 1000)
    os.link(Path(anon.mountpoint) / "f", Path(anon.mountpoint) / "g")  # counted once
    in_use = store.create(ref="c1")
    report = store.prune()
    assert report.volumes_deleted == (anon.name,)
    assert report.space_reclaimed == 1000
    assert sorted(store.names()) == sorted(["named", in_use.name])


def test_prune_all_and_labels(store: VolumeStore) -> None:
    store.create("keep", labels={"keep": "yes"})
    store.create("drop", labels={"keep": "no"})
    store.create("plain")
    store.create("mounted", options=TMPFS_OPTS)  # volumes with options are never pruned
    report = store.prune({"all": ["true"], "label!": ["keep=yes"]})
    assert sorted(report.volumes_deleted) == ["drop", "plain"]
    assert store.names() == ["keep", "mounted"]
    assert store.prune({"all": ["1"], "label": ["keep=yes"]}).volumes_deleted == ("keep",)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"all": ["maybe"]}, "invalid filter 'all': strconv.ParseBool: parsing \"maybe\": invalid syntax"),
        ({"all": ["true", "false"]}, "invalid filter 'all=[false true]': only one value is expected"),
        ({"dangling": ["true"]}, "invalid filter 'dangling'"),
    ],
)
def test_prune_filter_errors(store: VolumeStore, filters: dict[str, list[str]], message: str) -> None:
    store.create()
    with pytest.raises(InvalidArgument) as err:
        store.prune(filters)
    assert str(err.value) == message
    assert len(store.names()) == 1


def test_option_volume_mounted_on_first_use(store: VolumeStore, mounter: FakeMounter) -> None:
    store.create("tmp", options=TMPFS_OPTS)
    data = store.data_path("tmp")
    assert not mounter.mounted(data)  # created, not yet used
    assert store.mount("tmp", "c1") == data
    assert mounter.calls == [("mount", "tmpfs", data, "tmpfs", "size=1m")]
    store.mount("tmp", "c2")
    assert len(mounter.calls) == 1  # already mounted
    store.unmount("tmp", "c1")
    assert mounter.mounted(data)
    store.unregister("tmp", "c2")
    assert not mounter.mounted(data)
    assert store.get("tmp").refs == ("c1",)  # c1 still uses it, without a mount
    store.unregister("tmp", "c1")
    store.remove("tmp")


def test_plain_volume_never_mounts(store: VolumeStore, mounter: FakeMounter) -> None:
    store.create("plain")
    store.mount("plain", "c1")
    store.unregister("plain", "c1")
    assert mounter.calls == []


def test_mount_failure_is_reported(store: VolumeStore, mounter: FakeMounter) -> None:
    store.create("bad", options={"type": "cifs", "device": "//h/s", "o": "username=u,password=secret"})
    mounter.fail_next = True
    with pytest.raises(InternalError) as err:
        store.mount("bad", "c1")
    data = store.data_path("bad")
    assert str(err.value) == (
        f"failed to mount local volume: mount //h/s:{data}, data: username=u,password=********: invalid argument"
    )
    assert store.get("bad").refs == ()


def test_remove_unmounts_and_refuses_with_foreign_mount(store: VolumeStore, mounter: FakeMounter) -> None:
    store.create("tmp", options=TMPFS_OPTS)
    data = store.data_path("tmp")
    mounter.mount("tmpfs", data, "tmpfs", "")  # mounted, but nobody recorded as user (e.g. after a crash)
    store.remove("tmp")
    assert not mounter.mounted(data)
    store.create("other")
    inner = os.path.join(store.data_path("other"), "sub")
    os.mkdir(inner)
    mounter.mount("/host", inner, "none", "bind")
    with pytest.raises(InternalError, match="still mounted"):
        store.remove("other")
    assert store.names() == ["other"]


def test_recover_unmounts_unused_option_volume(tmp_path: Path, mounter: FakeMounter) -> None:
    root = str(tmp_path / "v")
    store = VolumeStore(root, mounter=mounter)
    store.create("tmp", options=TMPFS_OPTS)
    mounter.mount("tmpfs", store.data_path("tmp"), "tmpfs", "size=1m")
    VolumeStore(root, mounter=mounter)
    assert not mounter.mounted(store.data_path("tmp"))
    store.mount("tmp", "c1")
    VolumeStore(root, mounter=mounter)  # a recorded user keeps it mounted
    assert mounter.mounted(store.data_path("tmp"))


def test_usage(store: VolumeStore) -> None:
    volume = store.create("vol")
    (Path(volume.mountpoint) / "a").write_bytes(b"12345")
    os.mkdir(Path(volume.mountpoint) / "d")
    (Path(volume.mountpoint) / "d" / "b").write_bytes(b"123")
    assert store.usage("vol") == 8


def test_non_volume_entries_are_ignored(store: VolumeStore) -> None:
    os.mkdir(os.path.join(store.root, "stray"))
    Path(store.root, "file").write_text("x")
    assert store.list() == []
