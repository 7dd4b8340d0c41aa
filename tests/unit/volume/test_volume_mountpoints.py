"""Docker's inspect shape of mounts, its duplicate-destination rules and the bind-source helpers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.volume import (
    MountPoint,
    Volume,
    check_mount_points,
    ensure_bind_source,
    inherited_mount_point,
    mount_point,
    parse_anonymous,
    parse_mount_flag,
    parse_tmpfs_flag,
    parse_volume_flag,
    parse_volumes_from,
    validate_bind_source,
)

ROOT = "/var/lib/dockyard/volumes"


def _volume(name: str) -> Volume:
    return Volume(
        name=name,
        mountpoint=f"{ROOT}/{name}/_data",
        created_at="2026-01-01T00:00:00Z",
        labels=None,
        options=None,
    )


def test_named_volume_from_v_flag() -> None:
    point = mount_point(parse_volume_flag("vol:/data"), _volume("vol"))
    assert point == MountPoint(
        type="volume",
        name="vol",
        source=f"{ROOT}/vol/_data",
        destination="/data",
        driver="local",
        mode="z",
        rw=True,
        propagation="",
    )


def test_v_flag_mode_is_kept_verbatim() -> None:
    point = mount_point(parse_volume_flag("vol:/data:ro,Z"), _volume("vol"))
    assert point is not None
    assert (point.mode, point.rw) == ("ro,Z", False)


def test_mount_flag_volume_gets_z_mode_like_moby() -> None:
    # moby daemon/volumes.go calls setBindModeIfNull for --mount volumes of the local driver too
    point = mount_point(parse_mount_flag("type=volume,src=vol,dst=/data/,readonly"), _volume("vol"))
    assert point is not None
    assert (point.mode, point.rw, point.destination, point.propagation) == ("z", False, "/data", "")


def test_anonymous_volume_has_empty_mode() -> None:
    point = mount_point(parse_anonymous("/cache"), _volume("a" * 64))
    assert point is not None
    assert (point.type, point.name, point.mode, point.driver) == ("volume", "a" * 64, "", "local")


def test_bind_shapes() -> None:
    v_bind = mount_point(parse_volume_flag("/host:/data:ro"))
    assert v_bind == MountPoint(
        type="bind",
        name="",
        source="/host",
        destination="/data",
        driver="",
        mode="ro",
        rw=False,
        propagation="rprivate",
    )
    m_bind = mount_point(parse_mount_flag("type=bind,src=/host,dst=/data,bind-propagation=rslave"))
    assert m_bind is not None
    assert (m_bind.mode, m_bind.propagation, m_bind.rw) == ("", "rslave", True)


def test_tmpfs_shapes() -> None:
    point = mount_point(parse_mount_flag("type=tmpfs,dst=/run"))
    assert point == MountPoint(
        type="tmpfs", name="", source="", destination="/run", driver="", mode="", rw=True, propagation=""
    )
    assert mount_point(parse_tmpfs_flag("/run:size=1m")) is None  # HostConfig.Tmpfs is not listed in Mounts


def test_volume_without_backing_volume_uses_spec() -> None:
    point = mount_point(parse_volume_flag("vol:/data", volume_driver="other"))
    assert point is not None
    assert (point.name, point.source, point.driver, point.mode) == ("vol", "", "other", "")


def test_volumes_from_inherits_read_only() -> None:
    point = mount_point(parse_volume_flag("vol:/data"), _volume("vol"))
    assert point is not None
    assert not inherited_mount_point(point, parse_volumes_from("c1:ro")).rw
    assert inherited_mount_point(point, parse_volumes_from("c1")).rw
    ro_point = mount_point(parse_volume_flag("vol:/data:ro"), _volume("vol"))
    assert ro_point is not None and not inherited_mount_point(ro_point, parse_volumes_from("c1:rw")).rw


def test_duplicate_binds() -> None:
    with pytest.raises(InvalidArgument) as err:
        check_mount_points([parse_volume_flag("a1:/data"), parse_volume_flag("/h:/data/")])
    assert str(err.value) == "Duplicate mount point: /data"


def test_duplicate_bind_and_tmpfs() -> None:
    with pytest.raises(InvalidArgument) as err:
        check_mount_points([parse_tmpfs_flag("/run"), parse_volume_flag("v1:/run")])
    assert str(err.value) == "Duplicate mount point: /run"


def test_duplicate_mount_shows_raw_target() -> None:
    with pytest.raises(InvalidArgument) as err:
        check_mount_points([parse_volume_flag("v1:/data"), parse_mount_flag("type=volume,dst=/data/")])
    assert str(err.value) == "Duplicate mount point: /data/"
    with pytest.raises(InvalidArgument) as err:
        check_mount_points([parse_mount_flag("type=volume,dst=/x"), parse_mount_flag("type=tmpfs,dst=/x")])
    assert str(err.value) == "Duplicate mount point: /x"


def test_anonymous_volume_yields_to_other_mounts() -> None:
    bind = parse_volume_flag("/h:/data")
    anon = parse_anonymous("/data")
    other = parse_anonymous("/other")
    result = check_mount_points([anon, bind, other, parse_anonymous("/other")])
    assert result == (bind, other)


def test_validate_bind_source(tmp_path: Path) -> None:
    validate_bind_source(parse_mount_flag(f"type=bind,src={tmp_path},dst=/d"))
    missing = tmp_path / "nope"
    with pytest.raises(InvalidArgument) as err:
        validate_bind_source(parse_mount_flag(f"type=bind,src={missing},dst=/d"))
    assert str(err.value) == f'invalid mount config for type "bind": bind source path does not exist: {missing}'
    validate_bind_source(parse_volume_flag("vol:/d"))  # not a bind: nothing to check


def test_ensure_bind_source_creates_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    uid, gid = os.getuid(), os.getgid()
    assert ensure_bind_source(parse_volume_flag(f"{target}:/d"), uid=uid, gid=gid)
    assert target.is_dir()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
    assert not ensure_bind_source(parse_volume_flag(f"{target}:/d"), uid=uid, gid=gid)  # exists already
    file = tmp_path / "file"
    file.write_text("x")
    assert not ensure_bind_source(parse_volume_flag(f"{file}:/d"), uid=uid, gid=gid)
    assert file.is_file()
    # --mount binds are never created
    assert not ensure_bind_source(parse_mount_flag(f"type=bind,src={tmp_path / 'm'},dst=/d"))
    assert not (tmp_path / "m").exists()
