"""Whiteout naming of the OCI image spec (layer.md) and of overlayfs; names only, no file-system access.

In a layer, `.wh.<name>` deletes `<name>` from the lower layers and `.wh..wh..opq` hides every lower entry of
its directory. In an overlayfs upper directory the same facts are a 0:0 character device and the
`trusted.overlay.opaque` (or, with `userxattr`, `user.overlay.opaque`) xattr set to `y`.
"""

from __future__ import annotations

PREFIX = ".wh."
META_PREFIX = ".wh..wh."
OPAQUE = ".wh..wh..opq"
AUFS_LINK_DIR = ".wh..wh.plnk"

OVERLAY_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def whiteout_target(base: str) -> str | None:
    """For `.wh.<name>` the `<name>` it deletes; None when `base` is no plain whiteout (opaque/meta included)."""
    if not base.startswith(PREFIX) or base.startswith(META_PREFIX):
        return None
    return base[len(PREFIX) :]


def whiteout_name(name: str) -> str:
    return PREFIX + name


def is_overlay_xattr(key: str) -> bool:
    """Overlayfs' own xattrs: they steer the overlay mount and never belong in (or come from) a layer."""
    return key.startswith(OVERLAY_XATTR_PREFIXES)
