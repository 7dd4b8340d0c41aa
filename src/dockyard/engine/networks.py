"""The engine side of networking: a container's network mode at create and start, its named namespace, its
endpoints and /etc files, their release when it exits and removal with it; the service behind /networks/*.

The NetworkManager is built lazily: `run --network none` and `host` never import it (netns.py makes namespaces).
Must not know Docker's JSON field names (api/networks.py does) nor run container processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.network import files as netfiles
from dockyard.network import netns, portmap
from dockyard.network.model import Endpoint, Network, PortBinding, PortSpec, RecoveryReport
from dockyard.oci.model import Model, replace
from dockyard.paths import DEFAULT_DATA_ROOT, Paths

if TYPE_CHECKING:
    from dockyard.engine.records import ContainerRecord
    from dockyard.network.manager import NetworkManager

MODE_HOST, MODE_NONE, MODE_BRIDGE = "host", "none", "bridge"

__all__ = [
    "ContainerNetworks",
    "Endpoint",
    "Network",
    "NetworkSettings",
    "PortBinding",
    "PortSpec",
    "mode_of",
    "parse_publish",
    "recover_networks",
]


def parse_publish(raws: Iterable[str]) -> tuple[PortSpec, ...]:
    """`-p` values → port specs, with Docker's messages (`invalid hostPort: 99999`); pure."""
    return portmap.parse_port_specs(raws)


def parse_expose(raws: Iterable[str]) -> tuple[str, ...]:
    """`--expose` values → `80/tcp` keys."""
    return tuple(key for raw in raws for key in portmap.parse_exposed(raw))


def mode_of(network_mode: str) -> str:
    """`""`/`default` → `bridge`; everything else as given (`host`, `none`, `container:x`, a network name)."""
    return MODE_BRIDGE if network_mode in ("", "default") else network_mode


class NetworkSettings(Model):
    """What inspect shows of a container's networking: its endpoints, their networks and its published ports."""

    mode: str
    endpoints: tuple[Endpoint, ...] = ()
    networks: tuple[Network, ...] = ()
    sandbox_key: str = ""

    @property
    def ports(self) -> tuple[PortBinding, ...]:
        return tuple(p for e in self.endpoints for p in e.ports)


