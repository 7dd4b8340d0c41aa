"""Networking end to end through the CLI: user-defined networks with names, published ports, modes, bad input,
and nothing left behind (links, namespace files, DOCKYARD iptables rules, IPAM leases).

Traffic goes only to loopback and to containers on networks these tests create; every name starts with `dyt`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from _harness import Dockyard, make_root

from dockyard.network import helpers, portmap, proxy
from privileged_gate import require

pytestmark = pytest.mark.privileged


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def _rules(tag: str) -> list[str]:
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if tag in line]


def _free_subnets(count: int) -> list[str]:
    from dockyard.network import ipam

    routes = ipam.host_routes()
    start = int.from_bytes(os.urandom(1), "big")
    found = []
    for i in range(256):
        net = IPv4Network(f"10.251.{(start + i) % 256}.0/24")
        if not ipam.overlaps(net, routes):
            found.append(str(net))
        if len(found) == count:
            return found
    pytest.fail("no free 10.251.x.0/24 subnets")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(os.geteuid() == 0, "needs root")
    for tool in ("ip", "iptables-save", "unshare"):
        require(shutil.which(tool) is not None, f"needs {tool}")
    return make_root(tmp_path_factory.mktemp("dyt-net"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    from dockyard.engine.networks import ContainerNetworks
    from dockyard.paths import Paths

    dy = Dockyard(image_root)
    yield dy
    for cid in dy("ps", "-aq", "--no-trunc").out.split():
        dy("rm", "-f", cid)
    networks = ContainerNetworks(Paths.from_env(str(image_root)), lambda ref: pytest.fail(ref))
    config, tag = networks.manager.config, networks.manager.tag
    # Only this data root's links: other suites may create and remove theirs meanwhile.
    mine = [
        config.default_bridge,
        config.veth_prefix + tag[:3],
        *(f"br-{n.id[:12]}" for n in networks.manager.networks()),
    ]
    dy("network", "prune", "-f")
    leases = [
        owner
        for path in (image_root / "network" / "ipam").glob("*.json")
        for owner in json.loads(path.read_text()).values()
        if re.fullmatch(r"[0-9a-f]{64}", owner)
    ]
    endpoints = list((image_root / "network" / "endpoints").rglob("*.json"))
    netns = list((image_root / "run" / "netns").glob("*")) if (image_root / "run" / "netns").exists() else []
    networks.manager.purge()  # the default bridge of this private data root goes too
    assert endpoints == [], "endpoints left behind"
    assert netns == [], "namespace files left behind"
    assert leases == [], "IPAM leases of containers left behind"
    assert [link for link in _links() if link.startswith(tuple(mine))] == [], "links left behind"
    assert _rules(tag) == [], "firewall rules left behind"


def _wait_http(url: str) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bytes(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_two_containers_reach_each_other_by_name(d: Dockyard) -> None:
    net = f"dyt{os.getpid()}a"
    (subnet,) = _free_subnets(1)
    d.ok("network", "create", "--subnet", subnet, net)
    d.ok(
        "run",
        "-d",
        "--name",
        f"{net}-srv",
        "--network",
        net,
        "--network-alias",
        "web",
        "busybox",
        "sh",
        "-c",
        "while true; do echo pong | nc -l -p 7000; done",
    )
    out = d.ok(
        "run",
        "--rm",
        "--network",
        net,
        "busybox",
        "sh",
        "-c",
        f"ping -c1 -W2 {net}-srv >/dev/null && echo ping-ok; nc {net}-srv 7000 </dev/null; sleep 0.3; "
        "nc web 7000 </dev/null",
    )
    assert out.split() == ["ping-ok", "pong", "pong"]
    doc = json.loads(d.ok("network", "inspect", net))[0]
    assert doc["Name"] == net and doc["IPAM"]["Config"][0]["Subnet"] == subnet
    assert [c["Name"] for c in doc["Containers"].values()] == [f"{net}-srv"]
    assert d.ok("network", "ls", "-q", "--filter", f"name={net}").strip() == doc["Id"][:12]


def test_published_port_answers_on_loopback_and_port_verb(d: Dockyard) -> None:
    port = _free_port()
    cid = d.ok(
        "run",
        "-d",
        "-p",
        f"{port}:80",
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo hello-dyt > /www/index.html && httpd -f -p 80 -h /www",
    ).strip()
    assert _wait_http(f"http://127.0.0.1:{port}/index.html") == b"hello-dyt\n"
    v6 = portmap.v6_listenable()  # Docker ≥ 20.10 binds `::` too when the host can listen on IPv6
    assert d.ok("port", cid).splitlines() == [f"80/tcp -> 0.0.0.0:{port}", *([f"80/tcp -> [::]:{port}"] * v6)]
    settings = json.loads(d.ok("inspect", cid))[0]["NetworkSettings"]
    assert settings["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(port)},
                                           *([{"HostIp": "::", "HostPort": str(port)}] * v6)]  # fmt: skip
    assert settings["IPAddress"] and settings["Networks"]["bridge"]["IPAddress"] == settings["IPAddress"]
    assert d.ok("ps", "--filter", f"id={cid}", "--format", "{{.Ports}} {{.Networks}}").strip() == (
        f"0.0.0.0:{port}->80/tcp{f', [::]:{port}->80/tcp' * v6} bridge"
    )


def _proxies_on(port: int) -> list[int]:
    return [pid for pid, args in helpers.find_helpers(proxy.MODULE) if str(port) in args]


def _banner(addr: str, port: int) -> bytes:
    """What the container's `nc -l` loop says first through the proxy on `addr`."""
    deadline = time.monotonic() + 10
    while True:
        with socket.create_connection((addr, port), timeout=5) as c:
            got = c.recv(64)
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)  # the proxy accepted while the container's nc was between two rounds


