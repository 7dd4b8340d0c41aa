"""Values as Go's exec.go checks them: literal and evaluated arguments against the parameters of template calls,
what `range` can iterate over, and Python objects' public attributes seen as Go fields and methods; no walking."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import NoReturn

from dockyard.cli import gotemplate_nodes as n
from dockyard.cli.gotemplate_funcs import GO_PARAM_TYPES, Function, Param
from dockyard.cli.gotemplate_typed import NIL_POINTER, GoMap, GoStruct, JsonNumber, RowContext
from dockyard.cli.gotemplate_values import MISSING, Boxed, format_v, go_type, is_list

Fail = Callable[[str], NoReturn]
PLAIN = (dict, list, tuple, str, int, float, bool, type(None), GoMap, GoStruct, type(NIL_POINTER))


def literal(kind: Param | None, node: n.Node, fail: Fail, ideal: Callable[[n.NumberNode], object]) -> object:
    """A literal argument (string, number, bool) for a parameter of `kind`; Go's message through `fail` else."""
    if kind == "string":
        if isinstance(node, n.StringNode):
            return node.text
        fail(f"expected string; found {node}")
    if kind == "int":
        if isinstance(node, n.NumberNode) and node.int_value is not None:
            return node.int_value
        fail(f"expected integer; found {node}")
    if kind == "strings":
        fail(f"can't handle {node} for arg of type []string")
    if isinstance(node, n.BoolNode):
        return node.value
    if isinstance(node, n.NumberNode):
        return ideal(node)
    if isinstance(node, n.StringNode):
        return node.text
    fail(f"can't handle {node} for arg of type interface {{}}")


def range_items(value: object, num_vars: int, fail: Fail) -> list[tuple[object, object]]:
    """(key, element) pairs `range` walks: list items, map entries by sorted key, 0..n-1 for an integer n."""
    if isinstance(value, GoStruct):  # a struct is a Mapping here, not to Go
        fail(f"range can't iterate over {format_v(value)}")
    if is_list(value):
        assert isinstance(value, (list, tuple))
        return [(i, Boxed(item)) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return [(key, Boxed(value[key])) for key in sorted(value)]
    if isinstance(value, int) and not isinstance(value, bool):
        if num_vars > 1:
            fail(f"can't use {value} to iterate over more than one variable")
        return [(i, i) for i in range(value)]
    if value is MISSING:
        return []
    fail(f"range can't iterate over {format_v(value)}")


def validated(value: object, kind: Param | None, fail: Fail) -> object:
    """An evaluated argument checked against a parameter of `kind`, with Go's messages (through `fail`)."""
    if kind in (None, "any", "value"):
        return None if value is MISSING and kind == "any" else value
    assert kind is not None
    want = GO_PARAM_TYPES[kind]
    if value is MISSING:
        if kind == "strings":
            return []
        fail(f"invalid value; expected {want}")
    inner = value.value if isinstance(value, Boxed) else value
    if inner is None:
        fail(f"wrong type for value; expected {want}; got interface {{}}")
    if kind == "string" and isinstance(inner, str) and not isinstance(inner, JsonNumber):
        return inner
    if kind == "int" and isinstance(inner, int) and not isinstance(inner, bool):
        return inner
    if kind == "strings" and isinstance(inner, (list, tuple)) and all(isinstance(s, str) for s in inner):
        return list(inner)
    fail(f"wrong type for value; expected {want}; got {go_type(inner)}")


ABSENT = object()


def go_attribute(value: object, name: str) -> object:
    """An object's public attribute as a Go field or method; plain data (and mapping helpers) have none."""
    if isinstance(value, PLAIN) or name.startswith("_"):
        return ABSENT
    if isinstance(value, RowContext):  # only its Go methods (`Label`), never Python's attributes
        return getattr(value, name, ABSENT) if name[:1].isupper() else ABSENT
    if isinstance(value, Mapping) and hasattr(Mapping, name):
        return ABSENT
    return getattr(value, name, ABSENT)


def method_function(method: object) -> Function:
    """A bound method as a template function taking untyped arguments."""
    assert callable(method)
    signature = inspect.signature(method).parameters.values()
    fixed = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty for p in signature)
    variadic = any(p.kind is p.VAR_POSITIONAL for p in signature)

    def call(*args: object) -> object:
        return method(*(a.value if isinstance(a, Boxed) else (None if a is MISSING else a) for a in args))

    any_param: Param = "any"
    params = (any_param,) * fixed
    return Function(params, "any" if variadic else None, call)