class ContainerNetworks:
    """One per engine. `lookup(ref)` finds a container record (for `container:<ref>`)."""

    def __init__(self, paths: Paths, lookup: Callable[[str], ContainerRecord]) -> None:
        self.paths = paths
        self._lookup = lookup

    @cached_property
    def manager(self) -> NetworkManager:
        """The manager, with the pre-defined networks' records made if missing."""
        self._bare_manager.ensure_predefined()
        return self._bare_manager

    @cached_property
    def _bare_manager(self) -> NetworkManager:
        """The manager as is: what releasing a container's endpoints needs (they name their networks by id)."""
        from dockyard.network.manager import ManagerConfig, NetworkManager

        bridge = "dockyard0"
        if self.paths.data_root != DEFAULT_DATA_ROOT:
            # why: a second data root (tests, side-by-side engines) must never share the default bridge's name
            bridge = "dy" + hashlib.sha256(self.paths.data_root.encode()).hexdigest()[:10]
        config = ManagerConfig(
            state_dir=Path(self.paths.data_root) / "network",
            default_bridge=os.environ.get("DOCKYARD_BRIDGE") or bridge,
            default_subnet=os.environ.get("DOCKYARD_BRIDGE_SUBNET") or None,
        )
        return NetworkManager(config)

    def netns_path(self, container_id: str) -> str:
        return os.path.join(self.paths.exec_root, "netns", container_id)

    def _has_state(self, container_id: str) -> bool:
        """Whether the manager holds endpoints for the container, without building the manager."""
        return (Path(self.paths.data_root) / "network" / "endpoints" / container_id).is_dir()

    # ---- create ------------------------------------------------------------------------------------------

    def validate(self, mode: str, *, ip: str, aliases: tuple[str, ...], ports: tuple[str, ...]) -> None:
        """Create-time checks with Docker's messages: the network or container exists, ports parse."""
        parse_publish(ports)
        if mode.startswith("container:"):
            self._lookup(mode.partition(":")[2])
        elif mode not in (MODE_HOST, MODE_NONE):
            # why: another process may have purged this data root's networks (`network` state reset) since this
            # engine's manager was made; the records come back here, the device on connect
            self.manager.ensure_predefined()
            if mode != MODE_BRIDGE:
                self.manager.get(mode)
            return
        if ip or aliases:
            raise InvalidArgument(f"conflicting options: network-scoped settings and the network mode {mode}")

    # ---- start -------------------------------------------------------------------------------------------

    def setup(self, record: ContainerRecord) -> str | None:
        """Before the runtime creates the container: its namespace, endpoints and /etc files. Returns the
        network namespace path for the OCI spec, or None for `host` (no network namespace)."""
        hc, cid = record.host_config, record.id
        mode = mode_of(hc.network_mode)
        directory = Path(self.paths.container_dir(cid))
        hostname = record.config.hostname or cid[:12]
        if mode == MODE_HOST:
            netfiles.write_host_mode_files(directory)
            return None
        if mode.startswith("container:"):
            other = self._lookup(mode.partition(":")[2])
            if other.state.status != "running" or not other.state.pid:
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            for name in ("hosts", "resolv.conf", "hostname"):
                with contextlib.suppress(FileNotFoundError):
                    shutil.copyfile(os.path.join(self.paths.container_dir(other.id), name), directory / name)
            return f"/proc/{other.state.pid}/ns/net"
        path = self.netns_path(cid)
        self.remove_netns(cid)
        create_netns(path)
        try:
            self._attach(record, path, mode, hostname, directory)
        except BaseException:
            self.release(cid)
            self.remove_netns(cid)
            raise
        return path

    def _attach(self, record: ContainerRecord, path: str, mode: str, hostname: str, directory: Path) -> None:
        hc, cid = record.host_config, record.id
        extra = tuple(netfiles.parse_extra_host(h) for h in hc.extra_hosts)
        if mode == MODE_NONE:
            hosts = netfiles.hosts_content(hostname, None, domainname=record.config.domainname, extra_hosts=extra)
            resolv = netfiles.resolv_conf_content(
                netfiles.read_host_resolv_conf(),
                embedded_dns=False,
                dns=hc.dns,
                dns_search=hc.dns_search,
                dns_options=hc.dns_options,
            )
            netfiles.write_files(
                directory, hosts=hosts, resolv_conf=resolv, hostname=netfiles.hostname_content(hostname)
            )
            return
        ports = parse_publish(hc.port_bindings)
        if hc.publish_all_ports:
            published = {p.key for p in ports}
            ports += portmap.publish_all(k for k in record.config.exposed_ports if k not in published)
        self.manager.connect(
            cid,
            path,
            mode,
            name=record.name,
            ip=hc.network_ip or None,
            aliases=hc.network_aliases,
            mac=record.config.mac_address or None,
            ports=ports,
            dns=hc.dns,
        )
        self.manager.write_container_files(
            cid,
            directory,
            hostname=hostname,
            domainname=record.config.domainname,
            extra_hosts=extra,
            dns=hc.dns,
            dns_search=hc.dns_search,
            dns_options=hc.dns_options,
        )

    # ---- running containers ------------------------------------------------------------------------------

    def connect(self, record: ContainerRecord, network: str, *, ip: str = "", aliases: tuple[str, ...] = ()) -> None:
        """`network connect` of a running container (a created one joins at its start: not modelled yet)."""
        mode = mode_of(record.host_config.network_mode)
        if mode in (MODE_HOST, MODE_NONE) or mode.startswith("container:"):
            self.manager.get(network)
            raise InvalidArgument(f"container cannot be connected to network {network}: its network mode is {mode}")
        if record.state.status != "running":
            raise InvalidArgument(
                f"container {record.id[:12]} is not running: only running containers can be connected"
            )
        self.manager.connect(
            record.id,
            self.netns_path(record.id),
            network,
            name=record.name,
            ip=ip or None,
            aliases=aliases,
            watch_pid=record.state.pid or None,
            dns=record.host_config.dns,
        )
        self._rewrite_files(record)

    def disconnect(self, record: ContainerRecord, network: str) -> None:
        self.manager.disconnect(record.id, network)
        self._rewrite_files(record)

    def _rewrite_files(self, record: ContainerRecord) -> None:
        hc = record.host_config
        self.manager.write_container_files(
            record.id,
            Path(self.paths.container_dir(record.id)),
            hostname=record.config.hostname or record.id[:12],
            domainname=record.config.domainname,
            extra_hosts=tuple(netfiles.parse_extra_host(h) for h in hc.extra_hosts),
            dns=hc.dns,
            dns_search=hc.dns_search,
            dns_options=hc.dns_options,
        )

    def settings(self, record: ContainerRecord) -> NetworkSettings:
        """Inspect data; cheap (no manager) when the container holds no endpoint."""
        mode = mode_of(record.host_config.network_mode)
        key = self.netns_path(record.id) if os.path.exists(self.netns_path(record.id)) else ""
        if not self._has_state(record.id):
            return NetworkSettings(mode=mode, sandbox_key=key)
        eps = self.manager.endpoints(record.id)
        nets = {n.id: n for n in self.manager.networks()}
        return NetworkSettings(
            mode=mode,
            endpoints=eps,
            networks=tuple(nets[e.network_id] for e in eps if e.network_id in nets),
            sandbox_key=key,
        )

    # ---- stop and remove ---------------------------------------------------------------------------------

    def release(self, container_id: str, *, keep_links: bool = False) -> tuple[str, ...]:
        """When the container stops: endpoints, leases, NAT rules, proxies and its resolver go (the host veths
        too, unless `keep_links`: then their names are returned, see NetworkManager.release)."""
        if self._has_state(container_id):
            return self._bare_manager.release(container_id, keep_links=keep_links)
        return ()

    def remove(self, container_id: str, *, keep_links: bool = False) -> tuple[str, ...]:
        """With the container: release what is left and delete its namespace file."""
        links = self.release(container_id, keep_links=keep_links)
        self.remove_netns(container_id)
        return links

    def remove_netns(self, container_id: str) -> None:
        remove_netns(self.netns_path(container_id))


