"""On-disk state of the network manager: networks, endpoints, resolver pids, one lock; JSON files, atomic writes.

Layout under the state dir (nothing else writes there):
  lock                          flock(2) held by every mutation, across processes
  networks/<id>.json            Network
  endpoints/<container>/<network_id>.json   Endpoint (written before the veth exists, so a crash is recoverable)
  ipam/<network_id>.json        leases (ipam.LeaseStore)
  dns/                          records files read by the embedded resolvers (dns.py)
  resolvers/<container>.pid     the container's resolver process
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dockyard.errors import InternalError
from dockyard.network.ipam import LeaseStore
from dockyard.network.model import Endpoint, Network


def _write_json(path: Path, body: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=1))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InternalError(f"read network state `{path}`: {err}") from err
    if not isinstance(body, dict):
        raise InternalError(f"read network state `{path}`: not an object")
    return body


class StateStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.leases = LeaseStore(root / "ipam")
        self.records_dir = root / "dns"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # networks
    def networks(self) -> list[Network]:
        out = [Network.from_json(_read_json(p), p.name) for p in sorted((self.root / "networks").glob("*.json"))]
        return sorted(out, key=lambda n: (n.created, n.name))

    def save_network(self, network: Network) -> None:
        _write_json(self.root / "networks" / f"{network.id}.json", network.to_json())

    def delete_network(self, network_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / "networks" / f"{network_id}.json").unlink()

    # endpoints
    def endpoints(self, container_id: str | None = None) -> list[Endpoint]:
        pattern = f"{container_id}/*.json" if container_id else "*/*.json"
        found = [Endpoint.from_json(_read_json(p), str(p)) for p in (self.root / "endpoints").glob(pattern)]
        # Interfaces are named eth0, eth1, … in connection order: that order is the endpoints' order.
        return sorted(found, key=lambda e: (e.container_id, len(e.ifname), e.ifname))

    def endpoint(self, container_id: str, network_id: str) -> Endpoint | None:
        path = self.root / "endpoints" / container_id / f"{network_id}.json"
        return Endpoint.from_json(_read_json(path), str(path)) if path.exists() else None

    def save_endpoint(self, endpoint: Endpoint) -> None:
        _write_json(self.root / "endpoints" / endpoint.container_id / f"{endpoint.network_id}.json",
                    endpoint.to_json())  # fmt: skip

    def delete_endpoint(self, container_id: str, network_id: str) -> None:
        directory = self.root / "endpoints" / container_id
        with contextlib.suppress(FileNotFoundError):
            (directory / f"{network_id}.json").unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()

    # resolvers
    def resolver_pid(self, container_id: str) -> int | None:
        try:
            return int((self.root / "resolvers" / f"{container_id}.pid").read_text())
        except (OSError, ValueError):
            return None

    def set_resolver_pid(self, container_id: str, pid: int | None) -> None:
        path = self.root / "resolvers" / f"{container_id}.pid"
        if pid is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(pid))

    def resolver_containers(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "resolvers").glob("*.pid"))
