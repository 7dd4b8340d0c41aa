"""Suite-wide pytest setup: privileged tests run for real as root and fail, not skip, under CI's requirement."""

from __future__ import annotations

import os

import pytest

REQUIRE_PRIVILEGED = os.environ.get("DOCKYARD_REQUIRE_PRIVILEGED") == "1"


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


def require(condition: bool, why: str) -> None:
    """Inside a privileged test: skip when a host feature is missing, or fail when CI requires it."""
    if condition:
        return
    if REQUIRE_PRIVILEGED:
        pytest.fail(f"privileged test required (DOCKYARD_REQUIRE_PRIVILEGED=1) but {why}")
    pytest.skip(why)
