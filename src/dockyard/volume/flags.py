"""The CLI flags -v/--volume, --mount, --tmpfs and --volumes-from, parsed as docker CLI 28 does and then checked
as the daemon checks them; pure (no filesystem access beyond reading `cwd` for relative `./x` sources).

Sources: docker/cli v28.5 opts/mount.go (--mount), internal/volumespec (the -v split) and
cli/command/container/opts.go (how -v becomes HostConfig.Binds or Config.Volumes); the daemon side is spec.py.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument
from dockyard.volume import gocompat
from dockyard.volume.spec import (
    BindOptions,
    MountSpec,
    TmpfsOptions,
    VolumeOptions,
    parse_anonymous,
    parse_bind,
    parse_tmpfs,
    validate_mount,
)


def _cli_spec_error(raw: str, reason: str) -> InvalidArgument:
    # docker/cli internal/volumespec/volumespec.go: `invalid spec: %s: %w`
    return InvalidArgument(f"invalid spec: {raw}: {reason}")


def _is_drive(buffer: str, char: str) -> bool:
    return char == ":" and len(buffer) == 1 and buffer.isalpha()


def _volumespec_source(raw: str) -> str:
    """The source the CLI's volumespec.Parse finds in a -v value ("" for an anonymous volume)."""
    if raw == "":
        raise InvalidArgument("invalid empty volume spec")
    if len(raw) <= 2:
        return ""
    source = target = None
    buffer = ""
    for char in [*raw, ""]:  # "" stands for volumespec's endOfSpec
        if _is_drive(buffer, char):  # a Windows drive letter `c:` stays in the field
            buffer += char
        elif char in (":", ""):
            if buffer == "":
                raise _cli_spec_error(raw, "empty section between colons")
            if source is None and char == "":
                target = buffer
            elif source is None:
                source = buffer
            elif target is None:
                target = buffer
            elif char == ":":
                raise _cli_spec_error(raw, "too many colons")
            buffer = ""
        else:
            buffer += char
    return source or ""


def _is_file_path(source: str) -> bool:
    # volumespec isFilePath: how the CLI decides a -v source is a host path
    if source[0] in "./~":
        return True
    if len(source) == 1:
        return False
    return source.startswith("\\\\") or _is_drive(source[0], source[1])


def parse_volume_flag(raw: str, *, cwd: str | None = None, volume_driver: str = "") -> MountSpec:
    """One -v/--volume value: `name:/path[:mode]`, `/host:/path[:mode]`, `./rel:/path` or `/path` (anonymous).

    As docker CLI 28 + the daemon: a source starting with `.` is made absolute against `cwd`; any other
    relative source is a volume name (checked when the volume is created).
    """
    source = _volumespec_source(raw)
    if source == "":
        return parse_anonymous(raw, volume_driver=volume_driver)
    bind = raw
    if _is_file_path(source):
        host, sep, rest = raw.partition(":")
        if sep and not host.startswith("/") and host.startswith("."):
            host = posixpath.normpath(posixpath.join(cwd if cwd is not None else os.getcwd(), host))
            bind = host + ":" + rest
    return parse_bind(bind, volume_driver=volume_driver)


def parse_tmpfs_flag(raw: str) -> MountSpec:
    """One --tmpfs value, `/path[:options]`; the CLI splits at the first colon."""
    destination, _, data = raw.partition(":")
    return parse_tmpfs(destination, data)


def go_csv_record(value: str) -> list[str]:
    """The first record of Go's encoding/csv Reader (docker/cli splits --mount with it)."""
    lines = [line.rstrip("\r") for line in value.split("\n")]
    line = next((candidate for candidate in lines if candidate != ""), None)
    if line is None:
        raise InvalidArgument("EOF")  # csv.Reader.Read on empty input returns io.EOF
    fields: list[str] = []
    pos = 0
    while True:
        if line.startswith('"', pos):
            text, pos = _quoted_field(line, pos + 1)
            fields.append(text)
        else:
            end = line.find(",", pos)
            end = len(line) if end == -1 else end
            quote = line.find('"', pos, end)
            if quote != -1:
                raise InvalidArgument(f'parse error on line 1, column {quote + 1}: bare " in non-quoted field')
            fields.append(line[pos:end])
            pos = end
        if pos >= len(line):
            return fields
        pos += 1  # the comma


