"""The one rule for host features a privileged test needs: skip when missing, or fail when CI requires them.

Its own module, not conftest.py, so `from privileged_gate import require` is unambiguous: pytest
loads several conftest modules under the same name.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_PRIVILEGED = os.environ.get("DOCKYARD_REQUIRE_PRIVILEGED") == "1"


def require(condition: bool, why: str) -> None:
    """Inside a privileged test: skip when a host feature is missing, or fail when CI requires it."""
    if condition:
        return
    if REQUIRE_PRIVILEGED:
        pytest.fail(f"privileged test required (DOCKYARD_REQUIRE_PRIVILEGED=1) but {why}")
    pytest.skip(why)
