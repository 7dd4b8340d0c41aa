"""Typed decoding of untrusted JSON into frozen models, naming the JSON path of any bad field; and the way back.

Models are `dockyard.oci.model.Model` subclasses or frozen dataclasses. A field's JSON name is its `json` (Model
`field(json=…)`, dataclass field metadata `json`; default: the Python name). Supported annotations: str, int, bool,
float, nested models, `X | None`, `tuple[X, ...]` and `dict[str, X]`, and any class with a
`__json_decode__(value, path)` classmethod and a `__json_encode__()` method (a scalar such as a digest). Semantic
checks (absolute paths, known enum values) live in each model's `_check(path)` hook. Pure: imports nothing of
dockyard but errors and model.

Start-up cost matters here (the runtime decodes a config.json per invocation): a Model's string annotations are
turned into types by a small parser (`_annotation`) instead of typing.get_type_hints, and `typing`/`dataclasses`
are imported only when a dataclass is decoded (a program that has dataclasses has imported them already).
"""

from __future__ import annotations

import sys
import types

from dockyard.errors import SpecError
from dockyard.oci.model import MISSING, is_model

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    import dataclasses
    from typing import Any, TypeVar

    T = TypeVar("T")

_hints_cache: dict[type, dict[str, Any]] = {}
_SCALARS: dict[str, Any] = {"str": str, "int": int, "bool": bool, "float": float, "bytes": bytes, "None": None}


def json_name(f: dataclasses.Field[Any]) -> str:
    """The JSON name of a dataclass field."""
    return str(f.metadata.get("json", f.name))


def field(json: str | None = None, default: Any = MISSING, **kw: Any) -> Any:
    """A dataclass field with an optional JSON name (Models use `dockyard.oci.model.field`)."""
    import dataclasses

    meta = {"json": json} if json else {}
    return dataclasses.field(default=dataclasses.MISSING if default is MISSING else default, metadata=meta, **kw)


