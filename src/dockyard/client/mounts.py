"""The mount flags of `run`/`create` (-v, --mount, --tmpfs, --volumes-from) → CreateOptions keyword arguments, split
the way docker CLI 28 splits them into HostConfig.Binds, HostConfig.Mounts, HostConfig.Tmpfs, Config.Volumes and
HostConfig.VolumesFrom. Parsing and messages are dockyard.volume's (through engine/volumes.py); no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def create_options(
    volumes: Sequence[str] = (),
    mounts: Sequence[str] = (),
    tmpfs: Sequence[str] = (),
    volumes_from: Sequence[str] = (),
    *,
    cwd: str | None = None,
) -> dict[str, Any]:
    """Raises InvalidArgument with Docker's message for a bad value (the CLI exits 125 on it)."""
    if not (volumes or mounts or tmpfs or volumes_from):  # the usual `run`: skip importing the parsers (~15 ms)
        return {"binds": (), "mounts": (), "tmpfs": {}, "volumes": (), "volumes_from": ()}
    from dockyard.api.volumes import mount_json
    from dockyard.engine import volumes as ev

    binds: list[str] = []
    anonymous: list[str] = []
    for raw in volumes:
        spec = ev.parse_volume_flag(raw, cwd=cwd)
        if spec.origin == "anonymous":
            anonymous.append(spec.target)
            continue
        text = f"{spec.source}:{spec.target}"
        binds.append(f"{text}:{spec.mode}" if spec.mode else text)
    tmpfs_map: dict[str, str] = {}
    for raw in tmpfs:
        ev.parse_tmpfs_flag(raw)
        destination, _, data = raw.partition(":")
        tmpfs_map[destination] = data
    for raw in volumes_from:
        ev.parse_volumes_from(raw)
    return {
        "binds": tuple(binds),
        "mounts": tuple(mount_json(ev.parse_mount_flag(raw, cwd=cwd)) for raw in mounts),
        "tmpfs": tmpfs_map,
        "volumes": tuple(anonymous),
        "volumes_from": tuple(volumes_from),
    }
