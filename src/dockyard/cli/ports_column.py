"""`docker ps`'s PORTS column as docker CLI 28's DisplayablePorts prints it, and `docker port`'s lines; pure
text, no client or engine."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_DIGITS = re.compile(r"(\d+)")


def _host_port(ip: str, port: str) -> str:
    """Go's net.JoinHostPort: an IPv6 address goes in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _group(key: tuple[str, str], first: int, last: int) -> str:
    ip, proto = key
    span = str(first) if first == last else f"{first}-{last}"
    return f"{_host_port(ip, span)}->{span}/{proto}" if ip else f"{span}/{proto}"


def displayable_ports(ports: Iterable[Mapping[str, Any]]) -> str:
    """`0.0.0.0:8000-8002->8000-8002/tcp, 53/udp, 127.0.0.1:5353->53/udp`: sorted by private port, IP (as text),
    public port, protocol; runs of consecutive ports with the same IP and protocol and public == private merge into
    a range; a mapping to another public port stands alone, after all the groups (docker's order, kept so)."""
    rows = sorted(
        (
            int(p.get("PrivatePort") or 0),
            str(p.get("IP") or ""),
            int(p.get("PublicPort") or 0),
            str(p.get("Type") or "tcp"),
        )
        for p in ports
    )
    groups: dict[tuple[str, str], list[int]] = {}  # insertion order is docker's groupMapKeys
    closed: list[str] = []
    mappings: list[str] = []
    for private, ip, public, proto in rows:
        if ip and public != private:
            mappings.append(f"{_host_port(ip, str(public))}->{private}/{proto}")
            continue
        key = (ip, proto)
        span = groups.get(key)
        if span is not None and private == span[1] + 1:
            span[1] = private
            continue
        if span is not None:
            closed.append(_group(key, *span))
        groups[key] = [private, private]
    return ", ".join([*closed, *(_group(k, *span) for k, span in groups.items()), *mappings])


def natural_key(text: str) -> tuple[str | int, ...]:
    """fvbommel/sortorder's NaturalLess as a sort key: runs of digits compare as numbers, the rest as text.

    re.split with a group alternates text and digits starting with text, so like positions hold like types."""
    return tuple(int(part) if i % 2 else part for i, part in enumerate(_DIGITS.split(text)))


def port_lines(ports: Mapping[str, Any], wanted: str | None = None) -> list[str]:
    """docker CLI 28's `port` output from inspect's NetworkSettings.Ports: `80/tcp -> [::]:8080` for every binding,
    or only `host:port` of the `wanted` key (`80/tcp`); Go's JoinHostPort brackets IPv6, lines sort naturally."""
    out = []
    for key, bindings in ports.items():
        if wanted is not None and key != wanted:
            continue
        for binding in bindings or ():
            address = _host_port(str(binding.get("HostIp") or ""), str(binding.get("HostPort") or ""))
            out.append(address if wanted is not None else f"{key} -> {address}")
    return sorted(out, key=natural_key)