def test_published_ports_answer_on_ipv6_and_ipv4_loopback(d: Dockyard) -> None:
    require(portmap.v6_listenable(), "the host cannot listen on IPv6")
    net = f"dyt{os.getpid()}v6"
    (subnet,) = _free_subnets(1)
    d.ok("network", "create", "--subnet", subnet, net)
    tcp_port, udp_port, local_port = _free_port(), _free_port(), _free_port()
    # busybox's nc has no UDP: the udp mapping is checked by who holds the port (the relay: unit/network tests)
    serve = "while true; do echo tcp-pong | nc -l -p 7000; done & while true; do echo local-pong | nc -l -p 7002; done"
    cid = d.ok("run", "-d", "--network", net, "-p", f"{tcp_port}:7000", "-p", f"{udp_port}:7001/udp",
               "-p", f"127.0.0.1:{local_port}:7002", "busybox", "sh", "-c", serve).strip()  # fmt: skip
    assert _banner("::1", tcp_port) == _banner("127.0.0.1", tcp_port) == b"tcp-pong\n"
    assert _banner("127.0.0.1", local_port) == b"local-pong\n"
    assert not portmap.port_free("udp", "::", udp_port) and not portmap.port_free("udp", "0.0.0.0", udp_port)
    with pytest.raises(OSError):  # an address given: that one only, as Docker
        socket.create_connection(("::1", local_port), timeout=2).close()
    assert d.ok("port", cid).splitlines() == [
        f"7000/tcp -> 0.0.0.0:{tcp_port}", f"7000/tcp -> [::]:{tcp_port}", f"7001/udp -> 0.0.0.0:{udp_port}",
        f"7001/udp -> [::]:{udp_port}", f"7002/tcp -> 127.0.0.1:{local_port}"]  # fmt: skip
    assert d.ok("port", cid, "7001/udp").splitlines() == [f"0.0.0.0:{udp_port}", f"[::]:{udp_port}"]
    ports = json.loads(d.ok("inspect", cid))[0]["NetworkSettings"]["Ports"]
    assert ports == {
        "7000/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(tcp_port)}, {"HostIp": "::", "HostPort": str(tcp_port)}],
        "7001/udp": [{"HostIp": "0.0.0.0", "HostPort": str(udp_port)}, {"HostIp": "::", "HostPort": str(udp_port)}],
        "7002/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(local_port)}],
    }
    assert d.ok("ps", "--filter", f"id={cid}", "--format", "{{.Ports}}").strip() == (
        f"0.0.0.0:{tcp_port}->7000/tcp, [::]:{tcp_port}->7000/tcp, 0.0.0.0:{udp_port}->7001/udp, "
        f"[::]:{udp_port}->7001/udp, 127.0.0.1:{local_port}->7002/tcp"
    )
    assert len(_proxies_on(tcp_port) + _proxies_on(udp_port) + _proxies_on(local_port)) == 5
    # The same fixed ports again at `restart`, though the last run's connections sit in TIME_WAIT on them.
    d.ok("restart", "-t", "0", cid)
    assert _banner("::1", tcp_port) == _banner("127.0.0.1", tcp_port) == b"tcp-pong\n"
    assert len(_proxies_on(tcp_port) + _proxies_on(udp_port) + _proxies_on(local_port)) == 5
    d.ok("rm", "-f", cid)
    assert _proxies_on(tcp_port) + _proxies_on(udp_port) + _proxies_on(local_port) == []
    assert portmap.port_free("tcp", "::", tcp_port) and portmap.port_free("udp", "::", udp_port)


