"""GET /containers/json's Ports list, built from inspect's NetworkSettings.Ports map."""

from __future__ import annotations

from dockyard.api.containers_info import ports_list


def test_published_and_exposed_ports_become_list_entries() -> None:
    ports = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "8081"}],
        "90/udp": None,
        "bogus": None,
    }
    assert ports_list(ports) == [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8081, "Type": "tcp"},
        {"PrivatePort": 90, "Type": "udp"},
    ]


def test_no_ports_is_an_empty_list() -> None:
    assert ports_list({}) == []
