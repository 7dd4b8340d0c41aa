"""The steps behind NetworkManager: bridge set-up and tear-down, endpoint connect/teardown, published ports,
DNS records and resolvers, crash recovery. Callers hold the state lock; nothing here takes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from functools import partial
from ipaddress import IPv4Address, IPv4Network

from dockyard.errors import Conflict, DockyardError, InternalError
from dockyard.network import dns, files, helpers, portmap, proxy
from dockyard.network import firewall as fw
from dockyard.network.config import ManagerConfig
from dockyard.network.model import Endpoint, Network, PortBinding, PortSpec, RecoveryReport
from dockyard.network.proxy import start_proxies, stop_proxy
from dockyard.network.store import StateStore
from dockyard.oci.model import replace

IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
_PROC_NETNS = re.compile(r"/proc/(\d+)/ns/net")


def net_owner(network: Network) -> str:
    return f"net-{network.id[:12]}"


def ep_owner(container_id: str, network_id: str) -> str:
    return f"{container_id[:12]}.{network_id[:12]}"


class EndpointOps:
    def __init__(self, store: StateStore, firewall: fw.Firewall, config: ManagerConfig, tag: str) -> None:
        self.store, self.firewall, self.config, self.tag = store, firewall, config, tag

    # ---- bridges ---------------------------------------------------------------------------------------
    def bridge_rules(self, network: Network) -> list[fw.Rule]:
        assert network.ipam is not None
        return fw.bridge_rules(self.tag, net_owner(network), network.bridge, network.ipam.subnet,
                               internal=network.internal)  # fmt: skip

    def ensure_bridge(self, network: Network, *, force_rules: bool = False) -> None:
        """Bridge device with the gateway address, up; its rules when it was (re)created (e.g. after a reboot)."""
        from dockyard.network import netlink

        assert network.ipam is not None
        prefixlen = IPv4Network(network.ipam.subnet).prefixlen
        created = netlink.ensure_bridge(network.bridge, network.ipam.gateway, prefixlen, mtu=self.config.mtu)
        if created or force_rules:
            self.firewall.ensure_chains()
            self.firewall.add(self.bridge_rules(network))
            if self.config.ip_forward and not network.internal:
                _enable_ip_forward()

    def destroy_bridge(self, network: Network) -> None:
        if network.bridge and network.ipam is not None:
            from dockyard.network import netlink

            self.firewall.remove(self.bridge_rules(network))
            netlink.delete_link(network.bridge)
        self.store.leases.drop(network.id, force=True)
        dns.remove_network_records(self.store.records_dir, network.id)

    # ---- endpoints -------------------------------------------------------------------------------------
    def veth_name(self, container_id: str, network_id: str) -> str:
        prefix = self.config.veth_prefix + self.tag[:3]
        digest = hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()
        return prefix + digest[: 15 - len(prefix)]

    def connect(self, net: Network, container_id: str, netns_path: str, *, name: str,
                preferred: IPv4Address | None, aliases: tuple[str, ...], mac: str | None,
                ports: tuple[PortSpec, ...], watch_pid: int | None,
                dns_servers: tuple[str, ...] = ()) -> Endpoint:  # fmt: skip
        from dockyard.network import netlink

        assert net.ipam is not None
        self.ensure_bridge(net)
        subnet, gateway = IPv4Network(net.ipam.subnet), IPv4Address(net.ipam.gateway)
        ip_range = IPv4Network(net.ipam.ip_range) if net.ipam.ip_range else None
        addr = self.store.leases.reserve(net.id, container_id, subnet, gateway, ip_range=ip_range,
                                         preferred=preferred)  # fmt: skip
        used = {e.ifname for e in self.store.endpoints(container_id)}
        ifname = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
        names = tuple(dict.fromkeys(n for n in (name, container_id[:12], *aliases) if n)) if net.user_defined else ()
        ep = Endpoint(container_id=container_id, network_id=net.id, network_name=net.name, netns_path=netns_path,
                      host_veth=self.veth_name(container_id, net.id), ifname=ifname, ipv4=str(addr),
                      prefixlen=subnet.prefixlen, gateway="" if net.internal else str(gateway),
                      mac=mac or netlink.mac_for(str(addr)), names=names, aliases=aliases)  # fmt: skip
        try:
            # The record goes first: from here on a crash leaves something `recover` can undo.
            self.store.save_endpoint(ep)
            netlink.attach_veth(net.bridge, netns_path, netlink.VethConfig(
                host_ifname=ep.host_veth, ifname=ifname, address=ep.ipv4, prefixlen=ep.prefixlen,
                gateway=ep.gateway or None, mac=ep.mac, mtu=self.config.mtu))  # fmt: skip
            if ports:
                ep = self._publish(net, ep, ports)
            if net.user_defined:
                self._refresh_dns(ep.container_id, net.id)
                self._ensure_resolver(ep, watch_pid, dns_servers)
        except BaseException:
            with contextlib.suppress(DockyardError, OSError):
                self.teardown(ep)
            raise
        return ep

    def _publish(self, net: Network, ep: Endpoint, ports: Sequence[PortSpec]) -> Endpoint:
        """Bind every mapping; one without a host IP on 0.0.0.0 and `::` alike (Docker ≥ 20.10), same port.

        Why `::` only with the userland proxy: the container has no IPv6 address for an ip6tables DNAT to reach
        (moby's allocatePortsInternal proxies host IPv6 to the container's IPv4 only with the proxy on)."""
        v6 = self.config.userland_proxy and portmap.v6_listenable()
        bindings: list[PortBinding] = []
        for spec in ports:
            addresses = portmap.host_addresses(spec.host_ip, v6=v6)
            taken = {b.host_port for b in bindings if b.proto == spec.proto}
            host_port = portmap.choose_host_port(spec, addresses=addresses, taken=taken)
            pids: list[int | helpers.HelperFailed | None] = [None] * len(addresses)
            if self.config.userland_proxy:
                pids = [*start_proxies(spec.proto, addresses, host_port, ep.ipv4, spec.container_port)]
            failed = None
            for addr, pid in zip(addresses, pids, strict=True):
                if isinstance(pid, proxy.AddressUnavailable) and not spec.host_ip:
                    continue  # the implicit `::` of a host without IPv6: the v4 binding alone, as Docker
                if isinstance(pid, helpers.HelperFailed):
                    failed = failed or pid
                    continue
                # Each binding is recorded as soon as it holds its port, so a failure's teardown stops it.
                bindings.append(PortBinding(proto=spec.proto, container_port=spec.container_port, host_ip=addr,
                                            host_port=host_port, proxy_pid=pid))  # fmt: skip
                ep = replace(ep, ports=tuple(bindings))
                self.store.save_endpoint(ep)
                if not net.internal and ":" not in addr:
                    self.firewall.add(fw.port_rules(
                        self.tag, ep_owner(ep.container_id, ep.network_id), net.bridge, proto=spec.proto,
                        host_ip=spec.host_ip, host_port=host_port, container_ip=ep.ipv4,
                        container_port=spec.container_port))  # fmt: skip
            if failed is not None:
                raise Conflict(str(failed)) from failed
        return ep

    def teardown(self, ep: Endpoint, *, keep_link: bool = False) -> None:
        """Undo one endpoint, every step attempted even when an earlier one fails; the first error is raised.

        `keep_link` leaves the host veth to the caller (deleting a link waits ~15 ms for the kernel; see
        NetworkManager.release)."""
        from dockyard.network import netlink

        errors: list[Exception] = []

        def attempt(step: Callable[[], object]) -> None:
            try:
                step()
            except (DockyardError, OSError) as err:
                errors.append(err)

        for pid in [b.proxy_pid for b in ep.ports if b.proxy_pid]:
            attempt(partial(stop_proxy, pid))
        if ep.ports:
            owner = ep_owner(ep.container_id, ep.network_id)
            attempt(lambda: self.firewall.sweep(self.tag, keep=lambda o: o != owner))
        if not keep_link:
            attempt(lambda: netlink.delete_link(ep.host_veth))
        attempt(lambda: self.store.leases.release(ep.network_id, ep.container_id))
        attempt(lambda: self.store.delete_endpoint(ep.container_id, ep.network_id))
        user = self._user_networks(ep.container_id)
        attempt(lambda: self._refresh_dns(ep.container_id, ep.network_id, user))
        if not user:
            attempt(lambda: self.stop_resolver(ep.container_id))
        if errors:
            raise errors[0]

    # ---- DNS -------------------------------------------------------------------------------------------
    def _user_networks(self, container_id: str) -> list[str]:
        user = {n.id for n in self.store.networks() if n.user_defined}
        return [e.network_id for e in self.store.endpoints(container_id) if e.network_id in user]

    def _refresh_dns(self, container_id: str, network_id: str, user: list[str] | None = None) -> None:
        """The network's name records and the container's list of user-defined networks (`user`, if known)."""
        nets = {n.id: n for n in self.store.networks()}
        net = nets.get(network_id)
        if net is not None and net.user_defined:
            recs = [dns.NameRecord(names=e.names, ipv4=e.ipv4) for e in self.store.endpoints()
                    if e.network_id == network_id]  # fmt: skip
            dns.write_network_records(self.store.records_dir, net.id, net.name, recs)
        user = self._user_networks(container_id) if user is None else user
        dns.write_container_networks(self.store.records_dir, container_id, user)

    def upstreams(self, dns_servers: Sequence[str] = ()) -> tuple[str, ...]:
        """The container's `--dns` servers (Docker's embedded resolver forwards to them), else the engine's."""
        if dns_servers:
            return tuple(dns_servers)
        if self.config.dns_upstreams is not None:
            return self.config.dns_upstreams
        return files.upstream_servers(files.read_host_resolv_conf())

    def _ensure_resolver(self, ep: Endpoint, watch_pid: int | None, dns_servers: Sequence[str] = ()) -> None:
        pid = self.store.resolver_pid(ep.container_id)
        if pid is not None and helpers.is_helper(pid, dns.MODULE):
            return
        if watch_pid is None and (match := _PROC_NETNS.fullmatch(ep.netns_path)):
            watch_pid = int(match.group(1))
        try:
            upstreams = self.upstreams(dns_servers)
            pid = dns.start_resolver(ep.netns_path, self.store.records_dir, ep.container_id, upstreams,
                                     watch_pid)  # fmt: skip
        except helpers.HelperFailed as err:
            raise InternalError(str(err)) from err
        self.store.set_resolver_pid(ep.container_id, pid)

    def stop_resolver(self, container_id: str) -> int | None:
        pid = self.store.resolver_pid(container_id)
        stopped = pid if pid is not None and dns.stop_resolver(pid) else None
        self.store.set_resolver_pid(container_id, None)
        dns.write_container_networks(self.store.records_dir, container_id, ())
        return stopped

    # ---- recovery --------------------------------------------------------------------------------------
    def recover(self, networks: Sequence[Network], is_alive: Callable[[str], bool]) -> RecoveryReport:
        from dockyard.network import netlink

        torn, processes = [], []
        for ep in self.store.endpoints():
            if not is_alive(ep.container_id):
                processes += [b.proxy_pid for b in ep.ports if b.proxy_pid]
                with contextlib.suppress(DockyardError, OSError):
                    self.teardown(ep)
                torn.append(f"{ep.container_id[:12]}/{ep.network_name}")
        live = self.store.endpoints()
        pairs = {(e.container_id, e.network_id) for e in live}
        leases = []
        for nid in self.store.leases.networks():
            for ip, owner in self.store.leases.leases(nid).items():
                if (owner, nid) not in pairs:
                    self.store.leases.release(nid, owner)
                    leases.append(f"{nid[:12]}/{ip}")
        owners = {ep_owner(e.container_id, e.network_id) for e in live} | {net_owner(n) for n in networks if n.bridge}
        rules = self.firewall.sweep(self.tag, keep=lambda o: o in owners)
        veths = {e.host_veth for e in live}
        links = [name for name in netlink.link_names(self.config.veth_prefix + self.tag[:3]) if name not in veths]
        for name in links:
            netlink.delete_link(name)
        with_dns = {e.container_id for e in live}
        for cid in self.store.resolver_containers():
            if cid not in with_dns or not is_alive(cid):
                stopped = self.stop_resolver(cid)
                if stopped:
                    processes.append(stopped)
        processes += self._stop_orphan_resolvers() + self._stop_orphan_proxies(networks)
        return RecoveryReport(endpoints=tuple(torn), leases=tuple(leases), links=tuple(links), rules=rules,
                              processes=tuple(processes))  # fmt: skip

    def _stop_orphan_resolvers(self) -> list[int]:
        """Resolvers of this state dir that no record names (the engine died between spawn and record)."""
        recorded = {self.store.resolver_pid(cid) for cid in self.store.resolver_containers()}
        mine = str(self.store.records_dir)
        stopped = []
        for pid, args in helpers.find_helpers(dns.MODULE):
            at = args.index("--records-dir") + 1 if "--records-dir" in args else 0
            if at and at < len(args) and args[at] == mine and pid not in recorded and dns.stop_resolver(pid):
                stopped.append(pid)
        return stopped

    def _stop_orphan_proxies(self, networks: Sequence[Network]) -> list[int]:
        """Proxies towards one of this state dir's subnets that no endpoint names (died between spawn and save)."""
        subnets = [IPv4Network(n.ipam.subnet) for n in networks if n.ipam and n.bridge]
        recorded = {b.proxy_pid for e in self.store.endpoints() for b in e.ports}
        stopped = []
        for pid, args in helpers.find_helpers(proxy.MODULE):
            at = args.index("-container-ip") + 1 if "-container-ip" in args else 0
            try:
                target = IPv4Address(args[at]) if at and at < len(args) else None
            except ValueError:
                continue
            mine = target is not None and any(target in net for net in subnets)
            if mine and pid not in recorded and stop_proxy(pid):
                stopped.append(pid)
        return stopped


def _enable_ip_forward() -> None:
    try:
        with open(IP_FORWARD, "r+", encoding="ascii") as f:
            if f.read().strip() != "1":
                f.seek(0)
                f.write("1")
    except OSError as err:
        raise InternalError(f"enable ip forwarding `{IP_FORWARD}`: {os.strerror(err.errno or 0).lower()}") from err
