"""Parsing of the lifecycle flags as the docker CLI parses them: Go durations (`1m30s`), `--since`/`--until`
times (docker/cli timetypes.GetTimestamp), `--restart`, `--detach-keys`, `--log-opt`, the `--health-*` set.
Pure functions; errors are InvalidArgument with the docker CLI's wording."""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

from dockyard.errors import InvalidArgument

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def go_duration(text: str) -> float | None:
    """Go's time.ParseDuration in seconds; None when `text` is not a duration."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    if not body:
        return None
    total, pos = 0.0, 0
    while pos < len(body):
        m = _PART.match(body, pos)
        if m is None:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def duration_flag(text: str, flag: str) -> int:
    """A duration flag's value in nanoseconds, with the docker CLI's message when it is not one."""
    seconds = go_duration(text)
    if seconds is None:
        raise InvalidArgument(f'invalid argument "{text}" for "{flag}" flag: time: invalid duration "{text}"')
    return round(seconds * 1e9)


def get_timestamp(value: str, now: float | None = None) -> str:
    """docker/cli GetTimestamp: a duration (`10m`: that long ago), RFC 3339 times and dates, or Unix seconds →
    the `seconds[.nanoseconds]` string the API takes."""
    reference = time.time() if now is None else now
    duration = go_duration(value)
    if value != "0" and duration is not None:
        return str(int(reference - duration))
    parsed = _parse_time(value)
    if parsed is not None:
        seconds, nanos = parsed
        return f"{seconds}.{nanos:09d}"
    if "-" in value or not re.fullmatch(r"\d+(\.\d{1,9})?", value):
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')
    return value


_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?"
)


def _parse_time(value: str) -> tuple[int, int] | None:
    m = _TIME.fullmatch(value)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    fields = (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    try:
        if zone is None:  # the CLI's local time zone
            seconds = int(time.mktime((*fields, 0, 0, -1)))
        else:
            seconds = calendar.timegm((*fields, 0, 0, 0))
            if zone not in ("Z", "z"):
                offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
                seconds -= offset if zone[0] == "+" else -offset
    except (OverflowError, ValueError):
        return None
    return seconds, int((frac or "0").ljust(9, "0"))


def restart_policy(text: str) -> dict[str, Any]:
    """docker/cli opts.ParseRestartPolicy → Docker's RestartPolicy object (the daemon checks the name)."""
    name, sep, count = text.partition(":")
    if sep and not name:
        raise InvalidArgument("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        try:
            retries = int(count)
        except ValueError as err:
            raise InvalidArgument("invalid restart policy format: maximum retry count must be an integer") from err
    return {"Name": name or "no", "MaximumRetryCount": retries}


_CTRL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def detach_keys(text: str) -> bytes:
    """moby term.ToBytes: `ctrl-p,ctrl-q` → b'\\x10\\x11'; single characters stand for themselves."""
    out = bytearray()
    for key in text.split(","):
        low = key.lower()
        if len(key) == 1:
            out.append(ord(key))
        elif low.startswith("ctrl-") and len(key) == 6 and ("a" <= low[5] <= "z" or low[5] in _CTRL):
            out.append(ord(low[5]) - ord("a") + 1 if "a" <= low[5] <= "z" else _CTRL[low[5]])
        else:
            raise InvalidArgument(f"Invalid detach keys ({text}) provided")
    return bytes(out)


def log_opts(values: tuple[str, ...], driver: str) -> dict[str, str]:
    """`--log-opt k=v` values; the `none` driver takes none (docker/cli parseLoggingOpts)."""
    opts = {}
    for value in values:
        key, _, val = value.partition("=")
        opts[key] = val
    if driver == "none" and opts:
        raise InvalidArgument(f"invalid logging opts for driver {driver}")
    return opts


def healthcheck(opts: dict[str, Any]) -> dict[str, Any] | None:
    """The --health-* and --no-healthcheck flags → Docker's Healthcheck object (None: the image's)."""
    given = {key: opts.get(key) for key in ("health_cmd", "health_interval", "health_timeout",
                                             "health_start_period", "health_retries")}  # fmt: skip
    if opts.get("no_healthcheck"):
        if any(v not in (None, "", 0) for v in given.values()):
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if all(v in (None, "") for v in given.values()):
        return None
    check: dict[str, Any] = {"Test": ["CMD-SHELL", given["health_cmd"]] if given["health_cmd"] else None}
    for key, flag, field in (("health_interval", "--health-interval", "Interval"),
                             ("health_timeout", "--health-timeout", "Timeout"),
                             ("health_start_period", "--health-start-period", "StartPeriod")):  # fmt: skip
        value = duration_flag(str(given[key]), flag) if given[key] else 0
        if value < 0:
            raise InvalidArgument(f"{flag} cannot be negative")
        check[field] = value
    retries = given["health_retries"] or 0
    if retries < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    check["Retries"] = retries
    return check