def _quoted_field(line: str, pos: int) -> tuple[str, int]:
    text = []
    while True:
        quote = line.find('"', pos)
        if quote == -1:
            column = len(line) + 1
            raise InvalidArgument(f'parse error on line 1, column {column}: extraneous or missing " in quoted-field')
        text.append(line[pos:quote])
        after = quote + 1
        if line.startswith('"', after):
            text.append('"')
            pos = after + 1
        elif after >= len(line) or line[after] == ",":
            return "".join(text), after
        else:
            raise InvalidArgument(f'parse error on line 1, column {after + 1}: extraneous or missing " in quoted-field')


@dataclass
class _Mount:
    """The mutable Mount the CLI fills in field by field (docker/cli builds a mount.Mount the same way)."""

    type: str = "volume"
    source: str = ""
    target: str = ""
    read_only: bool = False
    consistency: str = ""
    bind: dict[str, object] | None = None
    volume: dict[str, object] | None = None
    tmpfs: dict[str, int] | None = None
    image: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    driver_options: dict[str, str] = field(default_factory=dict)

    def bind_options(self) -> dict[str, object]:
        if self.bind is None:
            self.bind = {}
        return self.bind

    def volume_options(self) -> dict[str, object]:
        if self.volume is None:
            self.volume = {}
        return self.volume

    def tmpfs_options(self) -> dict[str, int]:
        if self.tmpfs is None:
            self.tmpfs = {}
        return self.tmpfs


def _bool_value(key: str, value: str, message: str | None = None) -> bool:
    try:
        return gocompat.parse_bool(value)
    except gocompat.GoValueError as err:
        raise InvalidArgument(message or f"invalid value for {key}: {value}") from err


def _set_map(target: dict[str, str], item: str) -> None:
    key, _, value = item.partition("=")
    if key != "":
        target[key] = value


def _apply_flagless(mount: _Mount, key: str, item: str) -> None:
    if key in ("readonly", "ro"):
        mount.read_only = True
    elif key == "volume-nocopy":
        mount.volume_options()["nocopy"] = True
    elif key == "bind-nonrecursive":
        mount.bind_options()["recursive"] = "disabled"
    else:
        raise InvalidArgument(f"invalid field '{item}' must be a key=value pair")


def _apply_bind_recursive(mount: _Mount, key: str, value: str) -> None:
    if value not in ("enabled", "disabled", "writable", "readonly"):
        raise InvalidArgument(
            f'invalid value for {key}: {value} (must be "enabled", "disabled", "writable", or "readonly")'
        )
    mount.bind_options()["recursive"] = value


def _apply_tmpfs(mount: _Mount, key: str, value: str) -> None:
    if key == "tmpfs-size":
        try:
            mount.tmpfs_options()["size"] = gocompat.ram_in_bytes(value)
        except gocompat.GoValueError as err:
            raise InvalidArgument(f"invalid value for {key}: {value}") from err
        return
    # strconv.ParseUint(value, 8, 32): octal digits only, below 2**32
    if not value or any(c not in "01234567" for c in value) or int(value, 8) >= 1 << 32:
        raise InvalidArgument(f"invalid value for {key}: {value}")
    mount.tmpfs_options()["mode"] = int(value, 8)


