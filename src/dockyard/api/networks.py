"""Handlers for /networks/* and Docker's network JSON: the network documents, a container's NetworkSettings, and the
networking part of the POST /containers/create body (NetworkMode, PortBindings, ExposedPorts, NetworkingConfig).

Knows Docker's field names; the engine side is engine/networks.py (NetworkManager behind it). No I/O of its own.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dockyard.api.body_fields import string_list as _strs
from dockyard.api.messages import Request, Response
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine
    from dockyard.engine.networks import Network, NetworkSettings
    from dockyard.engine.records import ContainerRecord

DRIVER_NAMES = {"null": "null", "host": "host", "bridge": "bridge"}


def _obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid field `{key}`: expected an object")
    return value


# ---- the create body ---------------------------------------------------------------------------------------


def host_config_fields(body: dict[str, Any], hc: dict[str, Any]) -> dict[str, Any]:
    """HostConfig + NetworkingConfig networking → engine HostConfig keyword arguments."""
    bindings = []
    for key, entries in _obj(hc, "PortBindings").items():
        port, _, proto = str(key).partition("/")
        for entry in entries or [{}]:
            if not isinstance(entry, dict):
                raise InvalidArgument("invalid field `PortBindings`: expected arrays of objects")
            bindings.append(f"{entry.get('HostIp') or ''}:{entry.get('HostPort') or ''}:{port}/{proto or 'tcp'}")
    mode = hc.get("NetworkMode") or ""
    if not isinstance(mode, str):
        raise InvalidArgument("invalid field `NetworkMode`: expected a string")
    ip = ""
    aliases: tuple[str, ...] = ()
    endpoints = _obj(_obj(body, "NetworkingConfig"), "EndpointsConfig")
    if endpoints:
        first = endpoints.get(mode) or next(iter(endpoints.values())) or {}
        ip = str(_obj(first, "IPAMConfig").get("IPv4Address") or "")
        aliases = _strs(first, "Aliases")
    return {
        "network_mode": mode,
        "port_bindings": tuple(bindings),
        "publish_all_ports": bool(hc.get("PublishAllPorts")),
        "dns": _strs(hc, "Dns"),
        "dns_search": _strs(hc, "DnsSearch"),
        "dns_options": _strs(hc, "DnsOptions"),
        "extra_hosts": _strs(hc, "ExtraHosts"),
        "network_ip": ip,
        "network_aliases": aliases,
    }


def exposed_ports(body: dict[str, Any]) -> tuple[str, ...]:
    return tuple(k if "/" in k else f"{k}/tcp" for k in _obj(body, "ExposedPorts"))


# ---- documents ---------------------------------------------------------------------------------------------


def network_json(network: Network, containers: dict[str, Any] | None = None) -> dict[str, Any]:
    """One network as GET /networks/{id} shows it (`Containers` only there; the list leaves it empty)."""
    config = []
    if network.ipam is not None:
        pool = {"Subnet": network.ipam.subnet, "Gateway": network.ipam.gateway}
        if network.ipam.ip_range:
            pool["IPRange"] = network.ipam.ip_range
        config.append(pool)
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": "local",
        "Driver": DRIVER_NAMES.get(network.driver, network.driver),
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None if network.predefined else {}, "Config": config},
        "Internal": network.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers or {},
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }


def _containers_of(engine: Engine, network: Network) -> dict[str, Any]:
    out = {}
    for ep in engine.networks.manager.endpoints():
        if ep.network_id != network.id:
            continue
        try:
            name = engine.containers.records.load(ep.container_id).name
        except Exception:  # a record removed while listing: show the endpoint without a name
            name = ""
        out[ep.container_id] = {"Name": name, "EndpointID": _endpoint_id(ep.container_id, ep.network_id),
                                "MacAddress": ep.mac, "IPv4Address": ep.ip_cidr, "IPv6Address": ""}  # fmt: skip
    return out


def _endpoint_id(container_id: str, network_id: str) -> str:
    import hashlib

    return hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()


def ports_json(settings: NetworkSettings, exposed: tuple[str, ...]) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed or published port; null when not published (Docker)."""
    out: dict[str, Any] = {key: None for key in exposed}
    for p in settings.ports:
        out.setdefault(f"{p.container_port}/{p.proto}", None)
        out[f"{p.container_port}/{p.proto}"] = [
            *(out[f"{p.container_port}/{p.proto}"] or []),
            {"HostIp": p.host_ip or "0.0.0.0", "HostPort": str(p.host_port)},
        ]
    return out


