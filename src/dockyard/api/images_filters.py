"""Decoding of Docker's `filters` query parameter (`{"label":{"a=b":true}}` or the old `{"label":["a=b"]}`)."""

from __future__ import annotations

import json

from dockyard.errors import InvalidArgument

Filters = dict[str, list[str]]


def parse_filters(text: str | None) -> Filters:
    """`{"label":{"a=b":true}}` (or the old `{"label":["a=b"]}`) → {"label": ["a=b"]}."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InvalidArgument(f"invalid filter: {err}") from err
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filter: expected a JSON object")
    out: Filters = {}
    for key, values in data.items():
        if isinstance(values, dict):
            out[str(key)] = sorted(str(v) for v, on in values.items() if on)
        elif isinstance(values, list):
            out[str(key)] = sorted(str(v) for v in values)
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
    return out
