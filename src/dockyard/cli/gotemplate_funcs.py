"""The functions a docker `--format` template can call: Go's builtins (text/template/funcs.go) and docker's
(cli/templates: json, split, join, title, lower, upper, pad, truncate), each with its Go signature so that
arguments are checked as Go checks them. No parsing or tree walking here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote_plus

from dockyard.cli.gotemplate_printf import Spec, format_arg, sprintf
from dockyard.cli.gotemplate_typed import NIL_POINTER, GoMap, GoStruct
from dockyard.cli.gotemplate_values import (
    MISSING,
    Boxed,
    UnsupportedJSON,
    go_json,
    go_type,
    is_list,
    sprint,
    sprintln,
    strip,
    unbox,
)
from dockyard.errors import DockyardError

# Parameter kinds and the Go types they stand for: reflect.Value takes anything (even "no value"),
# interface {} takes anything (no value becomes nil), the others must match.
Param = Literal["value", "any", "string", "int", "strings"]
GO_PARAM_TYPES: dict[Param, str] = {
    "value": "reflect.Value",
    "any": "interface {}",
    "string": "string",
    "int": "int",
    "strings": "[]string",
}


class FuncError(Exception):
    """A function's own error; execution reports it as ``error calling NAME: MESSAGE``."""


@dataclass(frozen=True, slots=True)
class Function:
    params: tuple[Param, ...]
    variadic: Param | None
    impl: Callable[..., object]


def truth(value: object) -> bool:
    """Go's isTrue: zero values, empty collections and no value are false; objects are true."""
    value = unbox(value)
    if value is MISSING or value is NIL_POINTER:
        return False
    if isinstance(value, GoStruct):
        return True
    if isinstance(value, (bool, int, float)):
        return value != 0
    if isinstance(value, (str, list, tuple, Mapping)):
        return len(value) > 0
    return True


# -- comparison ------------------------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is MISSING:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


_BASIC = ("bool", "int", "float", "string")


def _eq(first: object, *others: object) -> bool:
    a = unbox(first)
    if not others:
        raise FuncError("missing argument for comparison")
    for other in others:
        b = unbox(other)
        if _kind(a) != _kind(b):
            if a is not MISSING and b is not MISSING:
                raise FuncError("incompatible types for comparison")
            continue
        if _kind(a) in _BASIC or (a is MISSING and b is MISSING):
            if a == b:
                return True
            continue
        if isinstance(a, GoStruct) and isinstance(b, GoStruct) and _comparable(a) and _comparable(b):
            if a.name == b.name and a.fields == b.fields:  # Go compares comparable structs field by field
                return True
            continue
        for item in (a, b):
            if is_list(item) or isinstance(item, Mapping):
                raise FuncError(f"non-comparable type {format_arg(item, 's', Spec())}: {go_type(item)}")
        if a == b:
            return True
    return False


def _comparable(value: object) -> bool:
    """Go's Type.Comparable for a struct value: no slice or map anywhere in its fields."""
    if isinstance(value, GoStruct):
        return all(_comparable(field) for field in value.fields.values())
    return not (is_list(value) or isinstance(value, Mapping))


def _lt(first: object, second: object) -> bool:
    a, b = unbox(first), unbox(second)
    for value in (a, b):
        if _kind(value) not in _BASIC:
            raise FuncError("invalid type for comparison")
    if _kind(a) != _kind(b):
        raise FuncError("incompatible types for comparison")
    if _kind(a) == "bool":
        raise FuncError("invalid type for comparison")
    return bool(a < b)  # type: ignore[operator]


def _le(a: object, b: object) -> bool:
    return _lt(a, b) or _eq(a, b)


# -- indexing --------------------------------------------------------------------------------------------------


def _index_arg(index: object, cap: int) -> int:
    index = unbox(index)
    if index is MISSING:
        raise FuncError("cannot index slice/array with nil")
    if not isinstance(index, int) or isinstance(index, bool):
        raise FuncError(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return index


def _index(item: object, *indexes: object) -> object:
    item = strip(item)
    if item is MISSING or item is None:
        raise FuncError("index of untyped nil")
    for index in indexes:
        item = strip(item)
        if item is None:
            raise FuncError("index of nil pointer")
        if isinstance(item, (str, list, tuple)):
            seq: Sequence[object] | bytes = item.encode() if isinstance(item, str) else item
            position = _index_arg(index, len(seq))
            if position == len(seq):
                raise FuncError(f"reflect: {'string' if isinstance(item, str) else 'slice'} index out of range")
            item = seq[position] if isinstance(seq, bytes) else Boxed(seq[position])
        elif isinstance(item, Mapping) and not isinstance(item, GoStruct):
            key = unbox(index)
            if key is MISSING:
                raise FuncError("value is nil; should be of type string")
            if not isinstance(key, str):
                raise FuncError(f"value has type {go_type(key)}; should be string")
            if isinstance(item, GoMap):  # a typed map: a missing key is its element type's zero value
                if item.key_type != "string":
                    raise FuncError(f"value has type string; should be {item.key_type}")
                item = item.entries.get(key, item.zero)
                continue
            item = Boxed(item.get(key))
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: object, *indexes: object) -> object:
    item = strip(item)
    if item is MISSING or item is None:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        seq: Sequence[object] | bytes = item.encode()
    elif isinstance(item, (list, tuple)):
        seq = item
    else:
        raise FuncError(f"can't slice item of type {go_type(item)}")
    bounds = [0, len(seq), len(seq)]
    for i, index in enumerate(indexes):
        bounds[i] = _index_arg(index, len(seq))
    for low, high in ((bounds[0], bounds[1]), (bounds[1], bounds[2])):
        if low > high:
            raise FuncError(f"invalid slice index: {low} > {high}")
    part = seq[bounds[0] : bounds[1]]
    return part.decode("utf-8", "replace") if isinstance(part, bytes) else list(part)


