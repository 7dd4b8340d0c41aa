"""Go's view of Python values for templates: the "no value" marker, interface boxes, type names, and printing
as Go's fmt (%v, Sprint, Sprintln) and encoding/json do. Nothing here parses or walks templates.

Values are plain Python data (dict/list/str/int/float/bool/None, as decoded from Docker's JSON) or objects
whose public attributes act as Go fields and methods.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Final

from dockyard.cli.gotemplate_typed import (
    NIL_POINTER,
    Duration,
    GoMap,
    GoStruct,
    GoTime,
    JsonNumber,
    NilSlice,
    RowContext,
)


class _Missing:
    """Go's invalid reflect.Value: a missing map key or nil data; prints as `<no value>`."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


@dataclasses.dataclass(frozen=True, slots=True)
class Boxed:
    """A value read out of a map or list: Go holds it as `interface {}` until a pipeline step unwraps it, which
    changes error texts (`can't evaluate field X in type interface {}`) and makes JSON null a nil interface."""

    value: object


def unbox(value: object) -> object:
    """What a finished pipeline command yields: interfaces unwrapped, nil turned into "no value"."""
    if isinstance(value, Boxed):
        value = value.value
    return MISSING if value is None else value


def strip(value: object) -> object:
    """The concrete value inside a box, keeping None (for functions that take `any`)."""
    return value.value if isinstance(value, Boxed) else value


def is_list(value: object) -> bool:
    return isinstance(value, (list, tuple))


def go_type(value: object) -> str:
    """The Go type name a docker CLI error would show for this value."""
    if isinstance(value, Boxed):
        return "interface {}"
    if isinstance(value, Duration):
        return "time.Duration"
    if isinstance(value, JsonNumber):
        return "json.Number"
    if isinstance(value, GoTime):
        return "time.Time"
    if isinstance(value, GoStruct):
        return value.name
    if isinstance(value, RowContext):
        return value.go_name
    if isinstance(value, GoMap):
        return "map[string]" + go_type(value.zero)
    if value is NIL_POINTER:
        return "*struct {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if is_list(value):
        return "[]interface {}"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if callable(value):
        return "func()"
    return type(value).__name__


def public_fields(obj: object) -> dict[str, object]:
    """The Go-visible fields of an object, for %v and json: a dataclass's fields in order (a Go struct), else
    its properties and zero-argument methods by name (docker's formatter.MarshalJSON of a row context)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if not f.name.startswith("_")}
    fields: dict[str, object] = {}
    for name in sorted(dir(type(obj))):
        if name.startswith("_"):
            continue
        attribute = getattr(type(obj), name)
        if isinstance(attribute, property):
            fields[name] = getattr(obj, name)
        elif inspect.isfunction(attribute) and _takes_no_arguments(getattr(obj, name)):
            fields[name] = getattr(obj, name)()
    return fields


def _takes_no_arguments(method: Callable[..., object]) -> bool:
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()
    )


# -- %v ------------------------------------------------------------------------------------------------------


def format_float(value: float, verb: str = "g", precision: int | None = None) -> str:
    """strconv.FormatFloat for the verbs e, E, f, F, g, G (precision None = shortest), Go's Inf/NaN spelling."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if verb in "eEfF":
        text = f"{value:.{6 if precision is None else precision}{verb.lower()}}"
        return text.upper() if verb in "EF" else text
    if precision is not None:
        text = f"{value:.{max(precision, 1)}g}"
        return text.upper() if verb == "G" else text
    sign, digits, exp = _shortest(value)
    nd, dp = len(digits), len(digits) + exp
    if dp - 1 < -4 or dp - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if nd > 1 else "")
        text = f"{sign}{mantissa}e{'-' if dp - 1 < 0 else '+'}{abs(dp - 1):02d}"
        return text.upper() if verb == "G" else text
    return sign + _fixed(digits, dp)


def _shortest(value: float) -> tuple[str, str, int]:
    """(sign, significant digits without trailing zeros, exponent) of the shortest repr that round-trips:
    abs(value) == int(digits) * 10**exponent."""
    sign_bit, digit_tuple, exp = Decimal(repr(value)).as_tuple()
    assert isinstance(exp, int)
    sign = "-" if sign_bit else ""
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return sign, "0", 0
    stripped = digits.rstrip("0")
    return sign, stripped, exp + len(digits) - len(stripped)


