"""A container's mounts as Docker shows them (MountPoint) and the checks Docker makes when it registers them:
duplicate destinations, bind sources that must exist or are created. Reads or creates host paths only in
`validate_bind_source` / `ensure_bind_source`; never mounts anything.

Sources: moby daemon/volumes.go registerMountPoints, daemon/volumes_unix.go setBindModeIfNull,
daemon/container/container_unix.go GetMountPoints, daemon/volume/mounts/mounts.go Setup.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from dockyard.errors import InternalError, InvalidArgument
from dockyard.oci.model import Model, replace
from dockyard.volume.model import LOCAL_DRIVER, Volume
from dockyard.volume.spec import MountSpec, VolumesFrom


class MountPoint(Model):
    """One entry of a container's `Mounts` in `docker inspect` (Type, Name, Source, Destination, Driver, Mode, RW,
    Propagation)."""

    type: str
    name: str
    source: str
    destination: str
    driver: str
    mode: str
    rw: bool
    propagation: str


def mount_point(spec: MountSpec, volume: Volume | None = None) -> MountPoint | None:
    """The MountPoint Docker shows for `spec` (backed by `volume` when it is a volume mount).

    None for a --tmpfs mount: Docker lists HostConfig.Tmpfs mounts nowhere in `Mounts`.
    Mode: -v keeps its mode text; a local volume from -v or --mount with no mode shows "z" (moby
    setBindModeIfNull); an anonymous volume from Config.Volumes shows "". Propagation: binds show theirs or
    "rprivate"; volumes and tmpfs show "".
    """
    if spec.origin == "tmpfs":
        return None
    mode = spec.mode if spec.origin == "bind" else ""
    if spec.type == "bind":
        return MountPoint(
            type="bind",
            name="",
            source=spec.source,
            destination=spec.destination,
            driver="",
            mode=mode,
            rw=not spec.read_only,
            propagation=spec.propagation,
        )
    if spec.type == "tmpfs":
        return MountPoint(
            type="tmpfs", name="", source="", destination=spec.destination, driver="", mode="",
            rw=not spec.read_only, propagation="",
        )  # fmt: skip
    driver = volume.driver if volume else ((spec.volume.driver if spec.volume else "") or LOCAL_DRIVER)
    if driver == LOCAL_DRIVER and spec.origin in ("bind", "mount") and mode == "":
        mode = "z"
    return MountPoint(
        type="volume",
        name=volume.name if volume else spec.source,
        source=volume.mountpoint if volume else "",
        destination=spec.destination,
        driver=driver,
        mode=mode,
        rw=not spec.read_only,
        propagation="",
    )


def inherited_mount_point(point: MountPoint, volumes_from: VolumesFrom) -> MountPoint:
    """A mount taken over with --volumes-from: read-only when either side says so (moby registerMountPoints)."""
    return replace(point, rw=point.rw and not volumes_from.read_only)


def _duplicate(destination: str) -> InvalidArgument:
    # moby daemon/errors.go duplicateMountPointError
    return InvalidArgument(f"Duplicate mount point: {destination}")


def check_mount_points(specs: Iterable[MountSpec]) -> tuple[MountSpec, ...]:
    """Docker's duplicate rules over all of a container's mounts; returns the mounts that take effect.

    -v binds may not share a destination with each other or with --tmpfs; --mount may not share one with any
    -v bind or earlier --mount (the message then shows the --mount target as written); an anonymous volume
    (-v /path, image VOLUME) whose destination is already taken is dropped silently.
    """
    specs = list(specs)
    tmpfs = {s.target for s in specs if s.origin == "tmpfs"}
    taken: set[str] = set()
    result: list[MountSpec] = []
    for spec in (s for s in specs if s.origin == "bind"):
        if spec.destination in taken or spec.destination in tmpfs:
            raise _duplicate(spec.destination)
        taken.add(spec.destination)
        result.append(spec)
    for spec in (s for s in specs if s.origin == "mount"):
        if spec.destination in taken:
            raise _duplicate(spec.target)
        taken.add(spec.destination)
        result.append(spec)
    result.extend(s for s in specs if s.origin == "tmpfs")
    for spec in (s for s in specs if s.origin == "anonymous"):
        if spec.destination in taken or spec.destination in tmpfs:
            continue
        taken.add(spec.destination)
        result.append(spec)
    return tuple(result)


def validate_bind_source(spec: MountSpec) -> None:
    """A --mount bind's source must exist when the container is created (moby validateMountConfigImpl)."""
    if spec.type != "bind":
        return
    try:
        os.stat(spec.source)
    except FileNotFoundError:
        if spec.bind is not None and spec.bind.create_mountpoint:
            return
        # moby volume/mounts/validate.go errBindSourceDoesNotExist inside errMountConfig
        raise InvalidArgument(
            f'invalid mount config for type "bind": bind source path does not exist: {spec.source}'
        ) from None
    except OSError as err:
        reason = os.strerror(err.errno or 0).lower()
        raise InvalidArgument(f'invalid mount config for type "bind": stat {spec.source}: {reason}') from err


def ensure_bind_source(spec: MountSpec, *, uid: int = 0, gid: int = 0) -> bool:
    """For a -v bind, create a missing host path as a directory (0755, owned uid:gid), as Docker does.

    Returns True when something was created. A path that exists as a file is left alone (Docker ignores
    ENOTDIR here). --mount binds are never created: call validate_bind_source for them.
    """
    if spec.type != "bind" or spec.origin != "bind":
        return False
    if os.path.lexists(spec.source):
        return False
    missing: list[str] = []
    path = spec.source
    while path != "/" and not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o755)
        except FileExistsError:
            continue
        except NotADirectoryError:
            return False
        except OSError as err:
            # moby mounts.go Setup: `error while creating mount source path '%s': %v` around Go's `mkdir X: reason`
            reason = os.strerror(err.errno or errno.EIO).lower()
            raise InternalError(
                f"error while creating mount source path '{spec.source}': mkdir {directory}: {reason}"
            ) from err
        os.chmod(directory, 0o755)  # mkdir's mode is filtered by the umask
        os.chown(directory, uid, gid)
    return True
