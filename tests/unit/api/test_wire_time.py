"""api/wire.py parse_time (RFC 3339 UTC → epoch seconds, as ps and events use it) and formatting.cell_width."""

from __future__ import annotations

import pytest

from dockyard.api.wire import parse_time
from dockyard.cli.formatting import cell_width


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000.0),  # nanoseconds: whole seconds, as before
        ("0001-01-01T00:00:00Z", -62_135_596_800.0),  # Go's zero time (a container never started)
        ("", 0.0),
        ("garbage", 0.0),
        ("2023-11-14", 0.0),  # a date alone is not Docker's form
        ("2023-11-14 22:13:20", 0.0),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text) == expected


def test_cell_width_counts_wide_and_combining_characters_like_go_runewidth() -> None:
    assert cell_width("busybox") == 7
    assert cell_width("コンテナ") == 8  # wide East Asian: two columns each
    assert cell_width("e\u0301") == 1  # a combining accent takes no column
