"""Helpers and fixtures for real bridge networking: test-owned namespaces, free 10.250.x.0/24 subnets, a manager
whose every name starts with `dyt`, a fake upstream DNS server on 127.0.0.1, and snapshots to prove nothing leaked."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from dockyard.network import dnsmsg as m
from dockyard.network import ipam
from dockyard.network.manager import ManagerConfig, NetworkManager

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
UPSTREAM_ANSWER = "10.77.0.1"  # what the fake upstream answers; only ever data, never a destination


def require(condition: bool, why: str) -> None:
    """Skip when a host feature is missing, or fail when CI requires privileged tests to run."""
    if condition:
        return
    if os.environ.get("DOCKYARD_REQUIRE_PRIVILEGED") == "1":
        pytest.fail(f"privileged test required (DOCKYARD_REQUIRE_PRIVILEGED=1) but {why}")
    pytest.skip(why)


def sh(*args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture
def tools() -> None:
    require(os.geteuid() == 0, "needs root")
    for tool in ("ip", "iptables", "iptables-save"):
        require(shutil.which(tool) is not None, f"needs {tool}")
    require(os.path.exists(BUSYBOX), "needs busybox")


@pytest.fixture
def uid() -> str:
    """A short per-test token so parallel runs never share a name."""
    return f"{os.getpid() % 10000:04d}{os.urandom(1).hex()}"


@pytest.fixture
def netns(tools: None, uid: str) -> Iterator[Callable[[str], str]]:
    """Factory: `netns("a")` creates namespace dyt<uid>a and returns its path; all deleted afterwards."""
    made: list[str] = []

    def make(suffix: str) -> str:
        name = f"dyt{uid}{suffix}"
        sh("ip", "netns", "add", name)
        made.append(name)
        return f"/run/netns/{name}"

    yield make
    for name in made:
        sh("ip", "netns", "del", name, check=False)
    left = set(sh("ip", "netns", "list").stdout.split()) & set(made)
    assert not left, f"namespaces left behind: {sorted(left)}"


@pytest.fixture
def free_subnets() -> Callable[[int], list[str]]:
    """`free_subnets(k)`: k subnets 10.250.n.0/24 overlapping no host route, starting at a random n."""

    def pick(count: int) -> list[str]:
        routes = ipam.host_routes()
        start = int.from_bytes(os.urandom(1), "big")
        found = []
        for i in range(256):
            net = IPv4Network(f"10.250.{(start + i) % 256}.0/24")
            if not ipam.overlaps(net, routes):
                found.append(str(net))
            if len(found) == count:
                return found
        pytest.fail("no free 10.250.x.0/24 subnets")

    return pick


class FakeUpstream:
    """UDP DNS server on 127.0.0.1 of the current namespace answering every A query with UPSTREAM_ANSWER.

    Its thread polls a stop flag and is joined before the socket closes: a thread left blocked on a closed
    socket would read whatever later socket reuses the descriptor number.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.names: list[str] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                data, client = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            request = m.decode(data)
            self.names.append(request.questions[0].name)
            answer = m.a_record(request.questions[0].name, UPSTREAM_ANSWER)
            self.sock.sendto(m.encode(m.response(request, (answer,))), client)

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    up = FakeUpstream()
    yield up
    up.stop()


@pytest.fixture
def manager(tools: None, uid: str, tmp_path: Path, upstream: FakeUpstream) -> Iterator[NetworkManager]:
    config = ManagerConfig(state_dir=tmp_path / "net", default_bridge=f"dyt{uid}d", veth_prefix="dyt",
                           dns_upstreams=(upstream.address,), ip_forward=False,
                           firewall_lock=tmp_path / "firewall.lock")  # fmt: skip
    mgr = NetworkManager(config)
    yield mgr
    with contextlib.suppress(Exception):
        mgr.purge()


@dataclass(frozen=True)
class Snapshot:
    links: frozenset[str]
    our_rules: tuple[str, ...]
    chains: frozenset[str]


def snapshot(*markers: str) -> Snapshot:
    """What a test could leak besides namespaces (the netns fixture checks those): dyt links, rules naming a
    marker, our chains."""
    links = frozenset(re.findall(r"^\d+: ([^:@]+)", sh("ip", "-o", "link").stdout, re.M))
    rules = sh("iptables-save").stdout.splitlines()
    ours = tuple(r for r in rules if any(mark in r for mark in markers))
    chains = frozenset(r.split()[0] for r in rules if r.startswith(":DOCKYARD"))
    return Snapshot(frozenset(n for n in links if n.startswith("dyt")), ours, chains)


def busybox_in(
    netns_path: str, *args: str, check: bool = True, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", Path(netns_path).name, BUSYBOX, *args, check=check, timeout=timeout)


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
