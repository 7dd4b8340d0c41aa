"""Published ports: `-p` spec parsing exactly as Docker's go-connections `nat.ParsePortSpec`, host port choice.

Parsing is pure and keeps Docker's error wording (`invalid containerPort: x`); choosing a free host port
probes with bind(2) on the host addresses. Like Docker ≥ 20.10, a mapping without a host IP binds 0.0.0.0 and
`::` when the host can listen on IPv6 (`host_addresses`). Nothing here installs NAT rules or starts proxies.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import random
import re
import socket
from collections.abc import Callable, Collection, Iterable, Sequence

from dockyard.errors import Conflict, InvalidArgument
from dockyard.network.model import PortSpec

PROTOCOLS = ("tcp", "udp", "sctp")
# The Linux default of net.ipv4.ip_local_port_range, Docker's fallback when it cannot read it.
EPHEMERAL_RANGE = (32768, 60999)

# Go's strconv.ParseInt(s, 10, 0) accepts an optional sign and ASCII digits only (no spaces, no underscores).
_GO_INT = re.compile(r"[+-]?[0-9]+")


def _port_number(raw: str) -> int:
    if not _GO_INT.fullmatch(raw):
        raise ValueError(raw)
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError(raw)
    return port


def parse_port_range(raw: str) -> tuple[int, int]:
    """`8000-8010` → (8000, 8010); `80` and `80-80` → (80, 80); ValueError otherwise."""
    if raw == "":
        raise ValueError("empty string specified for ports")
    start, sep, end = raw.partition("-")
    first = _port_number(start)
    if not sep or start == end:
        return first, first
    last = _port_number(end)
    if last < first:
        raise ValueError(f"invalid port range: {raw}")
    return first, last


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _parse_ip(ip: str) -> str:
    if ip.startswith("["):
        # Go's net.SplitHostPort(ip + ":") strips the brackets of an IPv6 literal.
        if not ip.endswith("]"):
            raise InvalidArgument(f"invalid IP address {ip}: address {ip}:: missing ']' in address")
        ip = ip[1:-1]
    if "%" in ip:
        raise InvalidArgument(f"invalid IP address: {ip}")
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError as err:
        raise InvalidArgument(f"invalid IP address: {ip}") from err


def parse_port_spec(raw: str) -> tuple[PortSpec, ...]:
    """One `-p` value → its mappings (a container port range yields one mapping per port)."""
    ip, host_port, container_part = _split_parts(raw)
    container_port, _, proto = container_part.partition("/")
    if container_port == "":
        raise InvalidArgument(f"no port specified: {raw}<empty>")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    if ip:
        ip = _parse_ip(ip)
    try:
        start, end = parse_port_range(container_port)
    except ValueError as err:
        raise InvalidArgument(f"invalid containerPort: {container_port}") from err
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except ValueError as err:
            raise InvalidArgument(f"invalid hostPort: {host_port}") from err
        # A host range is allowed against a single container port: it is the range to pick a free port from.
        if end - start != host_end - host_start and end != start:
            raise InvalidArgument(
                f"invalid ranges specified for container and host Ports: {container_port} and {host_port}"
            )
    count = end - start + 1
    specs = []
    for i in range(count):
        if not host_port:
            lo = hi = 0
        elif count == 1:
            lo, hi = host_start, host_end
        else:
            lo = hi = host_start + i
        specs.append(PortSpec(container_port=start + i, proto=proto, host_ip=ip, host_port_start=lo,
                              host_port_end=hi))  # fmt: skip
    return tuple(specs)


def parse_port_specs(raws: Iterable[str]) -> tuple[PortSpec, ...]:
    return tuple(spec for raw in raws for spec in parse_port_spec(raw))


def parse_exposed(raw: str) -> tuple[str, ...]:
    """An EXPOSE / --expose value (`80`, `80/udp`, `8000-8002`) → Docker port keys (`80/tcp`, …)."""
    port, _, proto = raw.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    try:
        start, end = parse_port_range(port)
    except ValueError as err:
        raise InvalidArgument(f"invalid range format for --expose: {raw}, error: {err}") from err
    return tuple(f"{p}/{proto}" for p in range(start, end + 1))


def publish_all(exposed: Iterable[str]) -> tuple[PortSpec, ...]:
    """`-P`: every exposed `port/proto` gets a random host port on every address."""
    specs = []
    for key in exposed:
        port, _, proto = key.partition("/")
        specs.append(PortSpec(container_port=int(port), proto=proto or "tcp"))
    return tuple(specs)


def ephemeral_range(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> tuple[int, int]:
    try:
        with open(path, encoding="ascii") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return EPHEMERAL_RANGE


IPV4_ANY, IPV6_ANY = "0.0.0.0", "::"
IF_INET6 = "/proc/net/if_inet6"


@functools.cache
def v6_listenable(if_inet6: str = IF_INET6) -> bool:
    """Whether this host can listen on IPv6: /proc/net/if_inet6 exists (no `ipv6.disable=1`) and [::1]:0 binds.

    moby's IsV6Listenable (libnetwork bridge/port_mapping.go, moby#42288) asks the same once per process."""
    if not os.path.exists(if_inet6):
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def host_addresses(host_ip: str, *, v6: bool) -> tuple[str, ...]:
    """The host addresses one mapping binds: its own IP, else 0.0.0.0 and, with `v6`, `::` too (Docker ≥ 20.10)."""
    if host_ip:
        return (host_ip,)
    return (IPV4_ANY, IPV6_ANY) if v6 else (IPV4_ANY,)


