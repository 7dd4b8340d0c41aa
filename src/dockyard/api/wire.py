"""Docker's JSON shapes ↔ the engine's models: the create body in, inspect and list documents out.

The only module (with client/) that knows Docker's field names. Validates untrusted bodies and names the field
on error (`json: cannot unmarshal number into Go struct field Config.Env`-style messages are Docker's; ours say
`invalid field `Env`: expected an array of strings`). No I/O.
"""

from __future__ import annotations

import time
from calendar import timegm
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dockyard.api.body_fields import typed as _field
from dockyard.errors import InvalidArgument
from dockyard.units import human_duration

if TYPE_CHECKING:
    from dockyard.engine.containers import CreateRequest
    from dockyard.engine.records import ContainerRecord, State
    from dockyard.engine.volumes import MountRequest
    from dockyard.paths import Paths


def _strings(data: dict[str, Any], key: str, *, allow_string: bool = False) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if allow_string and isinstance(value, str):
        return (value,)  # Docker's strslice also takes a single string
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid field `{key}`: expected an array of strings")
    return tuple(value)


def _labels(data: dict[str, Any]) -> dict[str, str] | None:
    value = data.get("Labels")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument("invalid field `Labels`: expected an object of strings")
    return {str(k): v for k, v in value.items()}


def create_request(body: Any) -> CreateRequest:
    """The POST /containers/create body → CreateRequest."""
    from dockyard.api import networks, wire_lifecycle, wire_resources
    from dockyard.engine.containers import CreateRequest
    from dockyard.engine.records import HostConfig

    if not isinstance(body, dict):
        raise InvalidArgument("config cannot be empty in order to create a container")
    hc = body.get("HostConfig") or {}
    if not isinstance(hc, dict):
        raise InvalidArgument("invalid field `HostConfig`: expected an object")
    image = _field(body, "Image", str, "a string", "")
    if not image:
        raise InvalidArgument("no image specified")
    host_config = HostConfig(
        auto_remove=_field(hc, "AutoRemove", bool, "a boolean", False),
        memory=_field(hc, "Memory", int, "an integer", 0),
        nano_cpus=_field(hc, "NanoCpus", int, "an integer", 0),
        pids_limit=_field(hc, "PidsLimit", int, "an integer", 0),
        read_only=_field(hc, "ReadonlyRootfs", bool, "a boolean", False),
        privileged=_field(hc, "Privileged", bool, "a boolean", False),
        cap_add=_strings(hc, "CapAdd") or (),
        cap_drop=_strings(hc, "CapDrop") or (),
        security_opt=_strings(hc, "SecurityOpt") or (),
        **networks.host_config_fields(body, hc),
        **wire_lifecycle.host_config_fields(hc),
        **wire_resources.host_config_fields(hc),
    )
    if host_config.memory < 0 or host_config.nano_cpus < 0:
        raise InvalidArgument("invalid resources: Memory and NanoCpus must not be negative")
    if host_config.memory and host_config.memory < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    return CreateRequest(
        image=image,
        cmd=_strings(body, "Cmd", allow_string=True),
        entrypoint=_strings(body, "Entrypoint", allow_string=True),
        env=_strings(body, "Env") or (),
        working_dir=_field(body, "WorkingDir", str, "a string", ""),
        user=_field(body, "User", str, "a string", ""),
        hostname=_field(body, "Hostname", str, "a string", ""),
        domainname=_field(body, "Domainname", str, "a string", ""),
        labels=_labels(body),
        tty=_field(body, "Tty", bool, "a boolean", False),
        open_stdin=_field(body, "OpenStdin", bool, "a boolean", False),
        host_config=host_config,
        storage=_mount_request(body, hc),  # Binds, Mounts, Tmpfs, Volumes, VolumesFrom: api/volumes.py
        exposed_ports=networks.exposed_ports(body),
        mac_address=_field(body, "MacAddress", str, "a string", ""),
        **wire_lifecycle.config_fields(body),
    )


def _mount_request(body: dict[str, Any], hc: dict[str, Any]) -> MountRequest:
    from dockyard.api import volumes

    return volumes.mount_request(body, hc)


def _state_json(state: State) -> dict[str, Any]:
    return {
        "Status": state.status,
        "Running": state.status == "running",
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": state.status == "dead",
        "Pid": state.pid,
        "ExitCode": state.exit_code,
        "Error": state.error,
        "StartedAt": state.started_at,
        "FinishedAt": state.finished_at,
    }


def inspect_json(record: ContainerRecord, paths: Paths) -> dict[str, Any]:
    """GET /containers/{id}/json: the fields docker inspect users rely on most (the rest is added later)."""
    c, hc, directory = record.config, record.host_config, paths.container_dir(record.id)
    return {
        "Id": record.id,
        "Created": record.created,
        "Path": record.path,
        "Args": list(record.args),
        "State": _state_json(record.state),
        "Image": record.image_id,
        "ResolvConfPath": f"{directory}/resolv.conf",
        "HostnamePath": f"{directory}/hostname",
        "HostsPath": f"{directory}/hosts",
        "LogPath": paths.log(record.id),
        "Name": f"/{record.name}",
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "AutoRemove": hc.auto_remove,
            "Memory": hc.memory,
            "MemorySwap": hc.memory * 2 if hc.memory else 0,
            "NanoCpus": hc.nano_cpus,
            "PidsLimit": hc.pids_limit or None,
            "ReadonlyRootfs": hc.read_only,
            "Privileged": hc.privileged,
            "CapAdd": list(hc.cap_add) or None,
            "CapDrop": list(hc.cap_drop) or None,
            "SecurityOpt": list(hc.security_opt) or None,
            "NetworkMode": "none",
            "LogConfig": {"Type": "json-file", "Config": {}},
        },
        "Mounts": [],
        "Config": {
            "Hostname": c.hostname or record.id[:12],
            "Domainname": c.domainname,
            "User": c.user,
            "Tty": c.tty,
            "OpenStdin": c.open_stdin,
            "Env": list(c.env),
            "Cmd": list(c.cmd) or None,
            "Image": c.image,
            "WorkingDir": c.working_dir,
            "Entrypoint": list(c.entrypoint) or None,
            "Labels": c.labels or {},
        },
        "NetworkSettings": {"Networks": {}},
    }


def parse_time(text: str) -> float:
    """Whole seconds since the epoch of an RFC 3339 UTC time (`2026-11-28T22:29:15.021867381Z`); 0.0 if it is not
    one. datetime.fromisoformat, not strptime: `ps` parses one per container (strptime cost 0.5 ms a hundred)."""
    base = text.rstrip("Z").split(".")[0]
    try:
        parsed = datetime.fromisoformat(base)
    except ValueError:
        return 0.0
    if len(base) != 19 or base[10] != "T":
        return 0.0  # fromisoformat also takes dates alone, spaces and offsets: only Docker's form is one
    return float(timegm(parsed.timetuple()))


def status_text(state: State, now: float | None = None) -> str:
    """`Up 3 seconds`, `Exited (0) 5 minutes ago`, `Created`, `Dead` (docker ps's STATUS column)."""
    current = time.time() if now is None else now
    if state.status == "running":
        return f"Up {human_duration(current - parse_time(state.started_at))}"
    if state.status == "exited":
        return f"Exited ({state.exit_code}) {human_duration(current - parse_time(state.finished_at))} ago"
    return state.status.capitalize()