def _len(item: object) -> int:
    if item is MISSING:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    item = strip(item)
    if item is None or item is NIL_POINTER:
        raise FuncError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, (list, tuple, Mapping)) and not isinstance(item, GoStruct):
        return len(item)
    raise FuncError(f"len of type {go_type(item)}")


def _call(fn: object, *args: object) -> object:
    fn = unbox(fn)
    if fn is MISSING:
        raise FuncError("call of nil")
    if not callable(fn):
        raise FuncError(f"non-function of type {go_type(fn)}")
    values = [strip(arg) for arg in args]
    try:
        inspect.signature(fn).bind(*values)
    except TypeError:
        raise FuncError(f"wrong number of args: got {len(values)}") from None
    except ValueError:
        pass
    try:
        return fn(*values)
    except DockyardError as err:
        raise FuncError(str(err)) from err


# -- escaping --------------------------------------------------------------------------------------------------


def _printable_args(args: Sequence[object]) -> str:
    if len(args) == 1 and isinstance(strip(args[0]), str):
        return str(strip(args[0]))
    return sprint(["<no value>" if strip(a) is None or a is MISSING else a for a in args])


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def _html(*args: object) -> str:
    return "".join(_HTML.get(ch, ch) for ch in _printable_args(args))


def _js_char(ch: str) -> str:
    if ch in _JS:
        return _JS[ch]
    if ch < " ":
        return f"\\u{ord(ch):04X}"
    if ord(ch) >= 0x80 and not ch.isprintable():
        return f"\\u{ord(ch):04X}"
    return ch


def _js(*args: object) -> str:
    return "".join(_js_char(ch) for ch in _printable_args(args))


def _urlquery(*args: object) -> str:
    return quote_plus(_printable_args(args), safe="")


# -- docker's functions ----------------------------------------------------------------------------------------


def _json(value: object) -> str:
    try:
        return go_json(value)
    except UnsupportedJSON:
        return ""  # docker ignores the encoder's error and prints what it wrote: nothing


def _title(text: str) -> str:
    """strings.Title: upper-case the first letter of each word (words end at spaces and punctuation)."""
    out: list[str] = []
    previous = " "
    for ch in text:
        out.append(_upper_rune(ch) if _is_separator(previous) else ch)
        previous = ch
    return "".join(out)


def _is_separator(ch: str) -> bool:
    if ord(ch) < 0x80:
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdecimal():
        return False
    return ch.isspace()


def _upper_rune(ch: str) -> str:
    upper = ch.upper()
    return upper if len(upper) == 1 else ch


def _lower_rune(ch: str) -> str:
    lower = ch.lower()
    return lower if len(lower) == 1 else ch


def _pad(source: str, prefix: int, suffix: int) -> str:
    return " " * prefix + source + " " * suffix if source else source


def _truncate(source: str, length: int) -> str:
    data = source.encode()
    if len(data) < length:
        return source
    if length < 0:
        raise FuncError(f"runtime error: slice bounds out of range [:{length}]")
    return data[:length].decode("utf-8", "replace")


def _split(text: str, sep: str) -> list[str]:
    return list(text) if sep == "" else text.split(sep)


BUILTINS: dict[str, Function] = {
    "and": Function(("value",), "value", lambda *args: args[-1]),  # evaluated lazily by the executor
    "or": Function(("value",), "value", lambda *args: args[-1]),
    "call": Function(("value",), "value", _call),
    "html": Function((), "any", _html),
    "index": Function(("value",), "value", _index),
    "slice": Function(("value",), "value", _slice),
    "js": Function((), "any", _js),
    "len": Function(("value",), None, _len),
    "not": Function(("value",), None, lambda arg: not truth(arg)),
    "print": Function((), "any", lambda *args: sprint(args)),
    "printf": Function(("string",), "any", lambda fmt, *args: sprintf(fmt, args)),
    "println": Function((), "any", lambda *args: sprintln(args)),
    "urlquery": Function((), "any", _urlquery),
    "eq": Function(("value",), "value", _eq),
    "ne": Function(("value", "value"), None, lambda a, b: not _eq(a, b)),
    "lt": Function(("value", "value"), None, _lt),
    "le": Function(("value", "value"), None, _le),
    "gt": Function(("value", "value"), None, lambda a, b: not _le(a, b)),
    "ge": Function(("value", "value"), None, lambda a, b: not _lt(a, b)),
    # docker/cli templates.basicFunctions
    "json": Function(("any",), None, _json),
    "split": Function(("string", "string"), None, _split),
    "join": Function(("strings", "string"), None, lambda elems, sep: sep.join(elems)),
    "title": Function(("string",), None, _title),
    "lower": Function(("string",), None, lambda s: "".join(map(_lower_rune, s))),
    "upper": Function(("string",), None, lambda s: "".join(map(_upper_rune, s))),
    "pad": Function(("string", "int", "int"), None, _pad),
    "truncate": Function(("string", "int"), None, _truncate),
}

# docker/cli templates.HeaderFunctions: a table header shows the column name, not a transformed one.
HEADER_FUNCTIONS: dict[str, Function] = {
    "json": Function(("string",), None, lambda v: v),
    "split": Function(("string", "string"), None, lambda v, _sep: v),
    "join": Function(("string", "string"), None, lambda v, _sep: v),
    "title": Function(("string",), None, lambda v: v),
    "lower": Function(("string",), None, lambda v: v),
    "upper": Function(("string",), None, lambda v: v),
    "truncate": Function(("string", "int"), None, lambda v, _n: v),
}
