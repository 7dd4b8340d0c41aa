"""IPAM: subnet parsing and choice around host routes, allocation, exhaustion, the flock-locked lease file."""

from __future__ import annotations

import json
import multiprocessing
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from dockyard.errors import Conflict, Forbidden, InvalidArgument, Unavailable
from dockyard.network import ipam
from dockyard.network.ipam import DEFAULT_POOLS, LeaseStore, Pool

N = IPv4Network
A = IPv4Address

PROC_ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
wg0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FEFF\t0\t0\t0
broken line
"""


def test_proc_routes_skip_default_and_decode_little_endian() -> None:
    assert ipam.parse_proc_routes(PROC_ROUTE) == [N("192.0.2.0/24"), N("172.17.0.0/16"), N("172.18.0.0/15")]


def test_host_routes_of_missing_file_is_empty(tmp_path: Path) -> None:
    assert ipam.host_routes(str(tmp_path / "nope")) == []


def test_choose_subnet_skips_overlaps() -> None:
    assert ipam.choose_subnet(DEFAULT_POOLS, []) == N("172.17.0.0/16")
    routes = ipam.parse_proc_routes(PROC_ROUTE)  # 172.17/16 and 172.18/15 are taken
    assert ipam.choose_subnet(DEFAULT_POOLS, routes) == N("172.20.0.0/16")
    # A host address inside a /16 makes the whole /16 unusable.
    assert ipam.choose_subnet(DEFAULT_POOLS, [N("172.17.5.9/32")]) == N("172.18.0.0/16")


def test_choose_subnet_falls_through_to_192_168_slash_20() -> None:
    all_172 = [N("172.16.0.0/12")]
    assert ipam.choose_subnet(DEFAULT_POOLS, all_172) == N("192.168.0.0/20")
    assert ipam.choose_subnet(DEFAULT_POOLS, [*all_172, N("192.168.1.0/24")]) == N("192.168.16.0/20")


def test_choose_subnet_exhausted() -> None:
    with pytest.raises(Forbidden, match="could not find an available, non-overlapping IPv4 address pool"):
        ipam.choose_subnet([Pool(N("10.0.0.0/23"), 24)], [N("10.0.0.0/24"), N("10.0.1.0/25")])


def test_parse_subnet() -> None:
    assert ipam.parse_subnet("10.1.0.0/16") == N("10.1.0.0/16")
    cases = {
        "10.1.0.1/16": "invalid subnet 10.1.0.1/16: it should be 10.1.0.0/16",
        "nonsense": "invalid subnet nonsense: invalid CIDR address: nonsense",
        "10.1.0.0": "invalid subnet 10.1.0.0: invalid CIDR address: 10.1.0.0",
        "10.1.0.0/31": "invalid subnet 10.1.0.0/31: too small for a gateway and a container",
    }
    for raw, message in cases.items():
        with pytest.raises(InvalidArgument) as err:
            ipam.parse_subnet(raw)
        assert str(err.value) == message


def test_validate_pool() -> None:
    ipam.validate_pool(N("10.0.0.0/24"), A("10.0.0.254"), N("10.0.0.128/25"))
    with pytest.raises(InvalidArgument, match="no matching subnet for gateway 10.1.0.1"):
        ipam.validate_pool(N("10.0.0.0/24"), A("10.1.0.1"), None)
    with pytest.raises(InvalidArgument, match="no matching subnet for gateway 10.0.0.0"):
        ipam.validate_pool(N("10.0.0.0/24"), A("10.0.0.0"), None)
    with pytest.raises(InvalidArgument, match="no matching subnet for range 10.0.1.0/25"):
        ipam.validate_pool(N("10.0.0.0/24"), A("10.0.0.1"), N("10.0.1.0/25"))


def test_allocate_lowest_free_and_range() -> None:
    subnet, gw = N("10.0.0.0/24"), A("10.0.0.1")
    assert ipam.allocate(subnet, gw, []) == A("10.0.0.2")
    assert ipam.allocate(subnet, gw, [A("10.0.0.2"), A("10.0.0.4")]) == A("10.0.0.3")
    assert ipam.allocate(subnet, gw, [], ip_range=N("10.0.0.128/25")) == A("10.0.0.128")
    # A range that starts at the network address skips it; a gateway inside the range is skipped too.
    assert ipam.allocate(subnet, A("10.0.0.2"), [A("10.0.0.1")]) == A("10.0.0.3")


def test_allocate_preferred() -> None:
    subnet, gw = N("10.0.0.0/24"), A("10.0.0.1")
    assert ipam.allocate(subnet, gw, [], preferred=A("10.0.0.9")) == A("10.0.0.9")
    with pytest.raises(Conflict, match="address 10.0.0.9 already in use"):
        ipam.allocate(subnet, gw, [A("10.0.0.9")], preferred=A("10.0.0.9"))
    with pytest.raises(Conflict, match="address 10.0.0.1 already in use"):
        ipam.allocate(subnet, gw, [], preferred=A("10.0.0.1"))
    with pytest.raises(InvalidArgument, match="invalid address 10.0.1.9: it does not belong"):
        ipam.allocate(subnet, gw, [], preferred=A("10.0.1.9"))
    with pytest.raises(InvalidArgument, match="invalid address 10.0.0.255"):
        ipam.allocate(subnet, gw, [], preferred=A("10.0.0.255"))


def test_allocate_exhaustion() -> None:
    subnet, gw = N("10.0.0.0/29"), A("10.0.0.1")  # hosts .1–.6; .1 is the gateway
    taken = [A(f"10.0.0.{i}") for i in range(2, 7)]
    with pytest.raises(Unavailable) as err:
        ipam.allocate(subnet, gw, taken)
    assert str(err.value) == "no available IPv4 addresses on this network's address pools: 10.0.0.0/29"


def test_lease_store_persists_and_releases(tmp_path: Path) -> None:
    store = LeaseStore(tmp_path / "ipam")
    subnet, gw = N("10.9.0.0/24"), A("10.9.0.1")
    assert store.reserve("net1", "c1", subnet, gw) == A("10.9.0.2")
    assert store.reserve("net1", "c2", subnet, gw) == A("10.9.0.3")
    assert store.reserve("net1", "c1", subnet, gw) == A("10.9.0.2")  # one lease per owner and network
    again = LeaseStore(tmp_path / "ipam")
    assert again.leases("net1") == {"10.9.0.2": "c1", "10.9.0.3": "c2"}
    assert json.loads((tmp_path / "ipam" / "net1.json").read_text()) == {"10.9.0.2": "c1", "10.9.0.3": "c2"}
    assert again.release("net1", "c1") == ["10.9.0.2"]
    assert again.reserve("net1", "c3", subnet, gw) == A("10.9.0.2")
    assert again.networks() == ["net1"]
    with pytest.raises(Conflict, match="2 still held"):
        again.drop("net1")
    again.drop("net1", force=True)
    assert again.networks() == []
    assert list((tmp_path / "ipam").iterdir()) == []


def test_lease_store_exhaustion_keeps_file_unchanged(tmp_path: Path) -> None:
    store = LeaseStore(tmp_path)
    subnet, gw = N("10.9.0.0/30"), A("10.9.0.1")
    assert store.reserve("n", "a", subnet, gw) == A("10.9.0.2")
    with pytest.raises(Unavailable):
        store.reserve("n", "b", subnet, gw)
    assert store.leases("n") == {"10.9.0.2": "a"}


def test_lease_file_is_rewritten_in_place_and_padded_when_it_shrinks(tmp_path: Path) -> None:
    store = LeaseStore(tmp_path)
    subnet, gw = N("10.9.0.0/24"), A("10.9.0.1")
    store.reserve("n", "a", subnet, gw)
    inode = (tmp_path / "n.json").stat().st_ino
    store.reserve("n", "b", subnet, gw)
    grown = (tmp_path / "n.json").stat().st_size
    assert store.release("n", "b") == ["10.9.0.3"]
    text = (tmp_path / "n.json").read_text()
    # no rename over the file (ext4 flushes those at once) and no truncation: trailing spaces, valid JSON
    assert (tmp_path / "n.json").stat().st_ino == inode and len(text) == grown
    assert json.loads(text) == {"10.9.0.2": "a"} and text.endswith(" ")
    assert LeaseStore(tmp_path).leases("n") == {"10.9.0.2": "a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.json", "n.lock"]


def test_corrupt_lease_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "n.json").write_text("[1, 2")
    with pytest.raises(Exception, match=r"read leases `.*n.json`"):
        LeaseStore(tmp_path).leases("n")


def _reserve_many(directory: str, owner_prefix: str) -> None:
    store = LeaseStore(Path(directory))
    for i in range(20):
        store.reserve("n", f"{owner_prefix}{i}", N("10.8.0.0/24"), A("10.8.0.1"))


def test_concurrent_processes_never_share_an_address(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_reserve_many, args=(str(tmp_path), p)) for p in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    leases = LeaseStore(tmp_path).leases("n")
    assert len(leases) == 60
    assert len(set(leases.values())) == 60
