"""IPv4 address management: subnet choice that avoids host routes, address allocation, a flock-locked lease file.

Pure allocation functions plus `LeaseStore` (one JSON file per network under a state dir). No netlink here:
host routes come from /proc/net/route, which costs a file read instead of importing pyroute2.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from dockyard.errors import Conflict, Forbidden, InternalError, InvalidArgument, Unavailable


@dataclass(frozen=True, slots=True)
class Pool:
    """A predefined address pool carved into subnets of `size` bits (Docker's `default-address-pools`)."""

    base: IPv4Network
    size: int

    def subnets(self) -> Iterator[IPv4Network]:
        return self.base.subnets(new_prefix=self.size)


# Docker's defaults: 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/16 cut into /20s.
DEFAULT_POOLS = (
    Pool(IPv4Network("172.17.0.0/16"), 16),
    Pool(IPv4Network("172.18.0.0/15"), 16),
    Pool(IPv4Network("172.20.0.0/14"), 16),
    Pool(IPv4Network("172.24.0.0/13"), 16),
    Pool(IPv4Network("192.168.0.0/16"), 20),
)


class PoolExhausted(Unavailable):
    """Every address of the range is leased."""


def parse_subnet(text: str) -> IPv4Network:
    """`10.1.0.0/16` → network; the host bits must be zero, as Docker requires."""
    try:
        iface = ipaddress.IPv4Interface(text)
    except ValueError as err:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address: {text}") from err
    if "/" not in text:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address: {text}")
    if iface.ip != iface.network.network_address:
        raise InvalidArgument(f"invalid subnet {text}: it should be {iface.network}")
    if iface.network.prefixlen > 30:
        raise InvalidArgument(f"invalid subnet {text}: too small for a gateway and a container")
    return iface.network


def parse_address(text: str, what: str = "IP address") -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError as err:
        raise InvalidArgument(f"invalid {what}: {text}") from err


def overlaps(subnet: IPv4Network, others: Iterable[IPv4Network]) -> bool:
    return any(subnet.overlaps(other) for other in others)


def choose_subnet(pools: Sequence[Pool], avoid: Iterable[IPv4Network]) -> IPv4Network:
    """The first subnet of the pools overlapping nothing in `avoid` (host routes, host addresses, networks)."""
    taken = list(avoid)
    for pool in pools:
        for subnet in pool.subnets():
            if not overlaps(subnet, taken):
                return subnet
    raise Forbidden("could not find an available, non-overlapping IPv4 address pool among the defaults to "
                    "assign to the network")  # fmt: skip


def parse_proc_routes(text: str) -> list[IPv4Network]:
    """Destinations of /proc/net/route (little-endian hex), default routes left out: they overlap everything."""
    routes: list[IPv4Network] = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            dest = IPv4Address(int(cols[1], 16).to_bytes(4, "little"))
            mask = IPv4Address(int(cols[7], 16).to_bytes(4, "little"))
        except ValueError:
            continue
        if int(mask) == 0:
            continue
        routes.append(IPv4Network(f"{dest}/{mask}", strict=False))
    return routes


def host_routes(path: str = "/proc/net/route") -> list[IPv4Network]:
    try:
        with open(path, encoding="ascii") as f:
            return parse_proc_routes(f.read())
    except OSError:
        return []


def default_gateway(subnet: IPv4Network) -> IPv4Address:
    return subnet.network_address + 1


def validate_pool(subnet: IPv4Network, gateway: IPv4Address, ip_range: IPv4Network | None) -> None:
    """Docker's checks: the gateway and the range must lie inside the subnet."""
    if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
        raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    if ip_range is not None and not ip_range.subnet_of(subnet):
        raise InvalidArgument(f"no matching subnet for range {ip_range}")


def allocate(
    subnet: IPv4Network,
    gateway: IPv4Address,
    taken: Iterable[IPv4Address],
    *,
    ip_range: IPv4Network | None = None,
    preferred: IPv4Address | None = None,
) -> IPv4Address:
    """The lowest free host address of the range (the gateway, network and broadcast never), or `preferred`."""
    used = set(taken)
    used.add(gateway)
    if preferred is not None:
        if preferred not in subnet or preferred in (subnet.network_address, subnet.broadcast_address):
            raise InvalidArgument(f"invalid address {preferred}: it does not belong to any of this network's subnets")
        if preferred in used:
            raise Conflict(f"address {preferred} already in use")
        return preferred
    space = ip_range if ip_range is not None else subnet
    # Every address of an --ip-range is usable, its own first one included (as in Docker); only the subnet's
    # network and broadcast addresses are not.
    for addr in space:
        if addr not in used and addr != subnet.network_address and addr != subnet.broadcast_address:
            return addr
    raise PoolExhausted(f"no available IPv4 addresses on this network's address pools: {subnet}")


class LeaseStore:
    """Leases of one state dir: `<dir>/<network_id>.json` = {"ip": "owner"}, each change under an flock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, network_id: str) -> Path:
        return self.directory / f"{network_id}.json"

    @contextlib.contextmanager
    def _locked(self, network_id: str) -> Iterator[dict[str, str]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / f"{network_id}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            leases = self._read(network_id)
            before = dict(leases)
            yield leases
            if leases != before:
                self._write(network_id, leases)
        finally:
            os.close(fd)

    def _read(self, network_id: str) -> dict[str, str]:
        try:
            data = json.loads(self._path(network_id).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise InternalError(f"read leases `{self._path(network_id)}`: {err}") from err
        if not isinstance(data, dict):
            raise InternalError(f"read leases `{self._path(network_id)}`: not an object")
        return {str(k): str(v) for k, v in data.items()}

    def _write(self, network_id: str, leases: dict[str, str]) -> None:
        """The first write makes the file atomically; later ones rewrite it in place, under the flock.

        why in place: renaming over an existing file (and truncating one to zero) makes ext4 flush the new data
        at once (its auto_da_alloc heuristic, ext4(5)), ≈ 0.5 ms here, twice per `run`. The file never
        shrinks: a shorter body is padded with spaces, which JSON ignores, so a reader never meets a cut file
        and no truncation is needed. A single pwrite(2) is whole or absent if the writer is killed."""
        path = self._path(network_id)
        data = json.dumps(dict(sorted(leases.items())), indent=1).encode()
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            return
        try:
            data += b" " * (os.fstat(fd).st_size - len(data))
            done = 0
            while done < len(data):
                done += os.pwrite(fd, data[done:], done)
        finally:
            os.close(fd)

    def leases(self, network_id: str) -> dict[str, str]:
        """ip → owner, as read now (no lock: a snapshot for listing)."""
        return self._read(network_id)

    def reserve(
        self,
        network_id: str,
        owner: str,
        subnet: IPv4Network,
        gateway: IPv4Address,
        *,
        ip_range: IPv4Network | None = None,
        preferred: IPv4Address | None = None,
    ) -> IPv4Address:
        """Lease an address to `owner`; an owner holds at most one lease per network (asking again returns it)."""
        with self._locked(network_id) as leases:
            for ip, who in leases.items():
                if who == owner and (preferred is None or IPv4Address(ip) == preferred):
                    return IPv4Address(ip)
            addr = allocate(subnet, gateway, (IPv4Address(ip) for ip in leases), ip_range=ip_range,
                            preferred=preferred)  # fmt: skip
            leases[str(addr)] = owner
            return addr

    def release(self, network_id: str, owner: str) -> list[str]:
        """Drop every lease of `owner`; returns the addresses freed."""
        with self._locked(network_id) as leases:
            freed = [ip for ip, who in leases.items() if who == owner]
            for ip in freed:
                del leases[ip]
            return freed

    def drop(self, network_id: str, *, force: bool = False) -> None:
        """Forget a network's leases (network removed); refuses while leases remain unless `force`."""
        remaining = self._read(network_id)
        if remaining and not force:
            raise Conflict(f"remove leases of network `{network_id}`: {len(remaining)} still held")
        for suffix in (".json", ".lock"):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"{network_id}{suffix}").unlink()

    def networks(self) -> list[str]:
        try:
            return sorted(p.stem for p in self.directory.glob("*.json"))
        except OSError:
            return []
