"""Suite-wide pytest setup: privileged tests run for real as root and fail, not skip, under CI's requirement."""

from __future__ import annotations

import os

import pytest

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
