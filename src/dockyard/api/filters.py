"""Docker's `filters` query parameter: `{"key":{"value":true}}` (or the old `{"key":["value"]}`) → {key: [values]}.

Pure; every list endpoint that takes filters decodes them here. Validation of the keys is the engine's.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.errors import InvalidArgument


def decode(text: str | None) -> dict[str, list[str]]:
    if not text:
        return {}
    try:
        data: Any = json.loads(text)
    except ValueError as err:
        raise InvalidArgument(f"invalid filter: {err}") from err
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filter: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[str(key)] = sorted(str(v) for v, on in value.items() if on)
        elif isinstance(value, list):
            out[str(key)] = [str(v) for v in value]
        else:
            raise InvalidArgument(f"invalid filter: `{key}` must map to an object or an array")
    return out


def encode(filters: dict[str, list[str]]) -> str:
    """The client side: {key: [values]} → Docker's JSON form."""
    return json.dumps({k: dict.fromkeys(v, True) for k, v in filters.items() if v}, separators=(",", ":"))