def _split_top(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _annotation(text: str, namespace: dict[str, Any]) -> Any:
    """The type a (PEP 563 string) annotation names, for the forms models use; anything else is evaluated."""
    text = text.strip()
    alternatives = _split_top(text, "|")
    if len(alternatives) > 1:
        resolved = [_annotation(a, namespace) for a in alternatives]
        union = resolved[0] if resolved[0] is not None else type(None)
        for tp in resolved[1:]:
            union = union | (type(None) if tp is None else tp)
        return union
    if text in _SCALARS:
        return _SCALARS[text]
    if text.endswith("]") and "[" in text:
        head, _, inner = text[:-1].partition("[")
        args = _split_top(inner, ",")
        if head == "tuple" and len(args) == 2 and args[1] == "...":
            return tuple[_annotation(args[0], namespace), ...]  # type: ignore[misc]
        if head == "dict" and len(args) == 2:
            return dict[_annotation(args[0], namespace), _annotation(args[1], namespace)]  # type: ignore[misc]
    if text.isidentifier() and text in namespace:
        return namespace[text]
    return eval(text, namespace)  # why: a form the parser does not know; typing.get_type_hints evaluates too


def _hints(cls: type) -> dict[str, Any]:
    hints = _hints_cache.get(cls)
    if hints is None:
        if is_model(cls):
            namespace = vars(sys.modules[cls.__module__])
            hints = {f.name: _annotation(f.annotation, namespace) for f in cls.__model_fields__}
        else:
            hints = _dataclass_hints(cls)
        _hints_cache[cls] = hints
    return hints


def _dataclass_hints(cls: type) -> dict[str, Any]:
    """A dataclass's field types, parsed as for models when they are PEP 563 strings of the forms models use."""
    import dataclasses

    namespace = vars(sys.modules[cls.__module__])
    fields = dataclasses.fields(cls)
    if all(isinstance(f.type, str) for f in fields):
        # why: typing.get_type_hints would import typing (~0.5 MB) into the slim monitor, which decodes records
        try:
            return {f.name: _annotation(str(f.type), namespace) for f in fields}
        except Exception:  # a form the parser cannot read: typing's full evaluation decides
            pass
    import typing

    return typing.get_type_hints(cls)


def _fields(cls: type) -> list[tuple[str, str, bool]]:
    """(Python name, JSON name, required) of each field of a model class."""
    if is_model(cls):
        return [(f.name, f.json, f.required) for f in cls.__model_fields__]
    import dataclasses

    return [
        (f.name, json_name(f), f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    ]


def _is_dataclass(obj: Any) -> bool:
    module = sys.modules.get("dataclasses")  # why: no dataclass exists unless dataclasses was imported
    return module is not None and bool(module.is_dataclass(obj))


def _typing_special(tp: Any, name: str) -> bool:
    """Whether `tp` is typing.<name> (Any, Union); typing is not imported unless a dataclass needed it."""
    module = sys.modules.get("typing")
    return module is not None and tp is getattr(module, name)


def _type_name(tp: Any) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", float: "a number"}
    if tp in names:
        return names[tp]
    origin = getattr(tp, "__origin__", None)
    if origin is tuple:
        return "an array"
    if origin is dict or is_model(tp) or _is_dataclass(tp):
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


def _decode_scalar(tp: Any, value: Any, path: str) -> Any:
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
    if not isinstance(value, str):
        raise SpecError(path, f"expected a string, got {_json_kind(value)}")
    return value


def decode_value(tp: Any, value: Any, path: str) -> Any:
    """Decode `value` as type `tp`, raising SpecError naming `path` on mismatch."""
    if tp is str or tp is int or tp is bool or tp is float:
        return _decode_scalar(tp, value, path)
    origin = getattr(tp, "__origin__", None)
    if isinstance(tp, types.UnionType) or (origin is not None and _typing_special(origin, "Union")):
        if value is None:
            return None
        return decode_value(next(a for a in tp.__args__ if a is not type(None)), value, path)
    if _typing_special(tp, "Any"):
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise SpecError(path, f"expected an array, got {_json_kind(value)}")
        item_tp = tp.__args__[0]
        return tuple(decode_value(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SpecError(path, f"expected an object, got {_json_kind(value)}")
        val_tp = tp.__args__[1]
        return {str(k): decode_value(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    hook = getattr(tp, "__json_decode__", None)
    if hook is not None:
        return hook(value, path)
    if isinstance(tp, type) and (is_model(tp) or _is_dataclass(tp)):
        return decode(tp, value, path)
    raise TypeError(f"unsupported annotation {tp!r} at {path}")


def decode(cls: type[T], data: Any, path: str = "") -> T:
    """Build a model of type `cls` from a JSON object; unknown keys are ignored, as the spec allows."""
    if not isinstance(data, dict):
        raise SpecError(path or "(root)", f"expected an object, got {_json_kind(data)}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for name, key, required in _fields(cls):
        sub = f"{path}.{key}" if path else key
        value = data.get(key)
        if value is not None:
            kwargs[name] = decode_value(hints[name], value, sub)
        elif required:
            raise SpecError(sub, "required field is missing")
    obj = cls(**kwargs)
    check = getattr(obj, "_check", None)
    if check is not None:
        check(path)
    return obj


_LEAVES = frozenset((str, int, bool, float))  # encoded as they are


def encode(obj: Any) -> Any:
    """The JSON form of a model: None and empty optional containers are left out."""
    if type(obj) in _LEAVES:  # why first: most values are; the lookups below made a config.json 0.37 ms, not 0.12
        return obj
    hook = getattr(obj, "__json_encode__", None)
    if hook is not None:
        return hook()
    if is_model(type(obj)):
        return {f.json: encode(v) for f in obj.__model_fields__ if (v := getattr(obj, f.name)) is not None}
    if _is_dataclass(obj) and not isinstance(obj, type):
        import dataclasses

        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if value is not None:
                out[json_name(f)] = encode(value)
        return out
    if isinstance(obj, tuple | list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    return obj