def _apply_field(mount: _Mount, key: str, value: str, item: str, cwd: str | None) -> None:
    if key == "type":
        mount.type = value.lower()
    elif key in ("source", "src"):
        mount.source = value
        if not value.startswith("/") and value.startswith("."):
            mount.source = posixpath.normpath(posixpath.join(cwd if cwd is not None else os.getcwd(), value))
    elif key in ("target", "dst", "destination"):
        mount.target = value
    elif key in ("readonly", "ro"):
        mount.read_only = _bool_value(key, value)
    elif key == "consistency":
        mount.consistency = value.lower()
    elif key == "bind-propagation":
        mount.bind_options()["propagation"] = value.lower()
    elif key == "bind-nonrecursive":
        # docker CLI 28 warns that this is deprecated (bind-recursive=disabled); CLI 29 refuses it
        if _bool_value(key, value):
            mount.bind_options()["recursive"] = "disabled"
        else:
            mount.bind_options()
    elif key == "bind-recursive":
        _apply_bind_recursive(mount, key, value)
    elif key == "volume-subpath":
        mount.volume_options()["subpath"] = value
    elif key == "volume-nocopy":
        mount.volume_options()["nocopy"] = _bool_value(key, value, f"invalid value for volume-nocopy: {value}")
    elif key == "volume-label":
        mount.volume_options()
        _set_map(mount.labels, value)
    elif key == "volume-driver":
        mount.volume_options()["driver"] = value
    elif key == "volume-opt":
        mount.volume_options()
        _set_map(mount.driver_options, value)
    elif key == "image-subpath":
        mount.image = True
    elif key in ("tmpfs-size", "tmpfs-mode"):
        _apply_tmpfs(mount, key, value)
    else:
        raise InvalidArgument(f"unexpected key '{key}' in '{item}'")


def _check_combination(mount: _Mount) -> None:
    if mount.type == "":
        raise InvalidArgument("type is required")
    if mount.target == "":
        raise InvalidArgument("target is required")
    for options, prefix, kind in (
        (mount.volume, "volume", "volume"),
        (True if mount.image else None, "image", "image"),
        (mount.bind, "bind", "bind"),
        (mount.tmpfs, "tmpfs", "tmpfs"),
    ):
        if options is not None and mount.type != kind:
            raise InvalidArgument(f"cannot mix '{prefix}-*' options with mount type '{mount.type}'")
    recursive = mount.bind.get("recursive") if mount.bind else None
    if recursive in ("writable", "readonly") and not mount.read_only:
        raise InvalidArgument(f"option 'bind-recursive={recursive}' requires 'readonly' to be specified in conjunction")
    if recursive == "readonly" and (mount.bind or {}).get("propagation") != "rprivate":
        raise InvalidArgument(
            "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction"
        )


def parse_mount_flag(raw: str, *, cwd: str | None = None) -> MountSpec:
    """One --mount value (`type=volume,src=v,dst=/data,readonly,...`), as docker CLI 28 and then the daemon."""
    mount = _Mount()
    for item in go_csv_record(raw):
        key, has_value, value = item.partition("=")
        key = key.lower()
        if not has_value:
            _apply_flagless(mount, key, item)
            continue
        _apply_field(mount, key, value, item, cwd)
    _check_combination(mount)
    return validate_mount(_to_spec(mount))


def _to_spec(mount: _Mount) -> MountSpec:
    if mount.type == "image":
        raise InvalidArgument('invalid mount config for type "image": image mounts are not supported by dockyard')
    bind = volume = tmpfs = None
    if mount.bind is not None:
        bind = BindOptions(
            propagation=str(mount.bind.get("propagation", "")), recursive=str(mount.bind.get("recursive", ""))
        )
    if mount.volume is not None:
        volume = VolumeOptions(
            nocopy=bool(mount.volume.get("nocopy", False)),
            labels=dict(mount.labels),
            driver=str(mount.volume.get("driver", "")),
            driver_options=dict(mount.driver_options),
            subpath=str(mount.volume.get("subpath", "")),
        )
    if mount.tmpfs is not None:
        tmpfs = TmpfsOptions(size_bytes=mount.tmpfs.get("size", 0), mode=mount.tmpfs.get("mode", 0))
    return MountSpec(
        type=mount.type,  # type: ignore[arg-type]  # unknown types are refused by validate_mount
        target=mount.target,
        origin="mount",
        source=mount.source,
        read_only=mount.read_only,
        consistency=mount.consistency,
        bind=bind,
        volume=volume,
        tmpfs=tmpfs,
    )
