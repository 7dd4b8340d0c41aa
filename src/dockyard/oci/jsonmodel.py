"""Typed decoding of untrusted JSON into frozen dataclasses, naming the JSON path of any bad field.

A model field's JSON name is its `json` metadata (default: the Python name). Supported annotations:
str, int, bool, float, nested models, `X | None`, `tuple[X, ...]` and `dict[str, X]`, and any class with a
`__json_decode__(value, path)` classmethod and a `__json_encode__()` method (a scalar such as a digest). Semantic checks
(absolute paths, known enum values) live in each model's `_check(path)` hook. Pure: imports nothing of dockyard
but errors.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from dockyard.errors import SpecError

T = TypeVar("T")

_hints_cache: dict[type, dict[str, Any]] = {}


def json_name(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("json", f.name))


def field(json: str | None = None, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    """A dataclass field with an optional JSON name; mutable defaults are not needed (tuples are used)."""
    meta = {"json": json} if json else {}
    return dataclasses.field(default=default, metadata=meta, **kw)


def _hints(cls: type) -> dict[str, Any]:
    hints = _hints_cache.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _hints_cache[cls] = hints
    return hints


def _type_name(tp: Any) -> str:
    if tp is str:
        return "a string"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "a boolean"
    if tp is float:
        return "a number"
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "an array"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "an object"
    return str(tp)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def decode_value(tp: Any, value: Any, path: str) -> Any:
    """Decode `value` as type `tp`, raising SpecError naming `path` on mismatch."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return decode_value(args[0], value, path)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise SpecError(path, f"expected a boolean, got {_json_kind(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise SpecError(path, f"expected an integer, got {_json_kind(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(path, f"expected a number, got {_json_kind(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SpecError(path, f"expected a string, got {_json_kind(value)}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise SpecError(path, f"expected an array, got {_json_kind(value)}")
        (item_tp, _ellipsis) = typing.get_args(tp)
        return tuple(decode_value(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SpecError(path, f"expected an object, got {_json_kind(value)}")
        (_key_tp, val_tp) = typing.get_args(tp)
        return {str(k): decode_value(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    hook = getattr(tp, "__json_decode__", None)
    if hook is not None:
        return hook(value, path)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return decode(tp, value, path)
    raise TypeError(f"unsupported annotation {tp!r} at {path}")


def decode(cls: type[T], data: Any, path: str = "") -> T:
    """Build a model of type `cls` from a JSON object; unknown keys are ignored, as the spec allows."""
    if not isinstance(data, dict):
        raise SpecError(path or "(root)", f"expected an object, got {_json_kind(data)}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = json_name(f)
        sub = f"{path}.{key}" if path else key
        if key in data and data[key] is not None:
            kwargs[f.name] = decode_value(hints[f.name], data[key], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SpecError(sub, "required field is missing")
    obj = cls(**kwargs)
    check = getattr(obj, "_check", None)
    if check is not None:
        check(path)
    return obj


def encode(obj: Any) -> Any:
    """The JSON form of a model: None and empty optional containers are left out."""
    hook = getattr(obj, "__json_encode__", None)
    if hook is not None:
        return hook()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if value is None:
                continue
            out[json_name(f)] = encode(value)
        return out
    if isinstance(obj, tuple | list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    return obj
