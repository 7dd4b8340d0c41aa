"""Network model JSON round-trips and the errors for corrupt state."""

from __future__ import annotations

import pytest

from dockyard.errors import InternalError
from dockyard.network.model import Endpoint, IPAMConfig, Network, PortBinding


def test_network_round_trip() -> None:
    net = Network(id="a" * 64, name="front", bridge="br-aaaaaaaaaaaa", internal=True, created="2024-01-01T00:00:00Z",
                  ipam=IPAMConfig(subnet="10.1.0.0/24", gateway="10.1.0.1", ip_range="10.1.0.128/25", user_subnet=True),
                  labels=(("a", "1"), ("b", "2")), options=(("com.docker.network.bridge.name", "x"),))  # fmt: skip
    assert Network.from_json(net.to_json()) == net
    assert net.user_defined and not net.predefined
    assert net.label("a") == "1" and net.label("z") is None
    assert Network(id="b", name="none", driver="null").predefined


def test_endpoint_round_trip() -> None:
    ep = Endpoint(container_id="c" * 64, network_id="n" * 64, network_name="front", netns_path="/proc/1/ns/net",
                  host_veth="vdyabc", ifname="eth0", ipv4="10.1.0.2", prefixlen=24, gateway="10.1.0.1",
                  mac="02:42:0a:01:00:02", names=("web", "cccccccccccc"), aliases=("www",),
                  ports=(PortBinding(proto="tcp", container_port=80, host_ip="0.0.0.0", host_port=8080, proxy_pid=7),
                         PortBinding(proto="udp", container_port=53, host_ip="127.0.0.1", host_port=5353)))  # fmt: skip
    assert Endpoint.from_json(ep.to_json()) == ep
    assert ep.ip_cidr == "10.1.0.2/24"


def test_corrupt_state_names_the_field() -> None:
    with pytest.raises(InternalError) as err:
        Network.from_json({"id": "x", "name": 5}, "networks/x.json")
    assert str(err.value) == "read network state `networks/x.json.name`: expected str"
    with pytest.raises(InternalError, match="expected an object of strings"):
        Network.from_json({"id": "x", "name": "n", "driver": "bridge", "bridge": "b", "labels": ["a"]})
