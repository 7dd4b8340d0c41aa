"""MountSpec and the daemon-side parsing of mounts, as moby's volume/mounts/linux_parser.go does it; pure.

Covers what reaches the daemon: HostConfig.Binds strings (`parse_bind`), Config.Volumes entries
(`parse_anonymous`), HostConfig.Tmpfs entries (`parse_tmpfs`), HostConfig.VolumesFrom (`parse_volumes_from`) and the
checks every HostConfig.Mounts entry gets (`validate_mount`). The CLI-side flag parsing lives in flags.py.
Error texts are Docker's, each with its moby source; nothing here touches the filesystem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from dockyard.errors import InvalidArgument
from dockyard.oci.model import Model, field, replace
from dockyard.volume import gocompat

MountType = Literal["bind", "volume", "tmpfs"]
# Where a mount came from, which decides Docker's duplicate rules and the Mode it shows:
# "bind" = HostConfig.Binds (-v with a source), "mount" = HostConfig.Mounts (--mount),
# "tmpfs" = HostConfig.Tmpfs (--tmpfs), "anonymous" = Config.Volumes (-v /path, image VOLUME).
Origin = Literal["bind", "mount", "tmpfs", "anonymous"]

MOUNT_TYPES: tuple[MountType, ...] = ("bind", "volume", "tmpfs")
RW_MODES = frozenset({"rw", "ro"})
LABEL_MODES = frozenset({"z", "Z"})
PROPAGATION_MODES = frozenset({"private", "rprivate", "slave", "rslave", "shared", "rshared"})
COPY_MODES = frozenset({"nocopy"})
CONSISTENCY_MODES = frozenset({"consistent", "cached", "delegated"})
DEFAULT_PROPAGATION = "rprivate"
# moby linux_parser.go validTmpfsOptions (the API's TmpfsOptions.Options)
_TMPFS_API_OPTIONS = frozenset({"exec", "noexec"})


class BindOptions(Model):
    propagation: str = ""  # as given; "" means Docker's default (rprivate)
    recursive: str = ""  # "", "enabled", "disabled", "writable" or "readonly" (--mount bind-recursive)
    create_mountpoint: bool = False


class VolumeOptions(Model):
    nocopy: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    driver: str = ""  # "" means the daemon's default driver
    driver_options: Mapping[str, str] = field(default_factory=dict)
    subpath: str = ""


class TmpfsOptions(Model):
    size_bytes: int = 0  # 0: the kernel's default (half of RAM)
    mode: int = 0  # permission bits; 0: the kernel's default (1777)
    options: tuple[str, ...] = ()  # further mount options: --tmpfs data items, or the API's TmpfsOptions.Options


class MountSpec(Model):
    """One mount a container asks for. `source` is a host path (bind), a volume name ("" = anonymous) or ""."""

    type: MountType
    target: str
    origin: Origin
    source: str = ""
    read_only: bool = False
    mode: str = ""  # the third field of a -v spec, verbatim (Docker shows it as Mode)
    consistency: str = ""
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None

    @property
    def destination(self) -> str:
        """The cleaned target, as Docker keys and shows mount points."""
        return gocompat.clean(self.target)

    @property
    def copy_data(self) -> bool:
        """Whether an empty volume is filled from the image on first mount (Docker's CopyData)."""
        return self.type == "volume" and not (self.volume is not None and self.volume.nocopy)

    @property
    def propagation(self) -> str:
        """The propagation Docker applies: the given one for binds, else rprivate; "" for volumes and tmpfs."""
        if self.type != "bind":
            return ""
        given = self.bind.propagation if self.bind else ""
        return given or DEFAULT_PROPAGATION

    @property
    def label_mode(self) -> str:
        """ "z" or "Z" when the -v mode asks for an SELinux relabel, else ""."""
        return next((m for m in self.mode.split(",") if m in LABEL_MODES), "")


class VolumesFrom(Model):
    container: str
    mode: str  # "rw" when not given
    read_only: bool


def _config_error(mount_type: str, reason: str) -> InvalidArgument:
    # moby volume/mounts/validate.go errMountConfig: `invalid mount config for type %q: %v`
    return InvalidArgument(f"invalid mount config for type {gocompat.quote(mount_type)}: {reason}")


def invalid_spec(raw: str) -> InvalidArgument:
    # moby volume/mounts/mounts.go errInvalidSpec
    return InvalidArgument(f"invalid volume specification: '{raw}'")


def invalid_mode(mode: str) -> InvalidArgument:
    # moby volume/mounts/mounts.go errInvalidMode
    return InvalidArgument(f"invalid mode: {mode}")


def destination_reason(path: str) -> str | None:
    """Why `path` cannot be a mount destination (moby linuxValidateNotRoot + linuxValidateAbsolute), or None."""
    slashed = path.replace("\\", "/")
    if gocompat.clean(slashed) == "/":
        # moby volume/mounts/parser.go ErrVolumeTargetIsRoot
        return "invalid specification: destination can't be '/'"
    if not slashed.startswith("/"):
        # moby volume/mounts/linux_parser.go linuxValidateAbsolute
        return f"invalid mount path: '{slashed}' mount path must be absolute"
    return None


def _exclusive_reason(spec: MountSpec) -> str | None:
    # moby volume/mounts/validate.go validateExclusiveOptions; errExtraField: `field %s must not be specified`
    if spec.type != "bind" and spec.bind is not None:
        return "field BindOptions must not be specified"
    if spec.type != "volume" and spec.volume is not None:
        return "field VolumeOptions must not be specified"
    if spec.type != "tmpfs" and spec.tmpfs is not None:
        return "field TmpfsOptions must not be specified"
    return None


def _type_reason(spec: MountSpec) -> str | None:
    if spec.type == "bind":
        if not spec.source:
            return "field Source must not be empty"  # errMissingField
        propagation = spec.bind.propagation if spec.bind else ""
        if propagation and propagation not in PROPAGATION_MODES:
            return f"invalid propagation mode: {propagation}"
        source = spec.source.replace("\\", "/")
        if not source.startswith("/"):
            return f"invalid mount path: '{source}' mount path must be absolute"
    elif spec.type == "volume":
        subpath = spec.volume.subpath if spec.volume else ""
        if subpath and not spec.source:
            return "must not set Subpath when using anonymous volumes"  # errAnonymousVolumeWithSubpath
        if subpath and not gocompat.is_local(subpath):
            return "subpath must be a relative path within the volume"  # errInvalidSubpath
    elif spec.type == "tmpfs":
        if spec.source:
            return "field Source must not be specified"  # errExtraField
        if spec.origin == "mount" and spec.tmpfs is not None:
            for option in spec.tmpfs.options:
                if option.partition("=")[0] not in _TMPFS_API_OPTIONS:
                    return f"invalid option: {option.partition('=')[0]}"  # linux_parser.go validateTmpfsOptions
    else:
        return "mount type unknown"
    return None


def validate_mount(spec: MountSpec) -> MountSpec:
    """moby's validateMountConfig without the bind-source existence check (see mountpoints.validate_bind_source)."""
    reason = _exclusive_reason(spec)
    if reason is None and not spec.target:
        reason = "field Target must not be empty"
    if reason is None:
        reason = destination_reason(spec.target)
    if reason is None:
        reason = _type_reason(spec)
    if reason is not None:
        raise _config_error(spec.type, reason)
    return spec


def valid_mode(mode: str) -> bool:
    """moby linuxValidMountMode: known words only, at most one of each kind."""
    if mode == "":
        return True
    counts = {"rw": 0, "label": 0, "propagation": 0, "copy": 0, "consistency": 0}
    for word in mode.split(","):
        if word in RW_MODES:
            counts["rw"] += 1
        elif word in LABEL_MODES:
            counts["label"] += 1
        elif word in PROPAGATION_MODES:
            counts["propagation"] += 1
        elif word in COPY_MODES:
            counts["copy"] += 1
        elif word in CONSISTENCY_MODES:
            counts["consistency"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def _split_bind(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":", 3)  # Go strings.SplitN(raw, ":", 4)
    if parts[0] == "":
        raise invalid_spec(raw)
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        if valid_mode(parts[1]):
            raise invalid_spec(raw)  # a destination plus a mode is no volume: `/foo:rw`
        return parts[0], parts[1], ""
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise invalid_spec(raw)


def parse_bind(raw: str, *, volume_driver: str = "") -> MountSpec:
    """One HostConfig.Binds entry, `[source:]target[:mode]` (moby ParseMountRaw)."""
    source, target, mode = _split_bind(raw)
    if not valid_mode(mode):
        raise invalid_mode(mode)
    words = mode.split(",")
    mount_type: MountType = "bind" if source.startswith("/") else "volume"
    nocopy = "nocopy" in words
    volume = None
    if (volume_driver and mount_type == "volume") or nocopy:
        volume = VolumeOptions(driver=volume_driver if mount_type == "volume" else "", nocopy=nocopy)
    propagation = next((w for w in words if w in PROPAGATION_MODES), "")
    spec = MountSpec(
        type=mount_type,
        target=target,
        origin="bind",
        source=source,
        read_only="ro" in words,
        mode=mode,
        bind=BindOptions(propagation=propagation) if propagation else None,
        volume=volume,
    )
    try:
        validate_mount(spec)
    except InvalidArgument as err:
        raise InvalidArgument(f"{invalid_spec(raw)}: {err}") from err
    if mount_type == "bind":
        spec = replace(spec, source=gocompat.clean(source))
    return spec


def parse_anonymous(target: str, *, volume_driver: str = "") -> MountSpec:
    """One Config.Volumes entry (`-v /data`, an image's VOLUME): an anonymous volume at `target`.

    Docker takes any string here (a relative one ends up mounted beside the root); dockyard refuses what the
    Binds parser refuses, worded the same way.
    """
    reason = destination_reason(target)
    if reason is not None:
        raise InvalidArgument(f"{invalid_spec(target)}: {_config_error('volume', reason)}")
    volume = VolumeOptions(driver=volume_driver) if volume_driver else None
    return MountSpec(type="volume", target=target, origin="anonymous", volume=volume)


def _tmpfs_options(data: str) -> TmpfsOptions:
    size = 0
    mode = 0
    options = tuple(o for o in data.split(",") if o) if data else ()
    for option in options:
        key, _, value = option.partition("=")
        if key == "size":
            size = gocompat.kernel_size(value) or 0
        elif key == "mode":
            try:
                mode = int(value, 8)
            except ValueError:
                mode = 0
    return TmpfsOptions(size_bytes=size, mode=mode, options=options)


def parse_tmpfs(destination: str, data: str = "") -> MountSpec:
    """One HostConfig.Tmpfs entry. Docker checks the destination at create and the options only at start."""
    reason = destination_reason(destination)
    if reason is not None:
        raise InvalidArgument(reason)  # moby daemon_unix.go: ValidateTmpfsMountDestination, unwrapped
    merged = tmpfs_mount_options(data)  # dockyard checks the options at create already
    options = _tmpfs_options(data)
    return MountSpec(type="tmpfs", target=destination, origin="tmpfs", read_only="ro" in merged, tmpfs=options)


def tmpfs_data(spec: MountSpec) -> str:
    """The option string Docker passes on for a tmpfs mount (moby ConvertTmpfsOptions for --mount ones)."""
    options = spec.tmpfs or TmpfsOptions()
    if spec.origin == "tmpfs":
        return ",".join(options.options)
    words = ["ro"] if spec.read_only else []
    if options.mode:
        words.append(f"mode={options.mode:o}")
    if options.size_bytes:
        size, suffix = options.size_bytes, ""
        # the largest unit that divides the size evenly, as moby does
        for unit, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                size, suffix = size // divisor, unit
                break
        words.append(f"size={size}{suffix}")
    words.extend(options.options)
    return ",".join(words)


# moby/sys/mount flags_unix.go: options MergeTmpfsOptions knows as flags, keyed by the flag they set or clear
_FLAG_KEYS = {
    "ro": "rdonly", "rw": "rdonly", "suid": "nosuid", "nosuid": "nosuid", "dev": "nodev", "nodev": "nodev",
    "exec": "noexec", "noexec": "noexec", "sync": "sync", "async": "sync", "dirsync": "dirsync",
    "remount": "remount", "mand": "mand", "nomand": "mand", "atime": "noatime", "noatime": "noatime",
    "diratime": "nodiratime", "nodiratime": "nodiratime", "relatime": "relatime", "norelatime": "relatime",
    "strictatime": "strictatime", "nostrictatime": "strictatime",
    "bind": "propagation", "rbind": "propagation", "unbindable": "propagation", "runbindable": "propagation",
    "private": "propagation", "rprivate": "propagation", "shared": "propagation", "rshared": "propagation",
    "slave": "propagation", "rslave": "propagation",
}  # fmt: skip
_TMPFS_DATA_KEYS = frozenset({"", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})


def tmpfs_mount_options(data: str, *, read_only: bool = False) -> list[str]:
    """The OCI mount options Docker gives a --tmpfs mount: noexec,nosuid,nodev,rprivate then the user's, merged.

    moby oci_linux.go + moby/sys/mount MergeTmpfsOptions: later options win, one per flag or data key.
    """
    options = ["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION]
    if read_only:
        options.append("ro")
    if data:
        options.extend(data.split(","))
    seen: set[str] = set()
    merged: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        key = _FLAG_KEYS.get(option)
        if key is None:
            name, has_value, _ = option.partition("=")
            if not has_value or name not in _TMPFS_DATA_KEYS:
                raise InvalidArgument(f"invalid tmpfs option {gocompat.quote(name)}")
            key = "data:" + name
        if key not in seen:
            seen.add(key)
            merged.insert(0, option)
    return merged


def parse_volumes_from(raw: str) -> VolumesFrom:
    """One --volumes-from value, `container[:ro|rw]` (moby ParseVolumesFrom)."""
    if raw == "":
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    container, _, mode = raw.partition(":")
    if mode == "":
        return VolumesFrom(container=container, mode="rw", read_only=False)
    words = mode.split(",")
    if not valid_mode(mode):
        raise invalid_mode(mode)
    # propagation and copy modes are refused: the volumes keep the ones of the container they come from
    if any(w in PROPAGATION_MODES or w in COPY_MODES for w in words):
        raise invalid_mode(mode)
    return VolumesFrom(container=container, mode=mode, read_only="ro" in words)