def test_random_host_port_is_the_same_on_both_families(d: Dockyard) -> None:
    require(portmap.v6_listenable(), "the host cannot listen on IPv6")
    cid = d.ok("run", "-d", "-p", "80", "busybox", "sleep", "30").strip()
    ports = json.loads(d.ok("inspect", cid))[0]["NetworkSettings"]["Ports"]["80/tcp"]
    assert [p["HostIp"] for p in ports] == ["0.0.0.0", "::"] and ports[0]["HostPort"] == ports[1]["HostPort"]


def test_publish_all_with_expose(d: Dockyard) -> None:
    cid = d.ok("run", "-d", "--expose", "8081", "-P", "busybox", "sleep", "30").strip()
    line = d.ok("port", cid).strip()
    assert line.startswith("8081/tcp -> 0.0.0.0:") and int(line.rpartition(":")[2]) > 0


def test_networks_are_isolated(d: Dockyard) -> None:
    a, b = f"dyt{os.getpid()}i1", f"dyt{os.getpid()}i2"
    s1, s2 = _free_subnets(2)
    d.ok("network", "create", "--subnet", s1, a)
    d.ok("network", "create", "--subnet", s2, b)
    cid = d.ok("run", "-d", "--network", a, "busybox", "sleep", "30").strip()
    ip = json.loads(d.ok("inspect", cid))[0]["NetworkSettings"]["Networks"][a]["IPAddress"]
    result = d("run", "--rm", "--network", b, "busybox", "ping", "-c1", "-W1", ip)
    assert result.code != 0


def test_connect_and_disconnect_while_running(d: Dockyard) -> None:
    net = f"dyt{os.getpid()}c"
    (subnet,) = _free_subnets(1)
    d.ok("network", "create", "--subnet", subnet, net)
    cid = d.ok("run", "-d", "--network", "none", "busybox", "sleep", "30").strip()
    assert "Error response from daemon: container cannot be connected" in d("network", "connect", net, cid).err
    cid = d.ok("run", "-d", "busybox", "sleep", "30").strip()
    d.ok("network", "connect", "--alias", "extra", net, cid)
    doc = json.loads(d.ok("network", "inspect", net))[0]
    assert cid in doc["Containers"]
    out = d.ok("run", "--rm", "--network", net, "busybox", "ping", "-c1", "-W2", "extra")
    assert "1 packets received" in out
    d.ok("network", "disconnect", net, cid)
    assert json.loads(d.ok("network", "inspect", net))[0]["Containers"] == {}


def test_host_none_and_container_modes(d: Dockyard) -> None:
    none = d.ok("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net").split()
    assert none == ["lo"]
    host = d.ok("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net").split()
    assert set(host) == set(os.listdir("/sys/class/net"))
    cid = d.ok("run", "-d", "busybox", "sleep", "30").strip()
    ip = json.loads(d.ok("inspect", cid))[0]["NetworkSettings"]["IPAddress"]
    shared = d.ok("run", "--rm", "--network", f"container:{cid}", "busybox", "ip", "-o", "-4", "addr")
    assert f"inet {ip}/" in shared


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("network", "create", "--subnet", "10.0.0.0/33", "NAME"), "invalid CIDR address: 10.0.0.0/33"),
        (("network", "create", "--subnet", "SUBNET", "--gateway", "192.0.2.1", "NAME"), "no matching subnet"),
        (("network", "connect", "dyt-missing-net", "busybox"), "network dyt-missing-net not found"),
        (("run", "--rm", "-p", "70000:80", "busybox", "true"), "invalid hostPort: 70000"),
        (("run", "--rm", "--network", "dyt-missing-net", "busybox", "true"), "network dyt-missing-net not found"),
    ],
)
def test_bad_input_gives_dockers_message(d: Dockyard, args: tuple[str, ...], message: str) -> None:
    (subnet,) = _free_subnets(1)
    name = f"dyt{os.getpid()}bad"
    args = tuple(subnet if a == "SUBNET" else name if a == "NAME" else a for a in args)
    result = d(*args)
    assert result.code != 0 and message in result.err, result
    assert name not in d.ok("network", "ls", "--format", "{{.Name}}")


