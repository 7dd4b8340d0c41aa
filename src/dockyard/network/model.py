"""The network package's data crossing module boundaries: networks, IPAM config, endpoints, port bindings.

Pure frozen models (oci/model.py) with JSON round-trips for the on-disk state; no I/O, no Docker wire field names.
"""

from __future__ import annotations

from typing import Any

from dockyard.errors import InternalError
from dockyard.oci.model import Model, field

DRIVER_BRIDGE = "bridge"
DRIVER_HOST = "host"
DRIVER_NULL = "null"

# The pre-defined networks Docker lists and refuses to remove.
PREDEFINED = ("bridge", "host", "none")


def _field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind):
        raise InternalError(f"read network state `{where}.{key}`: expected {kind.__name__}")
    return value


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise InternalError(f"read network state `{where}.{key}`: expected str or null")
    return value


def _pairs(obj: dict[str, Any], key: str, where: str) -> tuple[tuple[str, str], ...]:
    raw = obj.get(key) or {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise InternalError(f"read network state `{where}.{key}`: expected an object of strings")
    return tuple(sorted(raw.items()))


class IPAMConfig(Model):
    """One IPv4 pool of a network: the subnet, its gateway and the range containers get addresses from."""

    subnet: str
    gateway: str
    ip_range: str | None = None
    user_subnet: bool = False  # the user gave --subnet: only then may a container ask for a fixed --ip

    def to_json(self) -> dict[str, Any]:
        return {"subnet": self.subnet, "gateway": self.gateway, "ip_range": self.ip_range,
                "user_subnet": self.user_subnet}  # fmt: skip

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str = "ipam") -> IPAMConfig:
        return cls(
            subnet=_field(obj, "subnet", str, where),
            gateway=_field(obj, "gateway", str, where),
            ip_range=_opt_str(obj, "ip_range", where),
            user_subnet=bool(obj.get("user_subnet", False)),
        )


class Network(Model):
    """A network as persisted; `bridge` is empty for the host and null drivers."""

    id: str
    name: str
    driver: str = DRIVER_BRIDGE
    bridge: str = ""
    ipam: IPAMConfig | None = None
    internal: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    created: str = ""
    default_bridge: bool = False  # the `bridge` network: no embedded DNS, no aliases, no fixed IPs

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def user_defined(self) -> bool:
        return not self.predefined

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "driver": self.driver, "bridge": self.bridge,
            "ipam": self.ipam.to_json() if self.ipam else None, "internal": self.internal,
            "labels": dict(self.labels), "options": dict(self.options), "created": self.created,
            "default_bridge": self.default_bridge,
        }  # fmt: skip

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str = "network") -> Network:
        ipam = obj.get("ipam")
        return cls(
            id=_field(obj, "id", str, where),
            name=_field(obj, "name", str, where),
            driver=_field(obj, "driver", str, where),
            bridge=_field(obj, "bridge", str, where),
            ipam=IPAMConfig.from_json(ipam, f"{where}.ipam") if isinstance(ipam, dict) else None,
            internal=bool(obj.get("internal", False)),
            labels=_pairs(obj, "labels", where),
            options=_pairs(obj, "options", where),
            created=str(obj.get("created", "")),
            default_bridge=bool(obj.get("default_bridge", False)),
        )


class PortSpec(Model):
    """One parsed `-p` mapping: container port → host IP and host port range (0..0 means any free port)."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port_start: int = 0
    host_port_end: int = 0

    @property
    def key(self) -> str:
        """Docker's `80/tcp` form."""
        return f"{self.container_port}/{self.proto}"


class PortBinding(Model):
    """A published port as set up: host side resolved to one port, and the proxy process that serves it."""

    proto: str
    container_port: int
    host_ip: str
    host_port: int
    proxy_pid: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"proto": self.proto, "container_port": self.container_port, "host_ip": self.host_ip,
                "host_port": self.host_port, "proxy_pid": self.proxy_pid}  # fmt: skip

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str = "port") -> PortBinding:
        pid = obj.get("proxy_pid")
        return cls(
            proto=_field(obj, "proto", str, where),
            container_port=_field(obj, "container_port", int, where),
            host_ip=_field(obj, "host_ip", str, where),
            host_port=_field(obj, "host_port", int, where),
            proxy_pid=pid if isinstance(pid, int) else None,
        )


class Endpoint(Model):
    """A container's attachment to one network: its veth pair, address, DNS names and published ports."""

    container_id: str
    network_id: str
    network_name: str
    netns_path: str
    host_veth: str
    ifname: str
    ipv4: str
    prefixlen: int
    gateway: str
    mac: str
    names: tuple[str, ...] = ()  # DNS names: container name, short id, aliases (user-defined networks only)
    aliases: tuple[str, ...] = ()
    ports: tuple[PortBinding, ...] = field(default=())

    @property
    def ip_cidr(self) -> str:
        return f"{self.ipv4}/{self.prefixlen}"

    def to_json(self) -> dict[str, Any]:
        return {
            "container_id": self.container_id, "network_id": self.network_id, "network_name": self.network_name,
            "netns_path": self.netns_path, "host_veth": self.host_veth, "ifname": self.ifname, "ipv4": self.ipv4,
            "prefixlen": self.prefixlen, "gateway": self.gateway, "mac": self.mac, "names": list(self.names),
            "aliases": list(self.aliases), "ports": [p.to_json() for p in self.ports],
        }  # fmt: skip

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str = "endpoint") -> Endpoint:
        ports = obj.get("ports") or []
        names = obj.get("names") or []
        aliases = obj.get("aliases") or []
        if not isinstance(ports, list) or not isinstance(names, list) or not isinstance(aliases, list):
            raise InternalError(f"read network state `{where}`: ports, names and aliases must be lists")
        return cls(
            container_id=_field(obj, "container_id", str, where),
            network_id=_field(obj, "network_id", str, where),
            network_name=_field(obj, "network_name", str, where),
            netns_path=_field(obj, "netns_path", str, where),
            host_veth=_field(obj, "host_veth", str, where),
            ifname=_field(obj, "ifname", str, where),
            ipv4=_field(obj, "ipv4", str, where),
            prefixlen=_field(obj, "prefixlen", int, where),
            gateway=_field(obj, "gateway", str, where),
            mac=_field(obj, "mac", str, where),
            names=tuple(str(n) for n in names),
            aliases=tuple(str(a) for a in aliases),
            ports=tuple(PortBinding.from_json(p, f"{where}.ports[{i}]") for i, p in enumerate(ports)),
        )


class RecoveryReport(Model):
    """What `NetworkManager.recover` removed."""

    endpoints: tuple[str, ...] = ()  # `container/network` pairs torn down
    leases: tuple[str, ...] = ()  # `network/ip` leases released without an endpoint
    links: tuple[str, ...] = ()  # leaked host veths deleted
    rules: int = 0  # firewall rules swept
    processes: tuple[int, ...] = ()  # proxy and resolver processes ended
    namespaces: tuple[str, ...] = ()  # container ids whose namespace file was removed
