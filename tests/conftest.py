"""Suite-wide pytest setup: privileged tests run for real as root and fail, not skip, under CI's requirement."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import host_guard
from privileged_gate import REQUIRE_PRIVILEGED, require

__all__ = ["REQUIRE_PRIVILEGED", "require"]


def privileged_unavailable() -> str | None:
    """Why privileged tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.isdir("/sys/fs/cgroup"):
        return "needs a cgroup filesystem"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("privileged") is None:
        return
    reason = privileged_unavailable()
    if reason is not None:
        require(False, reason)


def _drop_idle_default_bridges(base: Path, *, user_networks: bool = False) -> None:
    if os.geteuid() == 0:
        from net_teardown import data_roots, drop_idle_networks

        for root in data_roots(base):
            drop_idle_networks(root, user_networks=user_networks)


@pytest.fixture(autouse=True, scope="session")
def _idle_default_bridges_at_end(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Last sweep: a monitor may release its container's endpoint just after its module ended; user networks a
    test left in an idle private root go too (a bridge and its rules would otherwise outlive the run)."""
    yield
    _drop_idle_default_bridges(tmp_path_factory.getbasetemp(), user_networks=True)


@pytest.fixture(autouse=True, scope="module")
def _idle_default_bridges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After each module: the default bridges (and rules) of idle private data roots go (tests/net_teardown.py)."""
    yield
    _drop_idle_default_bridges(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _host_files_untouched() -> Iterator[None]:
    """Fails the test that changed a host file no test may touch (tests/host_guard.py)."""
    before = host_guard.stamps()
    yield
    changed = host_guard.changed(before, host_guard.stamps())
    if changed:
        pytest.fail(f"this test changed host files it must never touch: {', '.join(changed)}")
