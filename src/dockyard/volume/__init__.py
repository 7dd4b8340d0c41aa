"""Volumes: the `local` driver's named volumes (store), mount-spec parsing as Docker's CLI and daemon do it
(flags, spec), Docker's inspect shape of a container's mounts (mountpoints) and copy-up from the image (copyup).

Imports only dockyard.errors and the standard library; never imports engine, api or cli.
"""

from dockyard.volume.copyup import copy_up
from dockyard.volume.flags import parse_mount_flag, parse_tmpfs_flag, parse_volume_flag
from dockyard.volume.model import ANONYMOUS_LABEL, LOCAL_DRIVER, PruneReport, Volume
from dockyard.volume.mounter import FakeMounter, LinuxMounter, Mounter, MountError
from dockyard.volume.mountpoints import (
    MountPoint,
    check_mount_points,
    ensure_bind_source,
    inherited_mount_point,
    mount_point,
    validate_bind_source,
)
from dockyard.volume.spec import (
    BindOptions,
    MountSpec,
    TmpfsOptions,
    VolumeOptions,
    VolumesFrom,
    parse_anonymous,
    parse_bind,
    parse_tmpfs,
    parse_volumes_from,
    tmpfs_data,
    tmpfs_mount_options,
    validate_mount,
)
from dockyard.volume.store import VolumeStore, name_error, options_error

__all__ = [
    "ANONYMOUS_LABEL",
    "LOCAL_DRIVER",
    "BindOptions",
    "FakeMounter",
    "LinuxMounter",
    "MountError",
    "MountPoint",
    "MountSpec",
    "Mounter",
    "PruneReport",
    "TmpfsOptions",
    "Volume",
    "VolumeOptions",
    "VolumeStore",
    "VolumesFrom",
    "check_mount_points",
    "copy_up",
    "ensure_bind_source",
    "inherited_mount_point",
    "mount_point",
    "name_error",
    "options_error",
    "parse_anonymous",
    "parse_bind",
    "parse_mount_flag",
    "parse_tmpfs",
    "parse_tmpfs_flag",
    "parse_volume_flag",
    "parse_volumes_from",
    "tmpfs_data",
    "tmpfs_mount_options",
    "validate_bind_source",
    "validate_mount",
]
