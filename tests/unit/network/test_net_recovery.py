"""Pieces of recovery and of `--dns` forwarding that need no root: which upstreams the embedded resolver gets,
finding helper processes by module, and recover_networks on a data root where nothing networked ran."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from dockyard.engine.networks import recover_networks
from dockyard.network import helpers
from dockyard.network.endpoints import EndpointOps
from dockyard.network.firewall import Firewall
from dockyard.network.manager import ManagerConfig
from dockyard.network.model import RecoveryReport
from dockyard.network.store import StateStore
from dockyard.paths import Paths


def ops(tmp_path: Path, upstreams: tuple[str, ...] | None) -> EndpointOps:
    config = ManagerConfig(state_dir=tmp_path / "state", firewall_lock=None, dns_upstreams=upstreams)
    return EndpointOps(StateStore(config.state_dir), Firewall(run=lambda a: (0, "")), config, "abcdef")


def test_dns_servers_of_the_container_win_over_the_engines_upstreams(tmp_path: Path) -> None:
    assert ops(tmp_path, ("10.0.0.53",)).upstreams(("192.0.2.1", "192.0.2.2")) == ("192.0.2.1", "192.0.2.2")
    assert ops(tmp_path, ("10.0.0.53",)).upstreams(()) == ("10.0.0.53",)


def test_find_helpers_sees_a_module_process_and_its_arguments() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "code", "--dyt-marker"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        found = dict(helpers.find_helpers("code"))
        while proc.pid not in found and time.monotonic() < deadline:  # until the child has exec'd
            time.sleep(0.01)
            found = dict(helpers.find_helpers("code"))
        assert found.get(proc.pid) == ["--dyt-marker"]
        assert proc.pid not in dict(helpers.find_helpers("dockyard.network.dns"))
    finally:
        proc.kill()
        proc.wait()


def test_recover_networks_without_network_state_removes_nothing(tmp_path: Path) -> None:
    paths = Paths(data_root=str(tmp_path / "data"), exec_root=str(tmp_path / "exec"))
    assert recover_networks(paths, live=("a" * 64,)) == RecoveryReport()
    assert not (tmp_path / "data" / "network").exists()
