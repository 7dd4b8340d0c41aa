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
import threading
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


def _names(directory: Path) -> list[str]:
    """Entries of a directory, sorted; none when it is missing (why not Path.glob: it compiles a regex per
    pattern, a cost every short-lived monitor pays again at exit)."""
    try:
        return sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _json_files(directory: Path) -> list[Path]:
    """The `*.json` files of a directory (the `.name.json.tmp` files of a write in progress are not)."""
    return [directory / n for n in _names(directory) if n.endswith(".json")]


class StateStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.leases = LeaseStore(root / "ipam")
        self.records_dir = root / "dns"
        # Networks as read under the lock: no other process can change them while it is held, so one
        # operation (connect, release) reads the files once instead of at every step; dropped with the lock.
        # Per thread: dockyardd's threads share one store, and only the holder's reads may be kept.
        self._held = threading.local()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._held.networks, self._held.holding = None, True
            yield
        finally:
            self._held.networks, self._held.holding = None, False
            os.close(fd)

    # networks
    def networks(self) -> list[Network]:
        held: list[Network] | None = getattr(self._held, "networks", None)
        if held is not None:
            return list(held)
        out = [Network.from_json(_read_json(p), p.name) for p in _json_files(self.root / "networks")]
        out.sort(key=lambda n: (n.created, n.name))
        if getattr(self._held, "holding", False):
            self._held.networks = out
        return list(out)

    def save_network(self, network: Network) -> None:
        self._held.networks = None
        _write_json(self.root / "networks" / f"{network.id}.json", network.to_json())

    def delete_network(self, network_id: str) -> None:
        self._held.networks = None
        with contextlib.suppress(FileNotFoundError):
            (self.root / "networks" / f"{network_id}.json").unlink()

    # endpoints
    def endpoints(self, container_id: str | None = None) -> list[Endpoint]:
        top = self.root / "endpoints"
        dirs = [top / container_id] if container_id else [top / name for name in _names(top)]
        found = [Endpoint.from_json(_read_json(p), str(p)) for d in dirs for p in _json_files(d)]
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
