"""engine/volumes.py without root: planning a create request's mounts (Docker's precedence and errors), attaching
and detaching volumes, the OCI mounts and their order in the spec, copy-up at setup, and the API's mount JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.api import volumes as api_volumes
from dockyard.api.messages import Request
from dockyard.engine import volumes as ev
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.runtime_spec import Mount
from dockyard.paths import Paths


@pytest.fixture
def cv(tmp_path: Path) -> ev.ContainerVolumes:
    paths = Paths(data_root=str(tmp_path / "data"), exec_root=str(tmp_path / "run"))
    return ev.ContainerVolumes(paths, resolve=lambda ref: {"src": "c" * 64}.get(ref, ref))


def _container(cv: ev.ContainerVolumes, cid: str) -> None:
    """A container record on disk, as the engine writes one (only its existence matters here)."""
    os.makedirs(cv.paths.container_dir(cid), exist_ok=True)
    Path(cv.paths.record(cid)).write_text("{}")


def _request(*volumes: str, mounts: tuple[str, ...] = (), tmpfs: tuple[str, ...] = ()) -> ev.MountRequest:
    specs = [ev.parse_volume_flag(v) for v in volumes]
    specs += [ev.parse_mount_flag(m) for m in mounts]
    specs += [ev.parse_tmpfs_flag(t) for t in tmpfs]
    return ev.MountRequest(mounts=tuple(specs))


def test_plan_keeps_binds_over_image_volumes_and_refuses_duplicates(cv: ev.ContainerVolumes) -> None:
    planned = cv.plan(_request("data:/data"), image_volumes=("/data", "/logs"))
    assert [(s.destination, s.origin, s.source) for s in planned] == [
        ("/data", "bind", "data"),
        ("/logs", "anonymous", ""),
    ]
    with pytest.raises(InvalidArgument, match="^Duplicate mount point: /x$"):
        cv.plan(_request("a1:/x", "b1:/x"))


def test_plan_refuses_bad_names_drivers_and_missing_mount_sources(cv: ev.ContainerVolumes) -> None:
    with pytest.raises(InvalidArgument, match=r'^create bad\$: "bad\$" includes invalid characters for a local volume'):
        cv.plan(_request("bad$:/x"))
    spec = ev.parse_volume_flag("data:/x", volume_driver="nfs")
    with pytest.raises(NotFound, match='^create data: error looking up volume plugin nfs: plugin "nfs" not found$'):
        cv.plan(ev.MountRequest(mounts=(spec,)))
    message = 'invalid mount config for type "bind": bind source path does not exist: /nope-dockyard'
    with pytest.raises(InvalidArgument, match=f"^{message}$"):
        cv.plan(_request(mounts=("type=bind,source=/nope-dockyard,target=/x",)))


def test_attach_creates_volumes_and_detach_removes_only_anonymous_ones(cv: ev.ContainerVolumes) -> None:
    cid = "a" * 64
    _container(cv, cid)
    resolved = cv.attach(cid, cv.plan(_request("named:/n", "/anon")))
    anonymous = next(s.source for s in resolved if s.destination == "/anon")
    assert len(anonymous) == 64
    assert cv.load(cid) == resolved
    assert cv.store.get("named").refs == (cid,)
    assert cv.store.get(anonymous).anonymous
    cv.detach(cid, remove_anonymous=True)
    assert [v.name for v in cv.store.list()] == ["named"]
    assert cv.store.get("named").refs == ()


def test_a_container_without_mounts_gets_no_mounts_file(cv: ev.ContainerVolumes) -> None:
    cid = "b" * 64
    _container(cv, cid)
    assert cv.attach(cid, cv.plan(_request())) == ()
    assert not os.path.exists(os.path.join(cv.paths.container_dir(cid), ev.MOUNTS_FILE))
    assert cv.load(cid) == ()
    other = "e" * 64
    _container(cv, other)
    cv.attach(other, cv.plan(_request(tmpfs=("/t",))))
    assert [s.destination for s in cv.load(other)] == ["/t"]


def test_stale_users_are_forgotten_before_remove(cv: ev.ContainerVolumes) -> None:
    cv.store.create("left", ref="d" * 64)  # its container record never existed (a crash)
    cv.remove("left")
    with pytest.raises(NotFound, match="^get left: no such volume$"):
        cv.store.get("left")


def test_volumes_from_inherits_read_only_and_yields_to_explicit_mounts(cv: ev.ContainerVolumes) -> None:
    source = "c" * 64
    _container(cv, source)
    cv.attach(source, cv.plan(_request("shared:/shared", "other:/o", tmpfs=("/t",))))
    request = ev.MountRequest(
        mounts=(ev.parse_volume_flag("mine:/o"),), volumes_from=(ev.parse_volumes_from("src:ro"),)
    )
    planned = {s.destination: s for s in cv.plan(request)}
    assert sorted(planned) == ["/o", "/shared"]
    assert planned["/shared"].read_only and planned["/shared"].source == "shared"
    assert planned["/o"].source == "mine"


def test_setup_copies_up_into_an_empty_volume_and_returns_oci_mounts(cv: ev.ContainerVolumes, tmp_path: Path) -> None:
    cid = "b" * 64
    _container(cv, cid)
    rootfs = tmp_path / "rootfs"
    (rootfs / "srv/app").mkdir(parents=True)
    (rootfs / "srv/app/conf").write_text("x=1\n")
    (rootfs / "link").symlink_to("/srv/app")
    host = tmp_path / "host"
    host.mkdir()
    request = _request("vol:/link", f"{host}:/h:ro", tmpfs=("/run:size=1m",))
    cv.attach(cid, cv.plan(request))
    mounts = {m.destination: m for m in cv.setup(cid, str(rootfs))}
    data = cv.store.data_path("vol")
    assert Path(data, "conf").read_text() == "x=1\n"
    assert mounts["/link"] == Mount(destination="/link", type="bind", source=data, options=("rbind", "rprivate"))
    assert mounts["/h"] == Mount(destination="/h", type="bind", source=str(host), options=("rbind", "rprivate", "ro"))
    assert mounts["/run"].type == "tmpfs"
    assert mounts["/run"].options == ("noexec", "nosuid", "nodev", "rprivate", "size=1m")
    Path(data, "conf").write_text("changed\n")
    cv.release(cid)
    cv.setup(cid, str(rootfs))
    assert Path(data, "conf").read_text() == "changed\n"  # not empty any more: no second copy


def test_resolve_in_root_never_leaves_the_root(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a/up").symlink_to("../../../..")
    (tmp_path / "abs").symlink_to("/a")
    assert ev.resolve_in_root(str(tmp_path), "/a/up/etc") == str(tmp_path / "etc")
    assert ev.resolve_in_root(str(tmp_path), "/abs/x") == str(tmp_path / "a/x")


def test_apply_mounts_shadows_defaults_and_sorts_parents_first() -> None:
    from dockyard.oci.runtime_spec import Root, Spec

    defaults = (
        Mount(destination="/proc", type="proc", source="proc"),
        Mount(destination="/etc/hosts", type="bind", source="/h", options=("rbind",)),
        Mount(destination="/dev/shm", type="tmpfs", source="shm"),
    )
    spec = Spec(oci_version="1.1.0", root=Root(path="/r"), mounts=defaults)
    user = (
        Mount(destination="/etc", type="bind", source="/v", options=("rbind",)),
        Mount(destination="/dev/shm", type="tmpfs", source="tmpfs"),
    )
    result = ev.apply_mounts(spec, user)
    assert [(m.destination, m.source) for m in result.mounts] == [
        ("/proc", "proc"), ("/etc", "/v"), ("/etc/hosts", "/h"), ("/dev/shm", "tmpfs"),
    ]  # fmt: skip
    assert ev.apply_mounts(spec, ()) is spec


def test_mount_spec_round_trips_through_mounts_json() -> None:
    spec = ev.parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700")
    assert ev.decode_spec(json.loads(json.dumps(ev.encode_spec(spec)))) == spec
    spec = ev.parse_mount_flag("type=volume,source=v,target=/v,volume-nocopy,volume-label=a=b")
    assert ev.decode_spec(json.loads(json.dumps(ev.encode_spec(spec)))) == spec


def test_api_mount_json_round_trips_and_refuses_bad_entries() -> None:
    for raw in ("type=bind,source=/tmp,target=/x,readonly,bind-propagation=rshared,bind-recursive=disabled",
                "type=volume,source=v,target=/v,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs",
                "type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770"):  # fmt: skip
        spec = ev.parse_mount_flag(raw)
        assert api_volumes.mount_from_json(json.loads(json.dumps(api_volumes.mount_json(spec)))) == spec
    with pytest.raises(InvalidArgument, match='^invalid mount config for type "bind": field Source must not be empty$'):
        api_volumes.mount_from_json({"Type": "bind", "Target": "/x"})
    with pytest.raises(InvalidArgument, match="^invalid field `Mounts`: expected an array of objects$"):
        api_volumes.mount_request({}, {"Mounts": "x"})


def test_api_mount_request_splits_docker_fields() -> None:
    body: dict[str, object] = {"Volumes": {"/anon": {}}}
    hc = {"Binds": ["v1:/a:ro"], "Tmpfs": {"/run": "size=1m"}, "VolumesFrom": ["src:ro"],
          "Mounts": [{"Type": "volume", "Source": "v2", "Target": "/b"}]}  # fmt: skip
    request = api_volumes.mount_request(body, hc)
    assert [(s.origin, s.destination) for s in request.mounts] == [
        ("bind", "/a"), ("mount", "/b"), ("tmpfs", "/run"), ("anonymous", "/anon"),
    ]  # fmt: skip
    assert request.volumes_from == (ev.VolumesFrom(container="src", mode="ro", read_only=True),)


def test_api_prune_takes_all_volumes_before_api_1_42(cv: ev.ContainerVolumes) -> None:
    class FakeEngine:
        volumes = cv

    cv.store.create("named")
    cv.store.create("")
    old = api_volumes.prune(FakeEngine(), Request(method="POST", path="/volumes/prune", version="1.41"))  # type: ignore[arg-type]
    assert len(json.loads(old.body)["VolumesDeleted"]) == 2
    cv.store.create("named")
    cv.store.create("")
    new = api_volumes.prune(FakeEngine(), Request(method="POST", path="/volumes/prune", version="1.47"))  # type: ignore[arg-type]
    assert len(json.loads(new.body)["VolumesDeleted"]) == 1
    assert [v.name for v in cv.store.list()] == ["named"]
