"""JSON for the runtime's hot path (config.json, state.json, sync messages) on json's C accelerator alone.

Why not `import json`: its pure-Python layer imports re, and re imports enum, functools and collections, ~3 ms of
every `dockyard-runtime` start; `_json` (the C half that json itself uses for the same work) imports nothing.
`loads` and `dumps` behave as json.loads and compact json.dumps(separators=(",", ":")): same results, same
ValueError subclasses (json.JSONDecodeError, raised by `_json` or, for the two errors json.decoder itself
reports, by importing json on that error path), same TypeError for values JSON cannot represent. Anything else
(indentation, sorting, hooks) is json's job: import it where needed, off the hot path.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any, NoReturn

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScannerContext:
    """The attributes `_json.make_scanner` reads from a json.JSONDecoder, with json.loads's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


def _unserializable(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_scan = _json.make_scanner(_ScannerContext())  # type: ignore[arg-type]  # typeshed: the context is duck-typed
_encode = _json.make_encoder(
    {}, _unserializable, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)  # (markers: circular check on, default, string encoder, indent, key sep, item sep, sort_keys, skipkeys, allow_nan)


def loads(data: str | bytes) -> Any:
    """json.loads for a document in UTF-8 (bytes in other encodings go through json itself)."""
    if isinstance(data, bytes | bytearray):
        if data[:1] in (b"\xef", b"\xfe", b"\xff") or b"\x00" in data[:4]:  # a BOM or UTF-16/32
            import json

            return json.loads(data)
        data = data.decode("utf-8")
    start = len(data) - len(data.lstrip(_WHITESPACE))
    try:
        value, end = _scan(data, start)
    except StopIteration as err:
        _fail("Expecting value", data, err.value)
    if data[end:].strip(_WHITESPACE):
        _fail("Extra data", data, end + len(data[end:]) - len(data[end:].lstrip(_WHITESPACE)))
    return value


def _fail(message: str, document: str, position: int) -> NoReturn:
    import json

    raise json.JSONDecodeError(message, document, position) from None


def dumps(value: Any) -> str:
    """json.dumps(value, separators=(",", ":")): compact, ASCII-only."""
    return "".join(_encode(value, 0))