def test_duplicate_name_and_overlap_leave_nothing(d: Dockyard) -> None:
    net = f"dyt{os.getpid()}dup"
    (subnet,) = _free_subnets(1)
    d.ok("network", "create", "--subnet", subnet, net)
    links = _links()
    dup = d("network", "create", net)
    assert dup.err.strip().endswith(f"Error response from daemon: network with name {net} already exists")
    overlap = d("network", "create", "--subnet", subnet, net + "2")
    assert "Pool overlaps with other one on this address space" in overlap.err
    assert _links() == links
    assert d.ok("network", "ls", "--format", "{{.Name}}").split().count(net) == 1


def test_host_port_in_use_fails_and_leaves_nothing(d: Dockyard) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        result = d("run", "-d", "-p", f"{port}:80", "busybox", "sleep", "30")
        assert result.code != 0 and f"Bind for 0.0.0.0:{port} failed: port is already allocated" in result.err
    with contextlib.suppress(Exception):
        for cid in d("ps", "-aq").out.split():
            d("rm", "-f", cid)


class _DnsResponder:
    """A one-name DNS server on a host loopback address (UDP 53): `name` → `ip`, NXDOMAIN for other names."""

    def __init__(self, name: str, ip: str) -> None:
        self.name, self.ip, self.asked = name, ip, []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for last in range(200, 250):
            with contextlib.suppress(OSError):
                self.sock.bind((f"127.0.0.{last}", 53))
                break
        else:
            pytest.fail("no free 127.0.0.x:53 for the test's DNS responder")
        self.address = self.sock.getsockname()[0]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                return
            labels, at = [], 12
            while query[at]:
                labels.append(query[at + 1 : at + 1 + query[at]].decode())
                at += 1 + query[at]
            qtype = int.from_bytes(query[at + 1 : at + 3], "big")
            question, name = query[12 : at + 5], ".".join(labels)
            self.asked.append(name)
            hit = name == self.name
            answer = b""
            if hit and qtype == 1:
                answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(self.ip)
            flags = b"\x81\x80" if hit else b"\x81\x83"
            header = query[:2] + flags + b"\x00\x01" + (b"\x00\x01" if answer else b"\x00\x00") + b"\x00\x00" * 2
            self.sock.sendto(header + question + answer, peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def responder() -> Iterator[_DnsResponder]:
    server = _DnsResponder("dyt-upstream.example", "192.0.2.77")
    yield server
    server.close()


def test_dns_flags_on_a_user_network_go_through_the_embedded_resolver(d: Dockyard, responder: _DnsResponder) -> None:
    net = f"dyt{os.getpid()}dns"
    (subnet,) = _free_subnets(1)
    d.ok("network", "create", "--subnet", subnet, net)
    flags = ("--dns", responder.address, "--dns-search", "dyt.test", "--dns-option", "timeout:2")
    out = d.ok("run", "--rm", "--network", net, *flags, "busybox", "sh", "-c",
               "cat /etc/resolv.conf; nslookup dyt-upstream.example")  # fmt: skip
    assert out.splitlines()[:3] == ["nameserver 127.0.0.11", "search dyt.test", "options ndots:0 timeout:2"]
    assert "192.0.2.77" in out, out
    assert "dyt-upstream.example" in responder.asked


def test_dns_flags_on_the_default_bridge_go_into_resolv_conf(d: Dockyard) -> None:
    out = d.ok("run", "--rm", "--dns", "192.0.2.53", "--dns-search", "dyt.test", "busybox", "cat", "/etc/resolv.conf")
    assert out.splitlines()[:2] == ["nameserver 192.0.2.53", "search dyt.test"]


def test_default_bridge_stays_up_after_its_last_container(d: Dockyard) -> None:
    d.ok("run", "--rm", "busybox", "true")
    bridge = json.loads(d.ok("network", "inspect", "bridge"))[0]["Options"]["com.docker.network.bridge.name"]
    assert bridge in _links()


_KILL_AFTER = """
import os, signal, sys
from dockyard.network import dns, endpoints
where = sys.argv.pop(1)
owner, name = (dns, "start_resolver") if where == "resolver" else (endpoints, "start_proxies")
real = getattr(owner, name)
def start_then_die(*args, **kw):
    real(*args, **kw)
    os.kill(os.getpid(), signal.SIGKILL)  # the engine dies between spawning a helper and recording it
setattr(owner, name, start_then_die)
from dockyard.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _census(root: Path, tag: str, prefix: str, subnet: str) -> dict[str, list[str]]:
    """What a container of this data root can leave: veths, namespace files, its rules (not its network's),
    leases, and helper processes (resolvers of this root, proxies towards the subnet)."""
    netns_dir = root / "run" / "netns"
    leases = [
        owner
        for path in (root / "network" / "ipam").glob("*.json")
        for owner in json.loads(path.read_text()).values()
        if re.fullmatch(r"[0-9a-f]{64}", owner)
    ]
    towards = "-container-ip " + subnet.rpartition(".")[0] + "."
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout.splitlines()
    return {
        "veths": sorted(link for link in _links() if link.startswith(prefix)),
        "netns": sorted(p.name for p in netns_dir.glob("*")) if netns_dir.is_dir() else [],
        "rules": [r for r in _rules(tag) if f"dockyard:{tag}:net-" not in r],
        "leases": leases,
        "helpers": [line for line in ps if str(root / "network") in line or towards in line],
    }


@pytest.mark.parametrize("point", ["proxy", "resolver"])
def test_recovery_after_kill_9_mid_setup_leaves_nothing(d: Dockyard, point: str) -> None:
    from dockyard.engine.networks import ContainerNetworks, recover_networks
    from dockyard.paths import Paths

    net = f"dyt{os.getpid()}k"
    (subnet,) = _free_subnets(1)
    d.ok("network", "create", "--subnet", subnet, net)
    paths = Paths.from_env(str(d.root))
    manager = ContainerNetworks(paths, lambda ref: pytest.fail(ref)).manager
    prefix = manager.config.veth_prefix + manager.tag[:3]
    argv = [sys.executable, "-c", _KILL_AFTER, point, "run", "-d", "--network", net, "-p", f"{_free_port()}:80",
            "busybox", "sleep", "30"]  # fmt: skip
    died = subprocess.run(argv, env=d.env, capture_output=True, text=True, timeout=60, check=False)
    assert died.returncode == -9, died
    before = _census(d.root, manager.tag, prefix, subnet)
    made = ("veths", "netns", "leases", "helpers") + (
        ("rules",) if point == "resolver" else ()
    )  # rules follow the proxy
    assert all(before[k] for k in made), before
    report = recover_networks(paths, live=())
    assert report.endpoints and report.namespaces and report.processes
    after = _census(d.root, manager.tag, prefix, subnet)
    assert after == {"veths": [], "netns": [], "rules": [], "leases": [], "helpers": []}


def test_run_rm_leaves_no_veth_behind(d: Dockyard) -> None:
    """The host veth of a --rm container is deleted after the removal is reported (its ~15 ms kernel wait is off
    the command's path), but deleted all the same: nothing with this root's prefix stays."""
    from dockyard.engine.networks import ContainerNetworks
    from dockyard.paths import Paths

    net = f"dyt{os.getpid()}v"
    (subnet,) = _free_subnets(1)
    d.ok("network", "create", "--subnet", subnet, net)
    manager = ContainerNetworks(Paths.from_env(str(d.root)), lambda ref: pytest.fail(ref)).manager
    prefix = manager.config.veth_prefix + manager.tag[:3]
    for network in ("bridge", net):
        d.ok("run", "--rm", "--network", network, "busybox", "true")
    deadline = time.monotonic() + 10  # an eventual condition, not a timing: the monitor deletes them as it exits
    while [link for link in _links() if link.startswith(prefix)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [link for link in _links() if link.startswith(prefix)] == []
    d.ok("network", "rm", net)
