"""NetworkManager: bridge networks (create/list/inspect/remove/prune) and container endpoints (connect,
disconnect, release, recover), persisted under a state dir. The engine's one entry point into networking.

It composes ipam, netlink, firewall, proxy and dns; it never imports the engine, the API or the CLI, and it
learns whether a container is alive only through the predicate `recover` is given.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from ipaddress import IPv4Network
from pathlib import Path

from dockyard.errors import Conflict, DockyardError, Forbidden, InternalError, InvalidArgument, NotFound
from dockyard.network import files, ipam
from dockyard.network import firewall as fw
from dockyard.network.config import ManagerConfig
from dockyard.network.endpoints import EndpointOps
from dockyard.network.model import (
    DRIVER_BRIDGE,
    DRIVER_HOST,
    DRIVER_NULL,
    Endpoint,
    IPAMConfig,
    Network,
    PortSpec,
    RecoveryReport,
)
from dockyard.network.store import StateStore

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")

__all__ = ["ManagerConfig", "NetworkManager"]


class NetworkManager:
    """Every method is safe across processes (one flock on the state dir). Errors come from the error tree with
    Docker's wording. Data in and out is frozen dataclasses (Network, Endpoint, PortSpec, RecoveryReport).
    Lifecycle for the engine: `ensure_predefined()` at start, `recover(is_alive)` after a crash or reboot,
    `connect(...)` once the container's namespace exists and before its process runs, `release(id)` when it
    stops (that is when its NAT rules and proxies go), `write_container_files(...)` for /etc bind mounts."""

    def __init__(self, config: ManagerConfig, *, firewall: fw.Firewall | None = None,
                 host_routes: Callable[[], list[IPv4Network]] = ipam.host_routes) -> None:  # fmt: skip
        self.config = config
        self.store = StateStore(config.state_dir)
        self.firewall = firewall or fw.Firewall(lock_path=config.firewall_lock)
        self.tag = hashlib.sha256(str(config.state_dir.resolve()).encode()).hexdigest()[:6]
        self._host_routes = host_routes
        self._ops = EndpointOps(self.store, self.firewall, config, self.tag)

    # ---- networks -------------------------------------------------------------------------------------
    def networks(self) -> tuple[Network, ...]:
        return tuple(self.store.networks())

    def get(self, ref: str) -> Network:
        """By full id, by name, then by unique id prefix (Docker's order)."""
        nets = self.store.networks()
        for found in ([n for n in nets if n.id == ref], [n for n in nets if n.name == ref]):
            if found:
                return found[0]
        by_prefix = [n for n in nets if ref and n.id.startswith(ref)]
        if len(by_prefix) > 1:
            raise NotFound(f"network {ref} is ambiguous ({len(by_prefix)} matches found based on ID prefix)")
        if not by_prefix:
            raise NotFound(f"network {ref} not found")
        return by_prefix[0]

    def ensure_predefined(self) -> Network:
        """The `bridge`, `host` and `none` networks exist as records; returns `bridge` (its device is made on
        first connect)."""
        # why a read before the lock: the records are made once and never rewritten, so when all three are
        # there (every call but the first) no lock is needed; the lock only orders their creation.
        try:
            found = self._predefined_bridge(self.store.networks())
        except InternalError:  # a record removed while it was listed (a purge): look again under the lock
            found = None
        if found is not None:
            return found
        with self.store.lock():
            self._make_predefined()
            return self.get("bridge")

    def _make_predefined(self) -> None:
        """The missing pre-defined records; the caller holds the lock."""
        names = {n.name for n in self.store.networks()}
        if "host" not in names:
            self.store.save_network(Network(id=_new_id(), name="host", driver=DRIVER_HOST, created=_now()))
        if "none" not in names:
            self.store.save_network(Network(id=_new_id(), name="none", driver=DRIVER_NULL, created=_now()))
        if "bridge" not in names:
            self.store.save_network(self._default_bridge())

    @staticmethod
    def _predefined_bridge(nets: Sequence[Network]) -> Network | None:
        """`bridge` when the three pre-defined records are all in `nets`."""
        by_name = {n.name: n for n in nets}
        if "host" in by_name and "none" in by_name and "bridge" in by_name:
            return by_name["bridge"]
        return None

    def _default_bridge(self) -> Network:
        if self.config.default_subnet:
            subnet = ipam.parse_subnet(self.config.default_subnet)
        else:
            subnet = ipam.choose_subnet(self.config.pools, self._avoid())
        pool = IPAMConfig(subnet=str(subnet), gateway=str(ipam.default_gateway(subnet)))
        return Network(id=_new_id(), name="bridge", bridge=self.config.default_bridge, ipam=pool,
                       created=_now(), default_bridge=True,
                       options=((BRIDGE_NAME_OPTION, self.config.default_bridge),))  # fmt: skip

    def _avoid(self) -> list[IPv4Network]:
        used = [IPv4Network(n.ipam.subnet) for n in self.store.networks() if n.ipam]
        return used + self._host_routes()

    def create(
        self,
        name: str,
        *,
        driver: str = DRIVER_BRIDGE,
        subnet: str | None = None,
        gateway: str | None = None,
        ip_range: str | None = None,
        internal: bool = False,
        labels: Iterable[tuple[str, str]] = (),
        options: Iterable[tuple[str, str]] = (),
    ) -> Network:
        """`docker network create`: validate, pick or check the subnet, persist, set up bridge and rules."""
        if not _NAME.fullmatch(name):
            raise InvalidArgument(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        if driver != DRIVER_BRIDGE:
            raise NotFound(f'plugin "{driver}" not found')
        if (gateway or ip_range) and not subnet:
            raise InvalidArgument("cannot specify a gateway or an IP range without a subnet")
        opts = dict(options)
        with self.store.lock():
            nets = self.store.networks()
            if any(n.name == name for n in nets):
                raise Conflict(f"network with name {name} already exists")
            if subnet:
                net4 = ipam.parse_subnet(subnet)
                if ipam.overlaps(net4, (IPv4Network(n.ipam.subnet) for n in nets if n.ipam)):
                    raise Forbidden("Pool overlaps with other one on this address space")
            else:
                net4 = ipam.choose_subnet(self.config.pools, self._avoid())
            gw = ipam.parse_address(gateway, "gateway") if gateway else ipam.default_gateway(net4)
            rng = ipam.parse_subnet(ip_range) if ip_range else None
            ipam.validate_pool(net4, gw, rng)
            net_id = _new_id()
            bridge = opts.get(BRIDGE_NAME_OPTION) or f"br-{net_id[:12]}"
            if len(bridge) > 15 or any(n.bridge == bridge for n in nets):
                raise Conflict(f"bridge name {bridge!r} is too long or already used by another network")
            network = Network(id=net_id, name=name, bridge=bridge, internal=internal, created=_now(),
                              ipam=IPAMConfig(subnet=str(net4), gateway=str(gw), ip_range=str(rng) if rng else None,
                                              user_subnet=bool(subnet)),
                              labels=tuple(sorted(labels)), options=tuple(sorted(opts.items())))  # fmt: skip
            self.store.save_network(network)
            try:
                self._ops.ensure_bridge(network, force_rules=True)
            except DockyardError:
                self._ops.destroy_bridge(network)
                self.store.delete_network(network.id)
                raise
        return network

    def remove(self, ref: str) -> None:
        """`docker network rm`: refuses pre-defined networks and networks with endpoints."""
        with self.store.lock():
            network = self.get(ref)
            if network.predefined:
                raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
            self._remove_locked(network)

    def _remove_locked(self, network: Network) -> None:
        if any(e.network_id == network.id for e in self.store.endpoints()):
            raise Forbidden(f"error while removing network: network {network.name} id {network.id} has active "
                            "endpoints")  # fmt: skip
        self._ops.destroy_bridge(network)
        self.store.delete_network(network.id)
        if not any(n.bridge for n in self.store.networks()):
            self.firewall.remove_chains_if_idle()

    def prune(self, keep: Callable[[Network], bool] = lambda n: False) -> tuple[str, ...]:
        """`docker network prune`: remove unused user-defined networks that `keep` does not protect."""
        removed = []
        with self.store.lock():
            used = {e.network_id for e in self.store.endpoints()}
            for network in self.store.networks():
                if network.predefined or network.id in used or keep(network):
                    continue
                self._remove_locked(network)
                removed.append(network.name)
        return tuple(removed)

    def purge(self) -> None:
        """Tear down every endpoint and network of this state dir, the default bridge included (tests, reset)."""
        with self.store.lock():
            for endpoint in self.store.endpoints():
                self._ops.teardown(endpoint)
            for network in self.store.networks():
                self._remove_locked(network)

    # ---- endpoints ------------------------------------------------------------------------------------
    def connect(
        self,
        container_id: str,
        netns_path: str,
        network: str,
        *,
        name: str = "",
        ip: str | None = None,
        aliases: Sequence[str] = (),
        mac: str | None = None,
        ports: Sequence[PortSpec] = (),
        watch_pid: int | None = None,
        dns: Sequence[str] = (),
    ) -> Endpoint:
        """Attach the namespace at `netns_path` to the network: address, veth, default route, published ports,
        DNS names. `watch_pid` (the container's init) lets the embedded resolver exit with the container; on a
        user-defined network it forwards other names to `dns` (the container's `--dns`), else the host's."""
        with self.store.lock():
            if network == "bridge" and self._predefined_bridge(self.store.networks()) is None:
                self._make_predefined()
            net = self.get(network)
            if net.driver in (DRIVER_HOST, DRIVER_NULL):
                mode = "host" if net.driver == DRIVER_HOST else "none"
                raise Forbidden(f"container cannot be disconnected from {mode} network or connected to {mode} "
                                "network")  # fmt: skip
            if self.store.endpoint(container_id, net.id) is not None:
                raise Forbidden(f"endpoint with name {name or container_id[:12]} already exists in network "
                                f"{net.name}")  # fmt: skip
            if ip and net.default_bridge:
                raise InvalidArgument("user specified IP address is supported on user defined networks only")
            if ip and net.ipam and not net.ipam.user_subnet:
                raise InvalidArgument("user specified IP address is supported only when connecting to networks "
                                      "with user configured subnets")  # fmt: skip
            if aliases and net.default_bridge:
                raise InvalidArgument("network-scoped alias is supported only for containers in user defined "
                                      "networks")  # fmt: skip
            preferred = ipam.parse_address(ip) if ip else None
            return self._ops.connect(
                net, container_id, netns_path, name=name, preferred=preferred, aliases=tuple(aliases), mac=mac,
                ports=tuple(ports), watch_pid=watch_pid, dns_servers=tuple(dns),
            )  # fmt: skip

    def disconnect(self, container_id: str, network: str) -> None:
        with self.store.lock():
            net = self.get(network)
            endpoint = self.store.endpoint(container_id, net.id)
            if endpoint is None:
                raise Conflict(f"container {container_id[:12]} is not connected to network {net.name}")
            self._ops.teardown(endpoint)

    def endpoints(self, container_id: str | None = None) -> tuple[Endpoint, ...]:
        return tuple(self.store.endpoints(container_id))

    def release(self, container_id: str, *, keep_links: bool = False) -> tuple[str, ...]:
        """Remove everything the container holds: endpoints, leases, rules, proxies, its resolver.

        With `keep_links` the host veths are left in place and their names returned, for the caller to delete
        later with `delete_links`: deleting a link waits for an RCU grace period in the kernel (~15 ms each),
        which a `run --rm` need not wait for once its namespace is going (that alone also takes the pair down).
        A caller killed before deleting them leaves veths that `recover` sweeps by their prefix."""
        with self.store.lock():
            endpoints = self.store.endpoints(container_id)
            for endpoint in endpoints:
                self._ops.teardown(endpoint, keep_link=keep_links)
            if not endpoints:  # else the last teardown stopped it: no user-defined network is left
                self._ops.stop_resolver(container_id)
        return tuple(e.host_veth for e in endpoints) if keep_links else ()

    @staticmethod
    def delete_links(names: Iterable[str]) -> None:
        """Delete host links (veths left by `release(keep_links=True)`); missing ones are fine."""
        from dockyard.network import netlink

        for name in names:
            netlink.delete_link(name)

    def recover(self, is_alive: Callable[[str], bool]) -> RecoveryReport:
        """Undo what crashed or vanished containers left behind; `is_alive(container_id)` decides."""
        with self.store.lock():
            return self._ops.recover(self.store.networks(), is_alive)

    @staticmethod
    def setup_loopback(netns_path: str) -> None:
        """`--network none` (and any new namespace): bring `lo` up."""
        from dockyard.network import netlink

        netlink.loopback_up(netns_path)

    # ---- files ----------------------------------------------------------------------------------------
    def write_container_files(
        self,
        container_id: str,
        directory: Path,
        *,
        hostname: str,
        domainname: str = "",
        extra_hosts: Sequence[tuple[str, str]] = (),
        dns: Sequence[str] = (),
        dns_search: Sequence[str] = (),
        dns_options: Sequence[str] = (),
    ) -> files.ContainerFiles:
        """hosts, resolv.conf and hostname for a container with its own namespace, from its current endpoints
        (none: no address line; a user-defined network: the embedded resolver)."""
        eps = self.store.endpoints(container_id)
        nets = {n.id: n for n in self.store.networks()}
        embedded = any(nets[e.network_id].user_defined for e in eps if e.network_id in nets)
        hosts = files.hosts_content(hostname, eps[0].ipv4 if eps else None, domainname=domainname,
                                    extra_hosts=extra_hosts)  # fmt: skip
        resolv = files.resolv_conf_content(files.read_host_resolv_conf(), embedded_dns=embedded, dns=dns,
                                           dns_search=dns_search, dns_options=dns_options)  # fmt: skip
        return files.write_files(directory, hosts=hosts, resolv_conf=resolv, hostname=files.hostname_content(hostname))


def _new_id() -> str:
    return secrets.token_hex(32)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