def network_settings_json(settings: NetworkSettings, record: ContainerRecord) -> dict[str, Any]:
    """The networking part of a container's inspect document (merged into NetworkSettings by the caller)."""
    nets = {n.id: n for n in settings.networks}
    networks: dict[str, Any] = {}
    for ep in settings.endpoints:
        net = nets.get(ep.network_id)
        networks[ep.network_name] = {
            "IPAMConfig": None, "Links": None, "Aliases": list(ep.aliases) or None,
            "NetworkID": ep.network_id, "EndpointID": _endpoint_id(ep.container_id, ep.network_id),
            "Gateway": ep.gateway, "IPAddress": ep.ipv4, "IPPrefixLen": ep.prefixlen, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": ep.mac, "DriverOpts": None,
        }  # fmt: skip
        if net is not None and net.default_bridge:
            networks[ep.network_name]["Aliases"] = None
    if not settings.endpoints and settings.mode in ("host", "none"):
        networks[settings.mode] = {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "",
                                   "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                                   "MacAddress": ""}  # fmt: skip
    first = settings.endpoints[0] if settings.endpoints else None
    bridge = first is not None and nets.get(first.network_id) is not None and nets[first.network_id].default_bridge
    return {
        "Ports": ports_json(settings, record.config.exposed_ports),
        "SandboxKey": settings.sandbox_key,
        "EndpointID": _endpoint_id(first.container_id, first.network_id) if bridge and first else "",
        "Gateway": first.gateway if bridge and first else "",
        "IPAddress": first.ipv4 if bridge and first else "",
        "IPPrefixLen": first.prefixlen if bridge and first else 0,
        "MacAddress": first.mac if bridge and first else "",
        "Networks": networks,
    }


def container_network_settings(engine: Engine, record: ContainerRecord) -> dict[str, Any]:
    """What the inspect builder merges into NetworkSettings (and HostConfig.NetworkMode)."""
    return network_settings_json(engine.networks.settings(record), record)


# ---- handlers ----------------------------------------------------------------------------------------------


def _filters(req: Request) -> dict[str, list[str]]:
    raw = req.query.get("filters") or ""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise InvalidArgument(f"invalid filter: {raw}") from err
    out: dict[str, list[str]] = {}
    for key, values in (data or {}).items():
        out[key] = list(values) if isinstance(values, list) else [k for k, on in values.items() if on]
    return out


def _matches(network: Network, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key == "driver" and network.driver not in values and not ("null" in values and network.driver == "null"):
            return False
        if key == "name" and not any(v in network.name for v in values):
            return False
        if key == "id" and not any(network.id.startswith(v) for v in values):
            return False
        if key == "scope" and "local" not in values:
            return False
        if key == "type" and not any((v == "builtin") == network.predefined for v in values):
            return False
        if key == "label" and not all(_label_match(network, v) for v in values):
            return False
        if key not in ("driver", "name", "id", "scope", "type", "label", "until", "dangling"):
            raise InvalidArgument(f"invalid filter '{key}'")
    return True


def _label_match(network: Network, wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    have = network.label(key)
    return have is not None and (not sep or have == value)


def list_(engine: Engine, req: Request) -> Response:
    filters = _filters(req)
    nets = [n for n in engine.networks.manager.networks() if _matches(n, filters)]
    return Response.json([network_json(n) for n in nets])


def inspect(engine: Engine, req: Request) -> Response:
    network = engine.networks.manager.get(req.params["id"])
    return Response.json(network_json(network, _containers_of(engine, network)))


def create(engine: Engine, req: Request) -> Response:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body["Name"]:
        raise InvalidArgument("network name must not be empty")
    ipam = _obj(body, "IPAM")
    pools = ipam.get("Config") or []
    if len(pools) > 1:
        raise InvalidArgument("only one IPv4 pool per network is supported")
    pool = pools[0] if pools else {}
    network = engine.networks.manager.create(
        body["Name"], driver=body.get("Driver") or "bridge", subnet=pool.get("Subnet") or None,
        gateway=pool.get("Gateway") or None, ip_range=pool.get("IPRange") or None,
        internal=bool(body.get("Internal")), labels=_obj(body, "Labels").items(),
        options=_obj(body, "Options").items(),
    )  # fmt: skip
    return Response.json({"Id": network.id, "Warning": ""}, status=201)


def remove(engine: Engine, req: Request) -> Response:
    engine.networks.manager.remove(req.params["id"])
    return Response.empty(204)


def connect(engine: Engine, req: Request) -> Response:
    body = req.json() or {}
    network = engine.networks.manager.get(req.params["id"])
    record = engine.containers.get(str(body.get("Container") or ""))
    config = _obj(body, "EndpointConfig")
    ip = str(_obj(config, "IPAMConfig").get("IPv4Address") or "")
    engine.networks.connect(record, network.name, ip=ip, aliases=_strs(config, "Aliases"))
    return Response.empty(200)


def disconnect(engine: Engine, req: Request) -> Response:
    body = req.json() or {}
    network = engine.networks.manager.get(req.params["id"])
    record = engine.containers.get(str(body.get("Container") or ""))
    engine.networks.disconnect(record, network.name)
    return Response.empty(200)


def prune(engine: Engine, req: Request) -> Response:
    filters = {k: v for k, v in _filters(req).items() if k != "until"}
    removed = engine.networks.manager.prune(keep=lambda n: not _matches(n, filters))
    return Response.json({"NetworksDeleted": list(removed) or None})
