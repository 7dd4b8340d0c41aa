"""`-p` parsing against go-connections' nat.ParsePortSpec behaviour and wording, and host port choice."""

from __future__ import annotations

import pytest

from dockyard.errors import Conflict, InvalidArgument
from dockyard.network.model import PortSpec
from dockyard.network.portmap import (
    choose_host_port,
    parse_exposed,
    parse_port_range,
    parse_port_spec,
    parse_port_specs,
    publish_all,
)


def spec(port: int, proto: str = "tcp", ip: str = "", lo: int = 0, hi: int | None = None) -> PortSpec:
    return PortSpec(container_port=port, proto=proto, host_ip=ip, host_port_start=lo,
                    host_port_end=lo if hi is None else hi)  # fmt: skip


VALID = [
    ("80", [spec(80)]),
    ("80/tcp", [spec(80)]),
    ("80/udp", [spec(80, "udp")]),
    ("80/UDP", [spec(80, "udp")]),
    ("80/sctp", [spec(80, "sctp")]),
    ("80/", [spec(80)]),
    ("8080:80", [spec(80, lo=8080)]),
    ("8080:80/udp", [spec(80, "udp", lo=8080)]),
    (":80", [spec(80)]),
    ("127.0.0.1:8080:80", [spec(80, ip="127.0.0.1", lo=8080)]),
    ("127.0.0.1::80", [spec(80, ip="127.0.0.1")]),
    ("0.0.0.0:80:80/udp", [spec(80, "udp", ip="0.0.0.0", lo=80)]),
    ("[::1]:80:80", [spec(80, ip="::1", lo=80)]),
    ("[::]:8080:80", [spec(80, ip="::", lo=8080)]),
    ("::1:80:80", [spec(80, ip="::1", lo=80)]),
    ("8000-8002:80-82", [spec(80, lo=8000), spec(81, lo=8001), spec(82, lo=8002)]),
    ("80-81", [spec(80), spec(81)]),
    ("80-80", [spec(80)]),
    ("8000-8010:80", [spec(80, lo=8000, hi=8010)]),
    ("127.0.0.1:8000-8010:80", [spec(80, ip="127.0.0.1", lo=8000, hi=8010)]),
    ("0", [spec(0)]),
    ("65535:65535", [spec(65535, lo=65535)]),
    ("+80", [spec(80)]),
    ("1.2.3.4:1000-1001:2000-2001/udp", [spec(2000, "udp", "1.2.3.4", 1000), spec(2001, "udp", "1.2.3.4", 1001)]),
]


@pytest.mark.parametrize(("raw", "expected"), VALID)
def test_valid_specs(raw: str, expected: list[PortSpec]) -> None:
    assert list(parse_port_spec(raw)) == expected


INVALID = [
    ("", "no port specified: <empty>"),
    ("8080:", "no port specified: 8080:<empty>"),
    ("/udp", "no port specified: /udp<empty>"),
    ("80/foo", "invalid proto: foo"),
    ("80/udp/x", "invalid proto: udp/x"),
    ("x", "invalid containerPort: x"),
    ("8080:x", "invalid containerPort: x"),
    ("99999", "invalid containerPort: 99999"),
    ("-1", "invalid containerPort: -1"),
    ("80-", "invalid containerPort: 80-"),
    ("90-80", "invalid containerPort: 90-80"),
    ("8_0", "invalid containerPort: 8_0"),
    (" 80", "invalid containerPort:  80"),
    ("99999:80", "invalid hostPort: 99999"),
    ("x:80", "invalid hostPort: x"),
    ("9000-8000:80", "invalid hostPort: 9000-8000"),
    ("8000-8001:80-82", "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"),
    ("8000:80-82", "invalid ranges specified for container and host Ports: 80-82 and 8000"),
    ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("localhost:80:80", "invalid IP address: localhost"),
    ("[::1:80:80", "invalid IP address [::1: address [::1:: missing ']' in address"),
    ("fe80::1%eth0:80:80", "invalid IP address: fe80::1%eth0"),
]


@pytest.mark.parametrize(("raw", "message"), INVALID)
def test_invalid_specs(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_port_spec(raw)
    assert str(err.value) == message


def test_table_is_large_enough() -> None:
    assert len(VALID) + len(INVALID) >= 30


def test_parse_specs_flattens_in_order() -> None:
    assert [s.key for s in parse_port_specs(["80", "53/udp", "1-2"])] == ["80/tcp", "53/udp", "1/tcp", "2/tcp"]


def test_port_range_errors() -> None:
    assert parse_port_range("5-6") == (5, 6)
    for bad in ("", "6-5", "a", "1-2-3", "70000"):
        with pytest.raises(ValueError):
            parse_port_range(bad)


def test_exposed_and_publish_all() -> None:
    assert parse_exposed("8000-8001/udp") == ("8000/udp", "8001/udp")
    assert parse_exposed("80") == ("80/tcp",)
    with pytest.raises(InvalidArgument, match="invalid proto: icmp"):
        parse_exposed("80/icmp")
    with pytest.raises(InvalidArgument, match="invalid range format for --expose: x"):
        parse_exposed("x")
    assert publish_all(["80/tcp", "53/udp"]) == (spec(80), spec(53, "udp"))


def test_fixed_host_port_must_be_free() -> None:
    assert choose_host_port(spec(80, lo=8080), is_free=lambda *_: True) == 8080
    with pytest.raises(Conflict) as err:
        choose_host_port(spec(80, lo=8080), is_free=lambda *_: False)
    assert str(err.value) == "Bind for 0.0.0.0:8080 failed: port is already allocated"
    with pytest.raises(Conflict, match="Bind for 127.0.0.1:8080 failed"):
        choose_host_port(spec(80, ip="127.0.0.1", lo=8080), taken={8080}, is_free=lambda *_: True)


def test_random_host_port_skips_busy_ones() -> None:
    busy = set(range(40000, 40010)) - {40007}
    port = choose_host_port(spec(80), default_range=(40000, 40009), is_free=lambda _p, _i, port: port not in busy)
    assert port == 40007


def test_host_range_is_searched_and_can_be_exhausted() -> None:
    seen: list[tuple[str, str, int]] = []

    def free(proto: str, ip: str, port: int) -> bool:
        seen.append((proto, ip, port))
        return port == 8003

    assert choose_host_port(spec(80, "udp", "127.0.0.1", 8000, 8005), is_free=free) == 8003
    assert all(p == "udp" and i == "127.0.0.1" and 8000 <= port <= 8005 for p, i, port in seen)
    with pytest.raises(Conflict) as err:
        choose_host_port(spec(80, lo=8000, hi=8001), is_free=lambda *_: False)
    assert str(err.value) == "Bind for 0.0.0.0: all ports from 8000 to 8001 are allocated"
