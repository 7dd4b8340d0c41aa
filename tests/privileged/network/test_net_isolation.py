"""Isolation between networks and life under a FORWARD policy of DROP (what Debian's dockerd sets), tried in a
private "world" namespace the test creates: there it may turn on ip_forward and change the FORWARD policy
without touching the host's, and deleting the world removes every bridge and rule inside it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from net_helpers import FakeUpstream, busybox_in, sh  # type: ignore[import-not-found]

from dockyard.network import netlink
from dockyard.network.manager import ManagerConfig, NetworkManager

pytestmark = pytest.mark.privileged


@pytest.fixture
def world(tools: None, uid: str) -> Iterator[str]:
    """Move this (single-threaded) test process's main thread into a fresh network namespace, and back."""
    name = f"dyt{uid}w"
    sh("ip", "netns", "add", name)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        netlink.setns_path(f"/run/netns/{name}")
        try:
            sh("ip", "link", "set", "lo", "up")
            yield name
        finally:
            netlink.setns_path(f"/proc/self/fd/{home}")
    finally:
        os.close(home)
        sh("ip", "netns", "del", name, check=False)


def ping(netns_path: str, ip: str) -> bool:
    return busybox_in(netns_path, "ping", "-c1", "-W1", ip, check=False).returncode == 0


def test_networks_are_isolated_and_survive_forward_drop(world: str, netns: Callable[[str], str], uid: str,
                                                        upstream: FakeUpstream, tmp_path: Path) -> None:  # fmt: skip
    # why: a new netns inherits the host's ipv4 settings (net.core.devconf_inherit_init_net=0), and earlier tests
    # may have turned forwarding on in the host: start the world with it off
    sh("sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
    assert sh("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    config = ManagerConfig(state_dir=tmp_path / "net", default_bridge=f"dyt{uid}d", veth_prefix="dyt",
                           dns_upstreams=(upstream.address,), firewall_lock=tmp_path / "fw.lock")  # fmt: skip
    mgr = NetworkManager(config)
    try:
        one = mgr.create("one", subnet="10.250.1.0/24", options=[("com.docker.network.bridge.name", f"dyt{uid}1")])
        two = mgr.create("two", subnet="10.250.2.0/24", options=[("com.docker.network.bridge.name", f"dyt{uid}2")])
        inner = mgr.create("inner", subnet="10.250.3.0/24", internal=True,
                           options=[("com.docker.network.bridge.name", f"dyt{uid}3")])  # fmt: skip
        # A non-internal bridge turns forwarding on, as Docker does (here: inside the world only).
        assert sh("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        ns_a, ns_b, ns_c, ns_d = netns("a"), netns("b"), netns("c"), netns("d")
        a = mgr.connect("a" * 64, ns_a, one.name, name="a")
        b = mgr.connect("b" * 64, ns_b, one.name, name="b", ip="10.250.1.77")
        c = mgr.connect("c" * 64, ns_c, two.name, name="c")
        d = mgr.connect("d" * 64, ns_d, inner.name, name="d")
        assert b.ipv4 == "10.250.1.77"
        assert d.gateway == ""  # internal: no default route

        assert ping(ns_a, b.ipv4)
        assert not ping(ns_c, a.ipv4)
        assert not ping(ns_a, c.ipv4)
        # Control: with our isolation chain bypassed, the same packets are forwarded; so it is our rule that
        # blocks them, not the absence of routing.
        bypass = ["-t", "filter", "DOCKYARD-ISOLATION-1", "-j", "RETURN"]
        sh("iptables", "-w", bypass[0], bypass[1], "-I", *bypass[2:])
        try:
            assert ping(ns_c, a.ipv4)
        finally:
            sh("iptables", "-w", bypass[0], bypass[1], "-D", *bypass[2:])
        assert not ping(ns_c, a.ipv4)

        # What Debian's dockerd does to the host: our own ACCEPT rules keep bridges working.
        sh("iptables", "-w", "-P", "FORWARD", "DROP")
        assert ping(ns_a, b.ipv4)
        assert ping(ns_b, a.ipv4)
        assert not ping(ns_c, a.ipv4)
        assert ping(ns_d, "10.250.3.1")  # the internal network's gateway address is still the host's

        # A second network for `a`: a second interface, same namespace, DNS sees both networks' names.
        a2 = mgr.connect("a" * 64, ns_a, two.name, name="a")
        assert a2.ifname == "eth1"
        assert netlink.ns_link_names(ns_a) == ["eth0", "eth1", "lo"]
        assert ping(ns_a, c.ipv4)
        mgr.disconnect("a" * 64, two.name)
        assert netlink.ns_link_names(ns_a) == ["eth0", "lo"]
    finally:
        mgr.purge()
    assert netlink.link_names(f"dyt{uid}") == []
    assert "DOCKYARD" not in sh("iptables-save").stdout
    assert sorted(p.name for p in (tmp_path / "net" / "networks").iterdir()) == []
