"""Parsing of docker-style option values: sizes (`64m`), CPU counts, `-e`, `-l`; errors name the flag."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from dockyard.errors import InvalidArgument

_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp])?i?b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str, flag: str = "--memory") -> int:
    """go-units RAMInBytes: `64m`, `1g`, `512MiB`, `1024` (bytes)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise InvalidArgument(f'invalid argument "{text}" for "{flag}" flag: invalid size: \'{text}\'')
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def nano_cpus(text: str) -> int:
    try:
        value = float(text)
    except ValueError as err:
        raise InvalidArgument(
            f'invalid argument "{text}" for "--cpus" flag: failed to parse {text} as a rational number'
        ) from err
    if value < 0:
        raise InvalidArgument(f'invalid argument "{text}" for "--cpus" flag: value must be positive')
    return round(value * 1e9)


def env_entries(values: tuple[str, ...], environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """`-e K=V` as given; `-e K` takes K from our environment and is dropped when unset (docker)."""
    env = os.environ if environ is None else environ
    out = []
    for value in values:
        key, sep, _ = value.partition("=")
        if not key:
            raise InvalidArgument(f'invalid argument "{value}" for "-e, --env" flag: variable name is empty')
        if sep:
            out.append(value)
        elif key in env:
            out.append(f"{key}={env[key]}")
    return tuple(out)


def labels(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        key, _, val = value.partition("=")
        if not key:
            raise InvalidArgument(f'invalid argument "{value}" for "-l, --label" flag: label name is empty')
        out[key] = val
    return out