def _fixed(digits: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def format_v(value: object) -> str:
    """fmt's %v."""
    value = strip(value)
    if value is None or value is MISSING or value is NIL_POINTER:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if isinstance(value, Duration) else int.__repr__(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return value
    if is_list(value):
        assert isinstance(value, Sequence)
        return "[" + " ".join(format_v(item) for item in value) + "]"
    if isinstance(value, GoStruct):
        return "{" + " ".join(format_v(v) for v in value.fields.values()) + "}"
    if isinstance(value, GoTime):
        return str(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{format_v(k)}:{format_v(value[k])}" for k in sorted_keys(value)) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "{" + " ".join(format_v(v) for v in public_fields(value).values()) + "}"
    return str(value)


def sorted_keys(mapping: Mapping[object, object]) -> list[object]:
    try:
        return sorted(mapping)  # type: ignore[type-var]
    except TypeError:
        return sorted(mapping, key=str)


def sprint(args: Sequence[object]) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    previous_string = False
    for index, arg in enumerate(args):
        is_string = isinstance(strip(arg), str)
        if index and not is_string and not previous_string:
            out.append(" ")
        out.append(format_v(arg))
        previous_string = is_string
    return "".join(out)


def sprintln(args: Sequence[object]) -> str:
    return " ".join(format_v(arg) for arg in args) + "\n"


# -- encoding/json ---------------------------------------------------------------------------------------------


class UnsupportedJSON(ValueError):
    """A value encoding/json refuses (NaN, ±Inf)."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_string(text: str) -> str:
    encoded = json.dumps(_SURROGATE.sub("\ufffd", text), ensure_ascii=False)
    return encoded.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def json_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise UnsupportedJSON(f"json: unsupported value: {format_float(value)}")
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        sign, digits, exp = _shortest(value)
        dp = len(digits) + exp
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if dp - 1 < 0 else '+'}{abs(dp - 1)}"
    sign, digits, exp = _shortest(value)
    return sign + _fixed(digits, len(digits) + exp)


def go_json(value: object) -> str:
    """encoding/json with SetEscapeHTML(false), compact, map keys sorted (docker's `json` function)."""
    value = strip(value)
    if value is None or value is MISSING or value is NIL_POINTER or isinstance(value, NilSlice):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, JsonNumber):
        return str.__str__(value)
    if isinstance(value, GoTime):
        return json_string(value.rfc3339nano())
    if isinstance(value, str):
        return json_string(value)
    if is_list(value):
        assert isinstance(value, Sequence)
        return "[" + ",".join(go_json(item) for item in value) + "]"
    if isinstance(value, GoStruct):
        text = "{" + ",".join(f"{json_string(k)}:{v}" for k, v in _struct_members(value).items()) + "}"
        if value.name in MAP_MARSHALLED:  # its MarshalJSON goes through a map: every level's keys sorted
            return go_json(json.loads(text))
        return text
    if isinstance(value, GoMap) and value.nil:
        return "null"
    if isinstance(value, RowContext):  # formatter.MarshalJSON: json.Marshal of a map, so HTML is escaped
        value.used.update(value.results)
        items = sorted(value.results.items())
        text = "{" + ",".join(f"{json_string(k)}:{go_json(v)}" for k, v in items) + "}"
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if isinstance(value, Mapping):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{json_string(k)}:{go_json(v)}" for k, v in items) + "}"
    fields = public_fields(value)
    return "{" + ",".join(f"{json_string(k)}:{go_json(v)}" for k, v in fields.items()) + "}"


# Go types whose MarshalJSON re-encodes themselves as a map[string]any (moby's registry.ServiceConfig)
MAP_MARSHALLED = frozenset({"*registry.ServiceConfig"})


def _struct_members(value: GoStruct) -> dict[str, str]:
    """JSON name → encoded value of a struct's members; an embedded struct's members are inlined where it
    stands, and a name the outer struct has itself wins (encoding/json's rule for embedded fields)."""
    members: dict[str, str] = {}
    own = {value.json_names.get(k, k) for k in value.fields if k not in value.embedded}
    for key, item in value.fields.items():
        if (key in value.omitempty and _json_empty(item)) or value.json_names.get(key) == "-":
            continue
        if key in value.embedded:
            if isinstance(item, GoStruct):
                members.update((k, v) for k, v in _struct_members(item).items() if k not in own)
            continue
        members[value.json_names.get(key, key)] = go_json(item)
    return members


def _json_empty(value: object) -> bool:
    """encoding/json's isEmptyValue, for `omitempty`: false, 0, "", nil, empty slices and maps (not structs)."""
    if value is NIL_POINTER or value is None:
        return True
    if isinstance(value, GoStruct):
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, Mapping)):
        return not value
    return False