def port_free(proto: str, host_ip: str, port: int) -> bool:
    """Whether bind(2) on the host address and port succeeds right now (IPv6 addresses bound IPv6-only, as the
    proxy binds them, so a v4 listener on the port does not make `::` look taken)."""
    addr = host_ip or IPV4_ANY
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    try:
        with socket.socket(family, kind) as s:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if kind == socket.SOCK_STREAM:
                # why: as the proxy binds. Without it the TIME_WAIT connections of the last run's proxy (which
                # carry its SO_REUSEADDR) make a fixed port look taken at `restart`; a listener still refuses it
                # (Linux inet_csk_bind_conflict)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
    except OSError:
        return False
    return True


def bind_text(host_ip: str, port: int | str) -> str:
    """moby's `Bind for <ip>:<port>` object (fmt %s:%d, so `:::8080` for IPv6 as dockerd prints it)."""
    return f"{host_ip or IPV4_ANY}:{port}"


def choose_host_port(
    spec: PortSpec,
    *,
    addresses: Sequence[str] = (),
    taken: Collection[int] = (),
    is_free: Callable[[str, str, int], bool] = port_free,
    default_range: tuple[int, int] | None = None,
) -> int:
    """The host port for a spec on every one of `addresses` (default: the spec's host IP): the fixed one if free,
    else one free on all of them from its range or the ephemeral range (the v4 and v6 bindings share it)."""
    addrs = tuple(addresses) or (spec.host_ip or IPV4_ANY,)
    if spec.host_port_start and spec.host_port_start == spec.host_port_end:
        port = spec.host_port_start
        for addr in addrs:
            if port in taken or not is_free(spec.proto, addr, port):
                raise Conflict(f"Bind for {bind_text(addr, port)} failed: port is already allocated")
        return port
    lo, hi = (spec.host_port_start, spec.host_port_end) if spec.host_port_start else (
        default_range or ephemeral_range())  # fmt: skip
    count = hi - lo + 1
    # Start at a random offset so concurrent engines rarely race for the same port; bind decides anyway.
    offset = random.randrange(count)
    for i in range(count):
        port = lo + (offset + i) % count
        if port not in taken and all(is_free(spec.proto, addr, port) for addr in addrs):
            return port
    raise Conflict(f"Bind for {addrs[0]}: all ports from {lo} to {hi} are allocated")
