"""Networking wiring without root: the spec's network namespace, the create body ↔ engine fields, the network and
NetworkSettings documents, the client's PortBindings, the `port` verb's output and lazy pyroute2."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from dockyard.api import networks as api
from dockyard.client.client import CreateOptions
from dockyard.engine import spec
from dockyard.engine.networks import NetworkSettings, mode_of, parse_expose, parse_publish
from dockyard.engine.records import ContainerConfig, ContainerRecord
from dockyard.errors import InvalidArgument
from dockyard.network.model import Endpoint, IPAMConfig, Network, PortBinding

NS = ["mount", "network", "uts", "pid", "ipc"]


def test_network_namespace_new_joined_or_host() -> None:
    new = spec.network_namespaces(NS, "")
    assert [(n.type, n.path) for n in new if n.type == "network"] == [("network", None)]
    joined = spec.network_namespaces(NS, "/run/dockyard/netns/abc")
    assert [(n.type, n.path) for n in joined if n.type == "network"] == [("network", "/run/dockyard/netns/abc")]
    host = spec.network_namespaces(NS, None)
    assert [n.type for n in host] == ["mount", "uts", "pid", "ipc"]


def test_mode_of_default_is_bridge() -> None:
    assert [mode_of(m) for m in ("", "default", "host", "my-net")] == ["bridge", "bridge", "host", "my-net"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("70000:80", "invalid hostPort: 70000"),
        ("8080:x", "invalid containerPort: x"),
        ("80/icmp", "invalid proto: icmp"),
    ],
)
def test_bad_publish_gives_dockers_message(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_publish([raw])


def test_expose_range() -> None:
    assert parse_expose(["8000-8001", "53/udp"]) == ("8000/tcp", "8001/tcp", "53/udp")


def test_client_builds_port_bindings_and_endpoint_config() -> None:
    body = CreateOptions(
        image="busybox",
        network="my-net",
        ip="10.1.0.5",
        network_aliases=("web",),
        publish=("127.0.0.1:8080:80", "53/udp"),
        expose=("90",),
        dns=("1.1.1.1",),
        extra_hosts=("h:10.0.0.1",),
    ).to_json()
    hc = body["HostConfig"]
    assert hc["NetworkMode"] == "my-net"
    assert hc["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "", "HostPort": ""}],
    }
    assert set(body["ExposedPorts"]) == {"90/tcp", "80/tcp", "53/udp"}
    assert body["NetworkingConfig"] == {
        "EndpointsConfig": {"my-net": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.1.0.5"}}}
    }
    assert CreateOptions(image="busybox").to_json()["HostConfig"]["NetworkMode"] == "default"


def test_create_body_round_trips_into_host_config() -> None:
    body = CreateOptions(
        image="busybox",
        network="my-net",
        ip="10.1.0.5",
        network_aliases=("web",),
        publish=("127.0.0.1:8080:80",),
        publish_all=True,
        dns_search=("x",),
    ).to_json()
    fields = api.host_config_fields(body, body["HostConfig"])
    assert fields["network_mode"] == "my-net"
    assert fields["port_bindings"] == ("127.0.0.1:8080:80/tcp",)
    assert parse_publish(fields["port_bindings"])[0].host_port_start == 8080
    assert (fields["network_ip"], fields["network_aliases"], fields["publish_all_ports"]) == (
        "10.1.0.5",
        ("web",),
        True,
    )
    assert fields["dns_search"] == ("x",)


def test_create_body_rejects_bad_types() -> None:
    with pytest.raises(InvalidArgument, match="invalid field `Dns`: expected an array of strings"):
        api.host_config_fields({}, {"Dns": "1.1.1.1"})
    with pytest.raises(InvalidArgument, match="invalid field `NetworkMode`: expected a string"):
        api.host_config_fields({}, {"NetworkMode": 3})


def _net(**kw: Any) -> Network:
    base: dict[str, Any] = dict(
        id="n" * 64,
        name="my-net",
        bridge="br-x",
        created="2026-01-01T00:00:00Z",
        ipam=IPAMConfig(subnet="10.1.0.0/24", gateway="10.1.0.1", ip_range="10.1.0.128/25"),
        labels=(("a", "b"),),
        options=(("com.docker.network.bridge.name", "br-x"),),
    )
    base.update(kw)
    return Network(**base)


def test_network_json_has_dockers_fields() -> None:
    doc = api.network_json(_net())
    assert list(doc) == [
        "Name",
        "Id",
        "Created",
        "Scope",
        "Driver",
        "EnableIPv6",
        "IPAM",
        "Internal",
        "Attachable",
        "Ingress",
        "ConfigFrom",
        "ConfigOnly",
        "Containers",
        "Options",
        "Labels",
    ]
    assert doc["IPAM"] == {
        "Driver": "default",
        "Options": {},
        "Config": [{"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1", "IPRange": "10.1.0.128/25"}],
    }
    assert (doc["Labels"], doc["Scope"], doc["Driver"]) == ({"a": "b"}, "local", "bridge")


def _record(exposed: tuple[str, ...] = ()) -> ContainerRecord:
    config = ContainerConfig(image="busybox", exposed_ports=exposed)
    return ContainerRecord(id="c" * 64, name="web", created="", image_id="sha256:x", path="sh", config=config)


def test_network_settings_on_the_default_bridge() -> None:
    bridge = _net(name="bridge", default_bridge=True)
    ep = Endpoint(
        container_id="c" * 64,
        network_id=bridge.id,
        network_name="bridge",
        netns_path="/x",
        host_veth="vdy1",
        ifname="eth0",
        ipv4="10.1.0.2",
        prefixlen=24,
        gateway="10.1.0.1",
        mac="02:42:0a:01:00:02",
        ports=(PortBinding(proto="tcp", container_port=80, host_ip="", host_port=8080),),
    )
    doc = api.network_settings_json(
        NetworkSettings(mode="bridge", endpoints=(ep,), networks=(bridge,)), _record(("80/tcp", "90/tcp"))
    )
    assert (doc["IPAddress"], doc["Gateway"], doc["IPPrefixLen"]) == ("10.1.0.2", "10.1.0.1", 24)
    assert doc["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "90/tcp": None}
    assert doc["Networks"]["bridge"]["MacAddress"] == "02:42:0a:01:00:02"
    assert doc["Networks"]["bridge"]["NetworkID"] == bridge.id


def test_network_settings_of_none_mode() -> None:
    doc = api.network_settings_json(NetworkSettings(mode="none"), _record())
    assert list(doc["Networks"]) == ["none"] and doc["IPAddress"] == "" and doc["Ports"] == {}


def test_importing_the_engine_networks_does_not_import_pyroute2() -> None:
    code = "import sys, dockyard.engine.containers, dockyard.api.networks; print('pyroute2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