def create_netns(path: str) -> None:
    """A new network namespace kept alive by a bind mount at `path`, `lo` up (network/netns.py)."""
    netns.create(path)


def remove_netns(path: str) -> None:
    """Unmount and delete a namespace file made by `create_netns`; missing is fine."""
    netns.remove(path)


def recover_networks(paths: Paths, live: Iterable[str]) -> RecoveryReport:
    """Remove what dead containers left (after `kill -9` of the engine mid set-up, or a reboot): endpoints,
    veths, NAT rules, proxies, resolvers, IPAM leases and namespace files of every id not in `live`.

    Cheap when nothing networked ever ran (no manager is built). For dockyardd's start-up (Engine.recover)."""
    alive = frozenset(live)
    directory = os.path.join(paths.exec_root, "netns")
    stale = sorted(n for n in _listdir(directory) if n not in alive)
    for name in stale:
        with contextlib.suppress(DockyardError, OSError):
            remove_netns(os.path.join(directory, name))
    report = RecoveryReport()
    if os.path.isdir(os.path.join(paths.data_root, "network")):
        manager = ContainerNetworks(paths, _no_lookup).manager
        report = manager.recover(lambda cid: cid in alive)
    return replace(report, namespaces=tuple(stale))


def _listdir(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


def release_on_exit(paths: Paths, container_id: str, *, remove_netns: bool = False) -> Callable[[], None] | None:
    """The monitor's hook when a container exits: release its network (and with --rm its namespace file)
    without ever failing the monitor. Returns what is left to do: with --rm, deleting the host veths, which the
    monitor does once the container is reported removed (see NetworkManager.release); None when nothing is left."""
    links: tuple[str, ...] = ()
    with contextlib.suppress(DockyardError, OSError):
        networks = ContainerNetworks(paths, _no_lookup)
        links = networks.remove(container_id, keep_links=True) if remove_netns else networks.release(container_id)
    if not links:
        return None

    def delete_links() -> None:
        with contextlib.suppress(DockyardError, OSError):
            networks._bare_manager.delete_links(links)

    return delete_links


def _no_lookup(ref: str) -> ContainerRecord:
    raise NotFound(f"No such container: {ref}")
