"""Mount-spec parsing against Docker's own wording: -v, --mount, --tmpfs, --volumes-from, Binds entries."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.errors import InvalidArgument
from dockyard.volume import (
    parse_bind,
    parse_mount_flag,
    parse_tmpfs_flag,
    parse_volume_flag,
    parse_volumes_from,
    tmpfs_data,
    tmpfs_mount_options,
)
from dockyard.volume.flags import go_csv_record
from dockyard.volume.gocompat import GoValueError, clean, kernel_size, quote, ram_in_bytes

CWD = "/home/user/project"

# (flag value, expected MountSpec fields)
VOLUME_OK: list[tuple[str, dict[str, Any]]] = [
    ("vol:/data", {"type": "volume", "source": "vol", "target": "/data", "read_only": False, "origin": "bind"}),
    ("vol:/data:ro", {"type": "volume", "source": "vol", "read_only": True, "mode": "ro"}),
    ("vol:/data:rw", {"type": "volume", "read_only": False, "mode": "rw"}),
    ("vol:/data:nocopy", {"type": "volume", "mode": "nocopy", "copy_data": False}),
    ("vol:/data:ro,Z", {"type": "volume", "read_only": True, "label_mode": "Z"}),
    ("vol:/data:z", {"type": "volume", "label_mode": "z", "copy_data": True}),
    ("vol:/data:cached", {"type": "volume", "mode": "cached"}),
    ("/host:/data", {"type": "bind", "source": "/host", "propagation": "rprivate", "mode": ""}),
    ("/host:/data:ro", {"type": "bind", "read_only": True}),
    ("/host:/data:shared", {"type": "bind", "propagation": "shared"}),
    ("/host:/data:rslave,ro", {"type": "bind", "propagation": "rslave", "read_only": True}),
    ("/host/./a/../b:/data/", {"type": "bind", "source": "/host/b", "destination": "/data"}),
    ("./sub:/data", {"type": "bind", "source": f"{CWD}/sub"}),
    ("../up:/data", {"type": "bind", "source": "/home/user/up"}),
    (".:/src", {"type": "bind", "source": CWD}),
    ("/data", {"type": "volume", "source": "", "origin": "anonymous", "target": "/data"}),
    ("/a", {"type": "volume", "origin": "anonymous", "target": "/a"}),
    ("~/x:/p", {"type": "volume", "source": "~/x"}),  # not made absolute: a (bad) volume name
    ("my-vol_1.x:/p", {"type": "volume", "source": "my-vol_1.x"}),
]

VOLUME_ERR: list[tuple[str, str]] = [
    ("", "invalid empty volume spec"),
    (":/data", "invalid spec: :/data: empty section between colons"),
    ("vol::/data", "invalid spec: vol::/data: empty section between colons"),
    ("vol:/data:", "invalid spec: vol:/data:: empty section between colons"),
    ("ab:/b:ro:d", "invalid spec: ab:/b:ro:d: too many colons"),
    ("a:/b:ro:d", "invalid volume specification: 'a:/b:ro:d'"),  # `a:` is a drive to the CLI
    ("/data:rw", "invalid volume specification: '/data:rw'"),
    ("/data:ro", "invalid volume specification: '/data:ro'"),
    ("/a:/b:xyz", "invalid mode: xyz"),
    ("vol:/data:ro,rw", "invalid mode: ro,rw"),
    ("vol:/data:z,Z", "invalid mode: z,Z"),
    ("vol:/data:ro,", "invalid mode: ro,"),
    (
        "vol:/data:shared",
        "invalid volume specification: 'vol:/data:shared': invalid mount config for type \"volume\": "
        "field BindOptions must not be specified",
    ),
    (
        "/h:/d:nocopy",
        "invalid volume specification: '/h:/d:nocopy': invalid mount config for type \"bind\": "
        "field VolumeOptions must not be specified",
    ),
    (
        "/h:data",
        "invalid volume specification: '/h:data': invalid mount config for type \"bind\": "
        "invalid mount path: 'data' mount path must be absolute",
    ),
    (
        "vol:data",
        "invalid volume specification: 'vol:data': invalid mount config for type \"volume\": "
        "invalid mount path: 'data' mount path must be absolute",
    ),
    (
        "/h:/",
        "invalid volume specification: '/h:/': invalid mount config for type \"bind\": "
        "invalid specification: destination can't be '/'",
    ),
    (
        "vol:/a/..",
        "invalid volume specification: 'vol:/a/..': invalid mount config for type \"volume\": "
        "invalid specification: destination can't be '/'",
    ),
    # a one-letter source is a Windows drive to the CLI: `x:/p` becomes an anonymous volume at "x:/p"
    (
        "x:/p",
        "invalid volume specification: 'x:/p': invalid mount config for type \"volume\": "
        "invalid mount path: 'x:/p' mount path must be absolute",
    ),
    ("c:/foo:/bar", "invalid mode: /bar"),
]

MOUNT_OK: list[tuple[str, dict[str, Any]]] = [
    ("type=volume,src=vol,dst=/data", {"type": "volume", "source": "vol", "target": "/data", "origin": "mount"}),
    ("source=vol,target=/data", {"type": "volume", "source": "vol"}),
    ("dst=/data", {"type": "volume", "source": ""}),
    ("type=volume,src=vol,destination=/data,readonly", {"read_only": True}),
    ("type=volume,src=vol,dst=/data,ro=true", {"read_only": True}),
    ("type=volume,src=vol,dst=/data,ro=0", {"read_only": False}),
    ("type=volume,src=vol,dst=/data,volume-nocopy", {"copy_data": False}),
    ("type=volume,src=vol,dst=/data,volume-nocopy=false", {"copy_data": True}),
    ("TYPE=Volume,SRC=vol,DST=/data", {"type": "volume", "source": "vol"}),
    ("type=bind,src=/host,dst=/data", {"type": "bind", "source": "/host", "propagation": "rprivate"}),
    ("type=bind,src=./rel,dst=/data", {"type": "bind", "source": f"{CWD}/rel"}),
    ("type=bind,src=/h,dst=/d,bind-propagation=RSHARED", {"propagation": "rshared"}),
    ("type=bind,src=/h,dst=/d,consistency=Cached", {"consistency": "cached"}),
    ("type=tmpfs,dst=/run", {"type": "tmpfs", "source": "", "target": "/run"}),
    ('type=bind,"src=/a,b",dst=/x', {"source": "/a,b"}),
    ('type=bind,"src=/a""b",dst=/x', {"source": '/a"b'}),
]


def _cfg(mount_type: str, reason: str) -> str:
    return f'invalid mount config for type "{mount_type}": {reason}'


MOUNT_ERR: list[tuple[str, str]] = [
    ("", "EOF"),
    ("x=y", "unexpected key 'x' in 'x=y'"),
    ("type=volume,dst=/d,bogus", "invalid field 'bogus' must be a key=value pair"),
    ("type=volume,dst=/d,readonly=maybe", "invalid value for readonly: maybe"),
    ("type=volume,dst=/d,ro=yes", "invalid value for ro: yes"),
    ("type=volume,dst=/d,volume-nocopy=maybe", "invalid value for volume-nocopy: maybe"),
    ("type=bind,src=/h,dst=/d,bind-nonrecursive=x", "invalid value for bind-nonrecursive: x"),
    ("type=tmpfs,dst=/t,tmpfs-size=big", "invalid value for tmpfs-size: big"),
    ("type=tmpfs,dst=/t,tmpfs-size=1x", "invalid value for tmpfs-size: 1x"),
    ("type=tmpfs,dst=/t,tmpfs-mode=0999", "invalid value for tmpfs-mode: 0999"),
    ("type=tmpfs,dst=/t,tmpfs-mode=-1", "invalid value for tmpfs-mode: -1"),
    ("type=,dst=/d", "type is required"),
    ("type=volume,src=v", "target is required"),
    ("type=bind,src=/h,dst=/d,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
    ("type=volume,dst=/d,bind-propagation=shared", "cannot mix 'bind-*' options with mount type 'volume'"),
    ("type=volume,dst=/d,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'volume'"),
    ("type=tmpfs,dst=/d,volume-label=a=b", "cannot mix 'volume-*' options with mount type 'tmpfs'"),
    (
        "type=bind,src=/h,dst=/d,bind-recursive=maybe",
        'invalid value for bind-recursive: maybe (must be "enabled", "disabled", "writable", or "readonly")',
    ),
    (
        "type=bind,src=/h,dst=/d,bind-recursive=writable",
        "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
    ),
    (
        "type=bind,src=/h,dst=/d,ro,bind-recursive=readonly",
        "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
    ),
    ("type=bind,src=foo,dst=/d", _cfg("bind", "invalid mount path: 'foo' mount path must be absolute")),
    ("type=bind,dst=/d", _cfg("bind", "field Source must not be empty")),
    ("type=bind,src=/h,dst=/d,bind-propagation=sideways", _cfg("bind", "invalid propagation mode: sideways")),
    ("type=volume,src=v,dst=rel", _cfg("volume", "invalid mount path: 'rel' mount path must be absolute")),
    ("type=volume,src=v,dst=/", _cfg("volume", "invalid specification: destination can't be '/'")),
    ("type=tmpfs,src=x,dst=/t", _cfg("tmpfs", "field Source must not be specified")),
    ("type=npipe,dst=/x", _cfg("npipe", "mount type unknown")),
    ("type=volume,dst=/d,volume-subpath=a", _cfg("volume", "must not set Subpath when using anonymous volumes")),
    ("type=volume,src=v,dst=/d,volume-subpath=../a", _cfg("volume", "subpath must be a relative path within the volume")),  # noqa: E501
    ('type=bind,src=/a"b,dst=/x', 'parse error on line 1, column 17: bare " in non-quoted field'),
]  # fmt: skip


def _check_fields(spec: Any, expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        assert getattr(spec, name) == value, name


@pytest.mark.parametrize(("raw", "expected"), VOLUME_OK, ids=[c[0] for c in VOLUME_OK])
def test_volume_flag_parses(raw: str, expected: dict[str, Any]) -> None:
    _check_fields(parse_volume_flag(raw, cwd=CWD), expected)


@pytest.mark.parametrize(("raw", "message"), VOLUME_ERR, ids=[c[0] or "empty" for c in VOLUME_ERR])
def test_volume_flag_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_volume_flag(raw, cwd=CWD)
    assert str(err.value) == message


@pytest.mark.parametrize(("raw", "expected"), MOUNT_OK, ids=[c[0] for c in MOUNT_OK])
def test_mount_flag_parses(raw: str, expected: dict[str, Any]) -> None:
    _check_fields(parse_mount_flag(raw, cwd=CWD), expected)


@pytest.mark.parametrize(("raw", "message"), MOUNT_ERR, ids=[c[0] or "empty" for c in MOUNT_ERR])
def test_mount_flag_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_mount_flag(raw, cwd=CWD)
    assert str(err.value) == message


def test_mount_flag_volume_options_are_collected() -> None:
    spec = parse_mount_flag(
        "type=volume,src=v,dst=/d,volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"
        "volume-opt=o=size=1m,volume-label=a=1,volume-label=b,volume-label==skipped,volume-subpath=sub/dir"
    )
    assert spec.volume is not None
    assert spec.volume.driver == "local"
    assert dict(spec.volume.driver_options) == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert dict(spec.volume.labels) == {"a": "1", "b": ""}
    assert spec.volume.subpath == "sub/dir"


def test_mount_flag_tmpfs_options_and_data() -> None:
    spec = parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770,readonly")
    assert spec.tmpfs is not None
    assert (spec.tmpfs.size_bytes, spec.tmpfs.mode) == (64 << 20, 0o1770)
    assert tmpfs_data(spec) == "ro,mode=1770,size=64m"
    odd = parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1000")
    assert tmpfs_data(odd) == "size=1000"
    assert tmpfs_data(parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=2g")) == "size=2g"


def test_mount_flag_bind_recursive_and_nonrecursive() -> None:
    spec = parse_mount_flag("type=bind,src=/h,dst=/d,bind-nonrecursive")
    assert spec.bind is not None and spec.bind.recursive == "disabled"
    spec = parse_mount_flag("type=bind,src=/h,dst=/d,readonly,bind-recursive=readonly,bind-propagation=rprivate")
    assert spec.bind is not None and spec.bind.recursive == "readonly" and spec.read_only


def test_volume_flag_volume_driver_only_for_volumes() -> None:
    spec = parse_volume_flag("vol:/data", volume_driver="other")
    assert spec.volume is not None and spec.volume.driver == "other"
    assert parse_volume_flag("/h:/data", volume_driver="other").volume is None
    anon = parse_volume_flag("/data", volume_driver="other")
    assert anon.volume is not None and anon.volume.driver == "other"


def test_bind_entry_parse_is_daemon_side() -> None:
    # HostConfig.Binds: no CLI split, so the daemon's own errors show
    with pytest.raises(InvalidArgument) as err:
        parse_bind(":/data")
    assert str(err.value) == "invalid volume specification: ':/data'"
    with pytest.raises(InvalidArgument) as err:
        parse_bind("a:/b:ro:x")
    assert str(err.value) == "invalid volume specification: 'a:/b:ro:x'"
    assert parse_bind("/data").origin == "bind"


TMPFS_CASES: list[tuple[str, str | None]] = [
    ("/run", None),
    ("/run:rw,size=64m", None),
    ("/run:size=1g,mode=1777,uid=1000", None),
    ("/", "invalid specification: destination can't be '/'"),
    ("run:size=1m", "invalid mount path: 'run' mount path must be absolute"),
    ("/run:bogus", 'invalid tmpfs option "bogus"'),
    ("/run:colour=red", 'invalid tmpfs option "colour"'),
]


@pytest.mark.parametrize(("raw", "message"), TMPFS_CASES, ids=[c[0] for c in TMPFS_CASES])
def test_tmpfs_flag(raw: str, message: str | None) -> None:
    if message is None:
        spec = parse_tmpfs_flag(raw)
        assert spec.type == "tmpfs" and spec.origin == "tmpfs"
        return
    with pytest.raises(InvalidArgument) as err:
        parse_tmpfs_flag(raw)
    assert str(err.value) == message


def test_tmpfs_flag_values() -> None:
    spec = parse_tmpfs_flag("/run:rw,size=64m,mode=1777,noexec")
    assert spec.tmpfs is not None
    assert (spec.tmpfs.size_bytes, spec.tmpfs.mode) == (64 << 20, 0o1777)
    assert spec.tmpfs.options == ("rw", "size=64m", "mode=1777", "noexec")
    assert not spec.read_only
    assert parse_tmpfs_flag("/r:ro").read_only
    assert parse_tmpfs_flag("/r:size=50%").tmpfs.size_bytes == 0  # type: ignore[union-attr]


def test_tmpfs_mount_options_merge_like_docker() -> None:
    assert tmpfs_mount_options("") == ["noexec", "nosuid", "nodev", "rprivate"]
    # later options win; exec clears noexec's slot; one propagation
    assert tmpfs_mount_options("exec,size=1m,size=2m,shared") == ["nosuid", "nodev", "exec", "size=2m", "shared"]
    assert tmpfs_mount_options("", read_only=True)[-1] == "ro"


VOLUMES_FROM: list[tuple[str, tuple[str, str, bool] | str]] = [
    ("web", ("web", "rw", False)),
    ("web:ro", ("web", "ro", True)),
    ("web:rw", ("web", "rw", False)),
    ("web:ro,z", ("web", "ro,z", True)),
    ("", "volumes-from specification cannot be an empty string"),
    ("web:bogus", "invalid mode: bogus"),
    ("web:rshared", "invalid mode: rshared"),
    ("web:nocopy", "invalid mode: nocopy"),
    ("web:ro,rw", "invalid mode: ro,rw"),
]


@pytest.mark.parametrize(("raw", "expected"), VOLUMES_FROM, ids=[c[0] or "empty" for c in VOLUMES_FROM])
def test_volumes_from(raw: str, expected: tuple[str, str, bool] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(InvalidArgument) as err:
            parse_volumes_from(raw)
        assert str(err.value) == expected
        return
    parsed = parse_volumes_from(raw)
    assert (parsed.container, parsed.mode, parsed.read_only) == expected


RAM: list[tuple[str, int | str]] = [
    ("64m", 64 << 20),
    ("1g", 1 << 30),
    ("1GiB", 1 << 30),
    ("10 kb", 10 << 10),
    ("1.5k", 1536),
    ("512", 512),
    ("512b", 512),
    ("", "invalid size: ''"),
    ("m", "invalid size: 'm'"),
    ("1x", "invalid suffix: 'x'"),
    ("1kbb", "invalid suffix: 'kbb'"),
    ("1megabytes", "invalid suffix: 'megabytes'"),
    ("-1m", "invalid size: '-1m'"),
]


@pytest.mark.parametrize(("text", "expected"), RAM, ids=[c[0] or "empty" for c in RAM])
def test_ram_in_bytes(text: str, expected: int | str) -> None:
    if isinstance(expected, int):
        assert ram_in_bytes(text) == expected
        return
    with pytest.raises(GoValueError) as err:
        ram_in_bytes(text)
    assert str(err.value) == expected


def test_go_helpers() -> None:
    assert clean("//a//b/../c/") == "/a/c"
    assert clean("") == "."
    assert quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert kernel_size("64m") == 64 << 20
    assert kernel_size("0x10") == 16
    assert kernel_size("50%") is None
    assert go_csv_record("\n\na,b\nc") == ["a", "b"]
    with pytest.raises(InvalidArgument, match="extraneous or missing"):
        go_csv_record('"abc')
    with pytest.raises(InvalidArgument, match="extraneous or missing"):
        go_csv_record('"ab"c,d')
