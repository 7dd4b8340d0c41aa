"""ManagerConfig: how one engine lays out its networking on the host (names, pools, proxy, DNS upstreams).

Plain data shared by manager.py and endpoints.py; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dockyard.network.ipam import DEFAULT_POOLS, Pool


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagerConfig:
    """Defaults match Docker's; tests override names and pools so they never touch a real engine's."""

    state_dir: Path
    default_bridge: str = "dockyard0"
    default_subnet: str | None = None  # like dockerd --bip; None: the first free default pool
    pools: tuple[Pool, ...] = DEFAULT_POOLS
    veth_prefix: str = "vdy"  # host veth = prefix + 3 chars of the state-dir tag + hash, 15 characters at most
    dns_upstreams: tuple[str, ...] | None = None  # `ip` or `ip:port`; None: the host's resolv.conf nameservers
    userland_proxy: bool = True
    ip_forward: bool = True  # set net.ipv4.ip_forward=1 when a non-internal bridge is set up, as Docker does
    firewall_lock: Path | None = Path("/run/dockyard/firewall.lock")
    mtu: int = 1500
