"""Typed reads of one field of a JSON request body, with Docker's `invalid field` messages; no I/O, no engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.errors import InvalidArgument


def typed(data: Mapping[str, Any], key: str, kind: type, what: str, default: Any) -> Any:
    """`data[key]` if it is a `kind` (`default` when absent or null); a whole float counts as an int, a bool never
    does (JSON decoders hand us 5.0 and True where Go would see a number and a bool)."""
    value = data.get(key)
    if value is None:
        return default
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidArgument(f"invalid field `{key}`: expected {what}")
    return value


def string_list(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """`data[key]` as a tuple of strings (empty when absent or null)."""
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid field `{key}`: expected an array of strings")
    return tuple(value)
