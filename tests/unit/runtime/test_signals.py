"""parse_signal accepts runc's spellings and names the bad input."""

from __future__ import annotations

import signal

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.signals import parse_signal, signal_name


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("KILL", 9),
        ("SIGKILL", 9),
        ("kill", 9),
        ("sigterm", 15),
        ("9", 9),
        (" 15 ", 15),
        ("HUP", 1),
        ("SIGRTMIN", int(signal.SIGRTMIN)),
        ("SIGRTMIN+3", int(signal.SIGRTMIN) + 3),
        ("rtmax-2", int(signal.SIGRTMAX) - 2),
        ("SIGRTMAX", int(signal.SIGRTMAX)),
        ("IOT", 6),
        ("64", 64),
    ],
)
def test_parse_signal_accepts(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize(
    "text", ["", "0", "65", "-1", "FOO", "SIG", "SIGRTMIN-1", "SIGRTMAX+1", "SIGRTMIN+31", "SIGRTMIN+x", "9x"]
)
def test_parse_signal_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_signal(text)
    assert str(info.value) == f"invalid signal `{text}`"


def test_signal_name() -> None:
    assert signal_name(9) == "SIGKILL"
    assert signal_name(int(signal.SIGRTMIN) + 3) == "SIGRTMIN+3"
    assert signal_name(200) == "200"
