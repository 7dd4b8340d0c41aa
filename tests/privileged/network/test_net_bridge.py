"""A user-defined bridge network for real, in the host's namespace: two test namespaces ping each other, the
embedded DNS answers names and forwards the rest to a fake upstream on 127.0.0.1, a published port is reached
through the proxy (127.0.0.1) and through DNAT (the gateway address); afterwards nothing is left."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from net_helpers import FakeUpstream, busybox_in, process_alive, snapshot  # type: ignore[import-not-found]

from dockyard.network import dnsmsg as m
from dockyard.network import netlink
from dockyard.network.manager import NetworkManager
from dockyard.network.portmap import parse_port_spec, v6_listenable

pytestmark = pytest.mark.privileged


def dns_query(netns_path: str, name: str, qtype: int = m.TYPE_A) -> m.Message:
    """Ask 127.0.0.11 from inside the namespace (a socket opened there, used from here)."""
    with netlink.entered(netns_path):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(3)
        sock.sendto(m.query(0x3131, name, qtype), ("127.0.0.11", 53))
        return m.decode(sock.recv(4096))


def http_get(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=5) as resp:
        return str(resp.read().decode())


def serve_http(netns_path: str, root: Path, port: int = 8080) -> subprocess.Popen[bytes]:
    (root / "index.html").write_text("hello from the container\n")
    proc = subprocess.Popen(["ip", "netns", "exec", Path(netns_path).name, "/bin/busybox", "httpd", "-f", "-p",
                             str(port), "-h", str(root)])  # fmt: skip
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if f":{port} " in busybox_in(netns_path, "netstat", "-ltn").stdout:
            return proc
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("busybox httpd did not start")


def test_bridge_network_end_to_end(manager: NetworkManager, netns: Callable[[str], str], uid: str,
                                   free_subnets: Callable[[int], list[str]], upstream: FakeUpstream,
                                   tmp_path: Path) -> None:  # fmt: skip
    bridge = f"dyt{uid}b"
    before = snapshot(bridge, manager.tag)
    ns_a, ns_b = netns("a"), netns("b")
    (subnet,) = free_subnets(1)
    net = manager.create(f"dyt{uid}net", subnet=subnet, options=[("com.docker.network.bridge.name", bridge)])
    gateway = net.ipam.gateway if net.ipam else ""
    a = manager.connect("a" * 64, ns_a, net.name, name="web", aliases=["www"], ports=parse_port_spec("8080"))
    b = manager.connect("b" * 64, ns_b, net.name, name="client")
    assert (a.ifname, a.gateway, b.ifname) == ("eth0", gateway, "eth0")
    assert netlink.ns_link_names(ns_a) == ["eth0", "lo"]
    assert (
        f"default via {gateway} dev eth0"
        in subprocess.run(
            ["ip", "netns", "exec", Path(ns_a).name, "ip", "route"], capture_output=True, text=True, check=True
        ).stdout
    )

    # Ping by address, both ways.
    assert busybox_in(ns_b, "ping", "-c1", "-W2", a.ipv4).returncode == 0
    assert busybox_in(ns_a, "ping", "-c1", "-W2", b.ipv4).returncode == 0

    # Embedded DNS: names and aliases on the shared network; the rest forwarded to the host's (fake) resolver.
    for name in ("web", "www", f"web.{net.name}", "aaaaaaaaaaaa"):
        assert [m.record_text(r) for r in dns_query(ns_b, name).answers] == [a.ipv4], name
    assert [m.record_text(r) for r in dns_query(ns_a, "client").answers] == [b.ipv4]
    ptr = dns_query(ns_a, m.reverse_name(b.ipv4), m.TYPE_PTR)
    assert [m.record_text(r) for r in ptr.answers] == [f"client.{net.name}"]
    forwarded = dns_query(ns_b, "upstream.test")
    assert forwarded.id == 0x3131 and [m.record_text(r) for r in forwarded.answers] == ["10.77.0.1"]
    assert upstream.names == ["upstream.test"]
    lookup = busybox_in(ns_b, "nslookup", "web", "127.0.0.11")
    assert a.ipv4 in lookup.stdout

    # The container files follow the network kind.
    files = manager.write_container_files("b" * 64, tmp_path / "files-b", hostname="client")
    assert files.resolv_conf.read_text().startswith("nameserver 127.0.0.11\n")
    assert files.hosts.read_text().endswith(f"{b.ipv4}\tclient\n")

    # Published port: 127.0.0.1 through the proxy, the gateway address through DNAT.
    binding, *v6 = a.ports  # and, when the host listens on IPv6, the same port on `::` (Docker ≥ 20.10)
    assert binding.proto == "tcp" and binding.container_port == 8080 and binding.host_ip == "0.0.0.0"
    assert [(b.host_ip, b.host_port, b.container_port) for b in v6] == [("::", binding.host_port, 8080)] * (
        v6_listenable()
    )
    server = serve_http(ns_a, tmp_path)
    try:
        assert http_get("127.0.0.1", binding.host_port) == "hello from the container\n"
        assert binding.proxy_pid is not None and process_alive(binding.proxy_pid)
        # From the bridge (another container, and the container itself: hairpin) the proxy serves. (No `-T`:
        # busybox-static 1.35's wget crashes with it.)
        for ns in (ns_b, ns_a):
            got = busybox_in(ns, "wget", "-q", "-O", "-", f"http://{gateway}:{binding.host_port}/index.html")
            assert got.stdout == "hello from the container\n"
        # Without the proxy, loopback has no way in, while DNAT still serves the gateway address.
        subprocess.run(["kill", str(binding.proxy_pid)], check=True)
        deadline = time.monotonic() + 5
        while process_alive(binding.proxy_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert http_get(gateway, binding.host_port) == "hello from the container\n"
        with pytest.raises(OSError):
            http_get("127.0.0.1", binding.host_port)
    finally:
        server.kill()
        server.wait()

    resolver = manager.store.resolver_pid("a" * 64)
    assert resolver is not None and process_alive(resolver)
    manager.disconnect("a" * 64, net.name)
    assert not process_alive(resolver)
    # The record went away: the name is forwarded now, and the fake upstream answers every name.
    reply = dns_query(ns_b, "web")
    assert [m.record_text(r) for r in reply.answers] == ["10.77.0.1"], (reply, upstream.names)
    assert upstream.names[-1] == "web"
    manager.release("b" * 64)
    manager.remove(net.name)
    assert manager.store.leases.networks() == []
    assert snapshot(bridge, manager.tag) == before


def test_default_bridge_has_no_embedded_dns(manager: NetworkManager, netns: Callable[[str], str],
                                            uid: str, free_subnets: Callable[[int], list[str]],
                                            tmp_path: Path) -> None:  # fmt: skip
    (subnet,) = free_subnets(1)
    manager = NetworkManager(type(manager.config)(**{**_fields(manager), "default_subnet": subnet}))
    try:
        ns_c, ns_d = netns("c"), netns("d")
        c = manager.connect("c" * 64, ns_c, "bridge", name="cee")
        d = manager.connect("d" * 64, ns_d, "bridge", name="dee")
        assert c.names == () and manager.store.resolver_pid("c" * 64) is None
        assert busybox_in(ns_d, "ping", "-c1", "-W2", c.ipv4).returncode == 0
        files = manager.write_container_files("d" * 64, tmp_path / "files-d", hostname="dee")
        assert "127.0.0.11" not in files.resolv_conf.read_text()
        assert files.hosts.read_text().endswith(f"{d.ipv4}\tdee\n")
        assert netlink.link_names(f"dyt{uid}d") == [f"dyt{uid}d"]
    finally:
        manager.purge()
    assert netlink.link_names(f"dyt{uid}d") == []


def _fields(mgr: NetworkManager) -> dict[str, object]:
    cfg = mgr.config
    return {name: getattr(cfg, name) for name in cfg.__dataclass_fields__}


def test_recover_removes_what_a_crash_left(manager: NetworkManager, netns: Callable[[str], str], uid: str,
                                          free_subnets: Callable[[int], list[str]]) -> None:  # fmt: skip
    bridge = f"dyt{uid}r"
    before = snapshot(bridge, manager.tag)
    (subnet,) = free_subnets(1)
    net = manager.create(f"dyt{uid}rec", subnet=subnet, options=[("com.docker.network.bridge.name", bridge)])
    ns_e = netns("e")
    e = manager.connect("e" * 64, ns_e, net.name, name="e", ports=parse_port_spec("127.0.0.1::9"))
    keep = manager.connect("f" * 64, netns("f"), net.name, name="f")
    resolver = manager.store.resolver_pid("e" * 64)
    proxy = e.ports[0].proxy_pid
    assert resolver and proxy and process_alive(resolver) and process_alive(proxy)

    report = manager.recover(lambda cid: cid == "f" * 64)
    assert report.endpoints == (f"{'e' * 12}/{net.name}",)
    assert proxy in report.processes
    assert not process_alive(proxy) and not process_alive(resolver)
    assert netlink.link_names(e.host_veth) == []
    assert netlink.link_names(keep.host_veth) == [keep.host_veth]
    assert manager.store.leases.leases(net.id) == {keep.ipv4: "f" * 64}
    assert manager.endpoints() == (keep,)
    # Nothing else to do on a second pass.
    assert manager.recover(lambda cid: cid == "f" * 64).endpoints == ()

    manager.release("f" * 64)
    manager.remove(net.name)
    assert snapshot(bridge, manager.tag) == before


def test_proc_pid_namespace_and_resolver_lifetime(manager: NetworkManager, uid: str,
                                                  free_subnets: Callable[[int], list[str]]) -> None:  # fmt: skip
    """The engine's usual case: the namespace is /proc/<init>/ns/net; when init dies the resolver follows."""
    (subnet,) = free_subnets(1)
    net = manager.create(f"dyt{uid}p", subnet=subnet, options=[("com.docker.network.bridge.name", f"dyt{uid}p")])
    init = subprocess.Popen(["unshare", "--net", "/bin/busybox", "sleep", "60"])
    try:
        path = f"/proc/{init.pid}/ns/net"
        deadline = time.monotonic() + 5
        while os.readlink(path) == os.readlink("/proc/self/ns/net") and time.monotonic() < deadline:
            time.sleep(0.01)
        manager.setup_loopback(path)
        ep = manager.connect("9" * 64, path, net.name, name="nine")
        resolver = manager.store.resolver_pid("9" * 64)
        assert resolver is not None and process_alive(resolver)
        assert [m.record_text(r) for r in dns_query(path, "nine").answers] == [ep.ipv4]
    finally:
        init.kill()
        init.wait()
    deadline = time.monotonic() + 5
    while process_alive(resolver) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not process_alive(resolver)
    manager.release("9" * 64)  # the veth died with the namespace: release still clears the rest
    assert manager.endpoints() == () and manager.store.leases.leases(net.id) == {}
    assert netlink.link_names(ep.host_veth) == []
    manager.remove(net.name)
