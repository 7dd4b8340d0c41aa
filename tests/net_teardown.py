"""Test hygiene for networking: take down the default bridges (and their rules) of idle private data roots.

The engine keeps a default bridge up like Docker's docker0; a test suite makes many data roots, so the harness
(tests/conftest.py, after each module) removes what their idle networks hold. A root that still has endpoints
is left alone for the leak checks to report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from dockyard.paths import DEFAULT_DATA_ROOT

_DEPTH = 3  # base/<tmp>/<root>/network: the layouts the e2e harnesses use


def data_roots(base: Path) -> Iterator[Path]:
    """Data roots under `base` that hold network state (a few levels deep: never walk into rootfs trees)."""
    for depth in range(_DEPTH):
        pattern = "/".join(["*"] * depth + ["network", "networks"])
        for found in base.glob(pattern):
            yield found.parent.parent


def drop_idle_networks(root: Path, *, user_networks: bool = False) -> bool:
    """Purge `root`'s networks when it has no endpoint and only pre-defined networks (any networks with
    `user_networks`: at the session's end no fixture can still use them); True when it did."""
    from dockyard.engine.networks import ContainerNetworks
    from dockyard.paths import Paths

    if str(root) == DEFAULT_DATA_ROOT or any((root / "network" / "endpoints").glob("*/*.json")):
        return False
    networks = ContainerNetworks(Paths.from_env(str(root)), _no_lookup)
    manager = networks.manager
    if manager.endpoints() or not (user_networks or all(n.predefined for n in manager.networks())):
        return False
    bridges = [n.bridge for n in manager.networks() if n.bridge]
    if not any(os.path.exists(f"/sys/class/net/{b}") for b in bridges):
        return False
    manager.purge()
    return True


def _no_lookup(ref: str) -> object:
    raise LookupError(ref)
