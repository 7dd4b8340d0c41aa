"""NetworkManager validation and lookups that happen before any link or rule is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import Conflict, Forbidden, InvalidArgument, NotFound
from dockyard.network.firewall import Firewall
from dockyard.network.manager import ManagerConfig, NetworkManager
from dockyard.network.model import Endpoint, IPAMConfig, Network


def no_iptables(args: object) -> tuple[int, str]:
    raise AssertionError(f"iptables must not run here: {args}")


@pytest.fixture
def mgr(tmp_path: Path) -> NetworkManager:
    from ipaddress import IPv4Network

    config = ManagerConfig(state_dir=tmp_path / "state", firewall_lock=None)
    return NetworkManager(config, firewall=Firewall(run=no_iptables),
                          host_routes=lambda: [IPv4Network("172.17.0.0/16")])  # fmt: skip


def add_network(mgr: NetworkManager, net_id: str, name: str, subnet: str, **kw: object) -> Network:
    net = Network(id=net_id, name=name, bridge=f"br-{net_id[:12]}", created="2024",
                  ipam=IPAMConfig(subnet=subnet, gateway=subnet.replace("0/24", "1"), user_subnet=True), **kw)  # type: ignore[arg-type]  # fmt: skip
    mgr.store.save_network(net)
    return net


def test_predefined_networks_avoid_host_routes(mgr: NetworkManager) -> None:
    bridge = mgr.ensure_predefined()
    assert bridge.name == "bridge" and bridge.default_bridge and bridge.bridge == "dockyard0"
    assert bridge.ipam == IPAMConfig(subnet="172.18.0.0/16", gateway="172.18.0.1")
    assert sorted((n.name, n.driver) for n in mgr.networks()) == [("bridge", "bridge"), ("host", "host"),
                                                                   ("none", "null")]  # fmt: skip
    assert mgr.ensure_predefined() == bridge  # idempotent


def test_lookup_by_id_name_and_prefix(mgr: NetworkManager) -> None:
    a = add_network(mgr, "abc1" + "0" * 60, "front", "10.1.0.0/24")
    add_network(mgr, "abc2" + "0" * 60, "back", "10.2.0.0/24")
    assert mgr.get(a.id) == a
    assert mgr.get("front") == a
    assert mgr.get("abc1") == a
    with pytest.raises(NotFound, match=r"^network abc is ambiguous \(2 matches found based on ID prefix\)$"):
        mgr.get("abc")
    with pytest.raises(NotFound, match="^network nope not found$"):
        mgr.get("nope")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "bad name"}, InvalidArgument, "invalid network name 'bad name'"),
        ({"name": "n", "driver": "overlay"}, NotFound, 'plugin "overlay" not found'),
        ({"name": "n", "gateway": "10.0.0.1"}, InvalidArgument, "cannot specify a gateway or an IP range"),
        ({"name": "front"}, Conflict, "network with name front already exists"),
        ({"name": "n", "subnet": "10.1.0.0/16"}, Forbidden, "Pool overlaps with other one on this address space"),
        ({"name": "n", "subnet": "10.9.0.0/24", "gateway": "10.8.0.1"}, InvalidArgument,
         "no matching subnet for gateway 10.8.0.1"),
        ({"name": "n", "subnet": "10.9.0.0/24", "ip_range": "10.8.0.0/25"}, InvalidArgument,
         "no matching subnet for range 10.8.0.0/25"),
        ({"name": "n", "subnet": "10.9.0.0/24", "options": [("com.docker.network.bridge.name", "x" * 16)]},
         Conflict, "bridge name 'xxxxxxxxxxxxxxxx' is too long"),
    ],
)  # fmt: skip
def test_create_rejects(mgr: NetworkManager, kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    add_network(mgr, "f" * 64, "front", "10.1.0.0/24")
    with pytest.raises(error, match=message):
        mgr.create(**kwargs)  # type: ignore[arg-type]
    assert [n.name for n in mgr.networks()] == ["front"]


def test_predefined_cannot_be_removed(mgr: NetworkManager) -> None:
    mgr.ensure_predefined()
    for name in ("bridge", "host", "none"):
        with pytest.raises(Forbidden, match=f"^{name} is a pre-defined network and cannot be removed$"):
            mgr.remove(name)


def test_network_with_endpoints_cannot_be_removed(mgr: NetworkManager) -> None:
    net = add_network(mgr, "e" * 64, "front", "10.1.0.0/24")
    mgr.store.save_endpoint(Endpoint(container_id="c" * 64, network_id=net.id, network_name="front",
                                     netns_path="/x", host_veth="v", ifname="eth0", ipv4="10.1.0.2", prefixlen=24,
                                     gateway="10.1.0.1", mac="m"))  # fmt: skip
    with pytest.raises(Forbidden, match=f"^error while removing network: network front id {net.id} has active"):
        mgr.remove("front")
    assert mgr.prune() == ()


@pytest.mark.parametrize(
    ("network", "kwargs", "message"),
    [
        ("host", {}, "container cannot be disconnected from host network or connected to host network"),
        ("none", {}, "container cannot be disconnected from none network or connected to none network"),
        ("bridge", {"ip": "172.18.0.9"}, "user specified IP address is supported on user defined networks only"),
        ("bridge", {"aliases": ["x"]}, "network-scoped alias is supported only for containers in user defined"),
        ("auto", {"ip": "10.3.0.9"}, "user specified IP address is supported only when connecting to networks "
                                     "with user configured subnets"),
        ("front", {"ip": "not-an-ip"}, "invalid IP address: not-an-ip"),
        ("ghost", {}, "network ghost not found"),
    ],
)  # fmt: skip
def test_connect_rejects(mgr: NetworkManager, network: str, kwargs: dict[str, object], message: str) -> None:
    mgr.ensure_predefined()
    add_network(mgr, "f" * 64, "front", "10.1.0.0/24")
    auto = Network(id="a" * 64, name="auto", bridge="br-auto", created="2024",
                   ipam=IPAMConfig(subnet="10.3.0.0/24", gateway="10.3.0.1"))  # fmt: skip
    mgr.store.save_network(auto)
    with pytest.raises((InvalidArgument, Forbidden, NotFound), match=message):
        mgr.connect("c" * 64, "/proc/self/ns/net", network, **kwargs)  # type: ignore[arg-type]
    assert mgr.endpoints() == ()


def test_disconnect_unknown_endpoint(mgr: NetworkManager) -> None:
    add_network(mgr, "f" * 64, "front", "10.1.0.0/24")
    with pytest.raises(Conflict, match="^container cccccccccccc is not connected to network front$"):
        mgr.disconnect("c" * 64, "front")


@pytest.mark.parametrize("keep", [False, True])
def test_release_deletes_the_host_veth_now_or_hands_it_back(
    mgr: NetworkManager, monkeypatch: pytest.MonkeyPatch, keep: bool
) -> None:
    from dockyard.network import netlink

    deleted: list[str] = []
    monkeypatch.setattr(netlink, "delete_link", lambda name: deleted.append(name) or True)
    net = add_network(mgr, "e" * 64, "front", "10.1.0.0/24")
    mgr.store.save_endpoint(Endpoint(container_id="c" * 64, network_id=net.id, network_name="front",
                                     netns_path="/x", host_veth="dyv1", ifname="eth0", ipv4="10.1.0.2",
                                     prefixlen=24, gateway="10.1.0.1", mac="m"))  # fmt: skip
    left = mgr.release("c" * 64, keep_links=keep)
    assert mgr.endpoints("c" * 64) == ()  # the endpoint record goes either way
    assert (left, deleted) == ((("dyv1",), []) if keep else ((), ["dyv1"]))
    mgr.delete_links(left)
    assert deleted == ["dyv1"]


def test_networks_are_read_once_under_the_lock_and_again_after_a_change(mgr: NetworkManager, tmp_path: Path) -> None:
    mgr.ensure_predefined()
    outside = mgr.store.networks()
    (tmp_path / "state" / "networks" / f"{outside[0].id}.json").unlink()
    assert len(mgr.store.networks()) == 2  # no lock held: every call reads the files
    with mgr.store.lock():
        held = mgr.store.networks()
        add_network(mgr, "abc1" + "0" * 60, "front", "10.1.0.0/24")  # a save drops what was read
        assert sorted(n.name for n in mgr.store.networks()) == sorted([*(n.name for n in held), "front"])
        for path in (tmp_path / "state" / "networks").glob("*.json"):
            path.unlink()
        assert len(mgr.store.networks()) == 3  # nobody else may change them while the lock is held
    assert mgr.store.networks() == []


def test_ensure_predefined_repairs_a_missing_record(mgr: NetworkManager, tmp_path: Path) -> None:
    bridge = mgr.ensure_predefined()
    host = mgr.get("host")
    (tmp_path / "state" / "networks" / f"{host.id}.json").unlink()
    assert mgr.ensure_predefined() == bridge
    assert sorted(n.name for n in mgr.networks()) == ["bridge", "host", "none"]
    with pytest.raises(Forbidden, match="^container cannot be disconnected from host network or connected to host"):
        mgr.connect("c" * 64, "/nonexistent", "host")
