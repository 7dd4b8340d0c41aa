"""`--user` (name|uid[:group|gid]) → uid, gid and supplementary groups, read from the image's /etc/passwd and group.

Follows runc's user.GetExecUser as Docker uses it: a numeric uid needs no passwd entry, a name does; the
supplementary groups are the primary group and those listing the user's name. Reads only those two files.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import User


def _entries(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(spec: str, rootfs: str) -> User:
    """Resolve `spec` (empty means root) against the files of `rootfs`."""
    user_part, _, group_part = (spec or "0").partition(":")
    passwd = [e for e in _entries(os.path.join(rootfs, "etc/passwd")) if len(e) >= 4]
    groups = [e for e in _entries(os.path.join(rootfs, "etc/group")) if len(e) >= 3]
    entry = next((e for e in passwd if e[0] == user_part or e[2] == user_part), None)
    if entry is not None:
        name, uid, gid = entry[0], int(entry[2]), int(entry[3])
    elif user_part.isdigit():
        name, uid, gid = "", int(user_part), 0
    else:
        raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
    if group_part:
        found = next((g for g in groups if g[0] == group_part or g[2] == group_part), None)
        if found is not None:
            gid = int(found[2])
        elif group_part.isdigit():
            gid = int(group_part)
        else:
            raise InvalidArgument(f"unable to find group {group_part}: no matching entries in group file")
    # Docker puts the primary group first among the supplementary ones (moby, CVE-2023-25173).
    extra: list[int] = [gid]
    if name and not group_part:
        for g in groups:
            members = g[3].split(",") if len(g) > 3 else []
            if name in members and g[2].isdigit() and int(g[2]) not in extra:
                extra.append(int(g[2]))
    return User(uid=uid, gid=gid, additional_gids=tuple(extra))
