"""Published ports on IPv6 as Docker ≥ 20.10 binds them: the address plan, the shared host port, the bindings an
endpoint records (proxies faked), the IPv6-only proxy socket and `docker port`'s lines. Loopback only."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from dockyard.cli.ports_column import natural_key, port_lines
from dockyard.errors import Conflict
from dockyard.network import endpoints, portmap, proxy
from dockyard.network.endpoints import EndpointOps
from dockyard.network.firewall import Firewall
from dockyard.network.helpers import HelperFailed
from dockyard.network.manager import ManagerConfig
from dockyard.network.model import Endpoint, IPAMConfig, Network, PortBinding, PortSpec
from dockyard.network.store import StateStore
from privileged_gate import require


def test_host_addresses_follow_docker() -> None:
    assert portmap.host_addresses("", v6=True) == ("0.0.0.0", "::")
    assert portmap.host_addresses("", v6=False) == ("0.0.0.0",)
    assert portmap.host_addresses("127.0.0.1", v6=True) == ("127.0.0.1",)
    assert portmap.host_addresses("::1", v6=False) == ("::1",)


def test_no_if_inet6_means_no_v6(tmp_path: Path) -> None:
    assert portmap.v6_listenable(str(tmp_path / "if_inet6")) is False


def test_random_port_is_shared_by_both_families() -> None:
    seen: list[tuple[str, int]] = []

    def free(_proto: str, ip: str, port: int) -> bool:
        seen.append((ip, port))
        return not (ip == "::" and port == 40003)  # 40003 is free on v4 only: skipped for both

    spec = PortSpec(container_port=80)
    port = portmap.choose_host_port(spec, addresses=("0.0.0.0", "::"), default_range=(40003, 40004), is_free=free)
    assert port == 40004
    assert ("0.0.0.0", 40004) in seen and ("::", 40004) in seen


def test_fixed_port_taken_on_v6_names_dockerds_address() -> None:
    spec = PortSpec(container_port=80, host_port_start=8080, host_port_end=8080)
    with pytest.raises(Conflict) as err:
        portmap.choose_host_port(spec, addresses=("0.0.0.0", "::"), is_free=lambda _p, ip, _port: ip != "::")
    assert str(err.value) == "Bind for :::8080 failed: port is already allocated"


def _ops(tmp_path: Path, *, userland_proxy: bool = True) -> tuple[EndpointOps, Network, Endpoint]:
    config = ManagerConfig(state_dir=tmp_path / "state", firewall_lock=None, userland_proxy=userland_proxy)
    ops = EndpointOps(StateStore(config.state_dir), Firewall(run=lambda a: (0, "")), config, "abcdef")
    net = Network(id="n" * 64, name="front", bridge="br-test", ipam=IPAMConfig(subnet="10.9.0.0/24",
                  gateway="10.9.0.1"))  # fmt: skip
    ep = Endpoint(container_id="c" * 64, network_id=net.id, network_name="front", netns_path="/proc/1/ns/net",
                  host_veth="vdytest", ifname="eth0", ipv4="10.9.0.2", prefixlen=24, gateway="10.9.0.1",
                  mac="02:42:0a:09:00:02")  # fmt: skip
    return ops, net, ep


def _fake_proxies(monkeypatch: pytest.MonkeyPatch, *, v6: bool, unavailable: bool = False) -> list[tuple[Any, ...]]:
    started: list[tuple[Any, ...]] = []

    def start(proto: str, host_ips: Sequence[str], host_port: int, container_ip: str,
              container_port: int) -> list[int | HelperFailed]:  # fmt: skip
        out: list[int | HelperFailed] = []
        for host_ip in host_ips:
            if unavailable and ":" in host_ip:
                reason = f"start proxy for [{host_ip}]:{host_port}/{proto}: [Errno 97] nope"
                out.append(proxy.AddressUnavailable(reason))
                continue
            started.append((proto, host_ip, host_port, container_ip, container_port))
            out.append(1000 + len(started))
        return out

    monkeypatch.setattr(endpoints, "start_proxies", start)
    monkeypatch.setattr(portmap, "v6_listenable", lambda: v6)
    return started


def _specs() -> tuple[PortSpec, ...]:
    return (
        PortSpec(container_port=80),
        PortSpec(container_port=53, proto="udp"),
        PortSpec(container_port=81, host_ip="127.0.0.1"),
    )


def test_publish_binds_v4_and_v6_with_one_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = _fake_proxies(monkeypatch, v6=True)
    ops, net, ep = _ops(tmp_path)
    ep = ops._publish(net, ep, _specs())
    rows = [(b.proto, b.container_port, b.host_ip) for b in ep.ports]
    assert rows == [("tcp", 80, "0.0.0.0"), ("tcp", 80, "::"), ("udp", 53, "0.0.0.0"), ("udp", 53, "::"),
                    ("tcp", 81, "127.0.0.1")]  # fmt: skip
    by_key: dict[tuple[str, int], set[int]] = {}
    for b in ep.ports:
        by_key.setdefault((b.proto, b.container_port), set()).add(b.host_port)
    assert all(len(ports) == 1 for ports in by_key.values()), by_key  # the same host port on both families
    assert [s[1] for s in started] == ["0.0.0.0", "::", "0.0.0.0", "::", "127.0.0.1"]
    assert all(s[3] == "10.9.0.2" for s in started)  # `::` is proxied to the container's IPv4, as Docker does
    assert [b.proxy_pid for b in ep.ports] == [1001, 1002, 1003, 1004, 1005]
    assert ops.store.endpoints(ep.container_id)[0].ports == ep.ports  # recorded, so teardown stops all five


def test_publish_without_v6_keeps_docker_v4_only_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_proxies(monkeypatch, v6=False)
    ops, net, ep = _ops(tmp_path)
    assert [b.host_ip for b in ops._publish(net, ep, _specs()).ports] == ["0.0.0.0", "0.0.0.0", "127.0.0.1"]


def test_publish_drops_an_implicit_v6_the_host_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_proxies(monkeypatch, v6=True, unavailable=True)
    ops, net, ep = _ops(tmp_path)
    assert [b.host_ip for b in ops._publish(net, ep, _specs()[:1]).ports] == ["0.0.0.0"]
    with pytest.raises(Conflict, match=r"start proxy for \[::1\]:\d+/tcp: \[Errno 97\] nope"):
        ops._publish(net, ep, (PortSpec(container_port=80, host_ip="::1"),))  # asked for explicitly: an error


def test_publish_without_userland_proxy_binds_v4_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = _fake_proxies(monkeypatch, v6=True)
    ops, net, ep = _ops(tmp_path, userland_proxy=False)
    ports = ops._publish(net, ep, _specs()[:1]).ports
    assert [(b.host_ip, b.proxy_pid) for b in ports] == [("0.0.0.0", None)] and started == []


@pytest.mark.privileged
def test_v6_proxy_is_v6_only_beside_a_v4_listener() -> None:
    require(portmap.v6_listenable(), "this host cannot listen on IPv6")
    with socket.socket() as v4, socket.socket() as backend:
        v4.bind(("0.0.0.0", 0))  # what the 0.0.0.0 proxy of the same mapping holds
        v4.listen(1)
        port = v4.getsockname()[1]
        backend.bind(("127.0.0.1", 0))
        backend.listen(1)
        pid = proxy.start_proxy("tcp", "::", port, "127.0.0.1", backend.getsockname()[1])
        try:
            with socket.create_connection(("::1", port), timeout=5) as client:
                conn, _ = backend.accept()
                with conn:
                    client.sendall(b"over-v6")
                    assert conn.recv(16) == b"over-v6"
        finally:
            assert proxy.stop_proxy(pid) is True


def test_proxy_on_a_foreign_v6_address_is_unavailable() -> None:
    with pytest.raises(proxy.AddressUnavailable, match=r"start proxy for \[2001:db8::1\]:9/tcp: \[Errno 9\d\]"):
        proxy.start_proxy("tcp", "2001:db8::1", 9, "127.0.0.1", 9)


def test_port_lines_bracket_v6_and_sort_naturally() -> None:
    ports = {
        "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9"}],
        "80/tcp": [{"HostIp": "::", "HostPort": "18080"}, {"HostIp": "0.0.0.0", "HostPort": "18080"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "90/tcp": None,
    }
    assert port_lines(ports) == ["53/udp -> 127.0.0.1:5353", "80/tcp -> 0.0.0.0:18080", "80/tcp -> [::]:18080",
                                 "8080/tcp -> 0.0.0.0:9"]  # fmt: skip
    assert port_lines(ports, "80/tcp") == ["0.0.0.0:18080", "[::]:18080"]
    assert port_lines(ports, "90/tcp") == [] and port_lines(ports, "81/tcp") == []
    assert sorted(["a10", "a9", "a09b"], key=natural_key) == ["a9", "a09b", "a10"]


def test_binding_records_round_trip_v6() -> None:
    binding = PortBinding(proto="udp", container_port=53, host_ip="::", host_port=5353, proxy_pid=9)
    assert PortBinding.from_json(binding.to_json()) == binding


def test_port_free_sees_listeners_but_not_time_wait() -> None:
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the proxy's listener (its TIME_WAITs too)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        assert portmap.port_free("tcp", "127.0.0.1", port) is False
        with socket.create_connection(("127.0.0.1", port)) as client:
            conn, _ = srv.accept()
            conn.close()  # the server side closes first: its end of the connection stays in TIME_WAIT
            client.recv(1)
    assert portmap.port_free("tcp", "127.0.0.1", port) is True


def test_a_failed_v6_proxy_leaves_the_v4_one_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def start(proto: str, host_ips: Sequence[str], host_port: int, *_: Any) -> list[int | HelperFailed]:
        return [77, HelperFailed(f"start proxy for [::]:{host_port}/{proto}: [Errno 98] Address already in use")]

    monkeypatch.setattr(endpoints, "start_proxies", start)
    monkeypatch.setattr(portmap, "v6_listenable", lambda: True)
    ops, net, ep = _ops(tmp_path)
    with pytest.raises(Conflict, match=r"start proxy for \[::\]:\d+/tcp: \[Errno 98\] Address already in use"):
        ops._publish(net, ep, (PortSpec(container_port=80),))
    (saved,) = ops.store.endpoints(ep.container_id)  # recorded, so the failed connect's teardown stops it
    assert [(b.host_ip, b.proxy_pid) for b in saved.ports] == [("0.0.0.0", 77)]


def test_start_proxies_runs_one_per_address() -> None:
    with socket.socket() as backend:
        backend.bind(("127.0.0.1", 0))
        backend.listen(2)
        port = portmap.choose_host_port(PortSpec(container_port=1), addresses=("127.0.0.1", "::1"))
        results = proxy.start_proxies("tcp", ("127.0.0.1", "::1", "127.0.0.1"), port, "127.0.0.1",
                                      backend.getsockname()[1])  # fmt: skip
        pids = [r for r in results if isinstance(r, int)]
        try:
            # The two 127.0.0.1 proxies start side by side: whichever binds second finds the port taken.
            (lost,) = [r for r in results if isinstance(r, HelperFailed)]
            assert len(pids) == 2 and isinstance(results[1], int) and results.index(lost) in (0, 2)
            assert str(lost) == f"start proxy for 127.0.0.1:{port}/tcp: [Errno 98] Address already in use"
            for addr in ("127.0.0.1", "::1"):
                with socket.create_connection((addr, port), timeout=5):
                    backend.accept()[0].close()
        finally:
            for pid in pids:
                assert proxy.stop_proxy(pid) is True
