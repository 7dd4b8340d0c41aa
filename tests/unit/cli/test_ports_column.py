"""The PORTS column against docker CLI 28.2.2: every expected string below is what `docker ps --format
'{{.Ports}}'` printed for the same API `Ports` list (the real docker CLI, pointed at a stub API socket)."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.cli.containers_info import ports_text
from dockyard.cli.ports_column import displayable_ports


def tcp(private: int, public: int = 0, ip: str = "", proto: str = "tcp") -> dict[str, Any]:
    port: dict[str, Any] = {"PrivatePort": private, "Type": proto}
    if ip:
        port.update(IP=ip, PublicPort=public)
    return port


def udp(private: int, public: int = 0, ip: str = "") -> dict[str, Any]:
    return tcp(private, public, ip, "udp")


DOCKER_28 = [
    ([tcp(80)], "80/tcp"),
    ([tcp(80, 8080, "0.0.0.0"), tcp(80, 8080, "::")], "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"),
    ([tcp(8080, 8080, "0.0.0.0"), tcp(8080, 8080, "::")], "0.0.0.0:8080->8080/tcp, [::]:8080->8080/tcp"),
    (
        [tcp(8002, 8002, "0.0.0.0"), tcp(8000, 8000, "0.0.0.0"), tcp(8001, 8001, "0.0.0.0")],
        "0.0.0.0:8000-8002->8000-8002/tcp",
    ),
    ([udp(9000), udp(9001), tcp(9000), tcp(9002), udp(53)], "53/udp, 9000/tcp, 9000-9001/udp, 9002/tcp"),
    (
        [
            udp(53, 5353, "127.0.0.1"),
            tcp(53, 5353, "10.0.0.1"),
            tcp(443),
            tcp(6000, 6000, "0.0.0.0"),
            tcp(6001, 6001, "127.0.0.1"),
        ],  # fmt: skip
        "443/tcp, 0.0.0.0:6000->6000/tcp, 127.0.0.1:6001->6001/tcp, 10.0.0.1:5353->53/tcp, 127.0.0.1:5353->53/udp",
    ),
    (
        [tcp(7000, 7000, "0.0.0.0"), tcp(7001, 7001, "0.0.0.0"), tcp(7003, 7003, "0.0.0.0"), udp(7000)],
        "0.0.0.0:7000-7001->7000-7001/tcp, 7000/udp, 0.0.0.0:7003->7003/tcp",
    ),
]


@pytest.mark.parametrize(("ports", "expected"), DOCKER_28)
def test_matches_docker_cli(ports: list[dict[str, Any]], expected: str) -> None:
    assert displayable_ports(ports) == expected


def test_input_order_does_not_matter() -> None:
    for ports, expected in DOCKER_28:
        assert displayable_ports(list(reversed(ports))) == expected


def test_ps_row_uses_it() -> None:
    assert ports_text([tcp(81), tcp(80)]) == "80-81/tcp"
    assert ports_text([]) == ""


def test_missing_type_is_tcp() -> None:
    assert displayable_ports([{"PrivatePort": 80}]) == "80/tcp"
