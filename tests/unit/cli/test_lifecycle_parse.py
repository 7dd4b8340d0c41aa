"""cli/lifecycle_parse.py and cli/attachio.Detector: the docker CLI's parsing of lifecycle flags."""

from __future__ import annotations

import pytest

from dockyard.cli import lifecycle_parse as lp
from dockyard.cli.attachio import Detector
from dockyard.errors import InvalidArgument


def test_go_durations() -> None:
    assert lp.go_duration("1h30m") == 5400 and lp.go_duration("500ms") == 0.5 and lp.go_duration("0") == 0
    assert lp.go_duration("1.5s") == 1.5 and lp.go_duration("soon") is None and lp.go_duration("10") is None
    with pytest.raises(InvalidArgument) as err:
        lp.duration_flag("x", "--health-interval")
    assert str(err.value) == 'invalid argument "x" for "--health-interval" flag: time: invalid duration "x"'


def test_timestamps() -> None:
    assert lp.get_timestamp("10m", now=1000.0) == "400"
    assert lp.get_timestamp("2026-01-02T03:04:05Z") == "1767323045.000000000"
    assert lp.get_timestamp("2026-01-02T03:04:05.5+01:00") == "1767319445.500000000"
    assert lp.get_timestamp("1767323045") == "1767323045"
    with pytest.raises(InvalidArgument) as err:
        lp.get_timestamp("yesterday")
    assert str(err.value) == 'failed to parse value as time or duration: "yesterday"'


def test_detach_keys() -> None:
    assert lp.detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert lp.detach_keys("a,ctrl-@,ctrl-\\") == b"a\x00\x1c"
    with pytest.raises(InvalidArgument):
        lp.detach_keys("ctrl-pq")


def test_restart_log_opts_and_health() -> None:
    assert lp.restart_policy("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert lp.log_opts(("max-size=1k", "max-file=2"), "json-file") == {"max-size": "1k", "max-file": "2"}
    with pytest.raises(InvalidArgument):
        lp.log_opts(("a=b",), "none")
    base = {"health_cmd": None, "health_interval": None, "health_timeout": None, "health_start_period": None,
            "health_retries": None, "no_healthcheck": False}  # fmt: skip
    assert lp.healthcheck(base) is None
    assert lp.healthcheck({**base, "no_healthcheck": True}) == {"Test": ["NONE"]}
    check = lp.healthcheck({**base, "health_cmd": "true", "health_interval": "2s", "health_retries": 4})
    assert check == {"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000, "Timeout": 0, "StartPeriod": 0,
                     "Retries": 4}  # fmt: skip


def test_detector_holds_back_a_prefix_and_detects_the_sequence() -> None:
    det = Detector(b"\x10\x11")
    assert det.feed(b"ab\x10") == (b"ab", False)
    assert det.feed(b"x") == (b"\x10x", False)
    assert det.feed(b"\x10\x11rest") == (b"", True)
