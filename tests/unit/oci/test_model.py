"""`Model`: dataclass-like behaviour of the record base (init, defaults, equality, frozen, slots, copies) and JSON."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import ClassVar

import pytest

from dockyard.errors import SpecError
from dockyard.oci.jsonmodel import decode, encode
from dockyard.oci.model import FrozenInstanceError, Model, asdict, field, fields, is_model, replace


class Inner(Model):
    size: int
    label: str | None = None


class Outer(Model):
    name: str = field(json="Name")
    inners: tuple[Inner, ...] = ()
    first: Inner | None = None
    tags: dict[str, str] | None = None
    cache: str = field(default="", compare=False, repr=False)
    KIND: ClassVar[str] = "outer"

    def _check(self, path: str) -> None:
        if not self.name:
            raise SpecError(f"{path}.Name" if path else "Name", "must not be empty")


class Point(Model, kw_only=False):
    x: int
    y: int = 0


class Point3(Point, kw_only=False):
    z: int = 0


def test_keyword_construction_and_defaults() -> None:
    inner = Inner(size=3)
    assert (inner.size, inner.label) == (3, None)
    assert Outer(name="o").inners == ()


def test_constructor_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match="missing required argument: 'size'"):
        Inner()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        Inner(size=1, bogus=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="keyword arguments only"):
        Inner(1)  # type: ignore[misc]


def test_positional_models() -> None:
    assert Point(1, 2) == Point(x=1, y=2)
    assert Point3(1, 2, 3).z == 3
    with pytest.raises(TypeError, match="takes 2 positional arguments, 3 given"):
        Point(1, 2, 3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Point(1, x=2)  # type: ignore[misc]


def test_required_after_default_is_refused_for_positional_models() -> None:
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):

        class Bad(Model, kw_only=False):
            a: int = 0
            b: int  # type: ignore[misc]


def test_equality_hash_and_repr_skip_uncompared_fields() -> None:
    a = Outer(name="o", cache="x")
    b = Outer(name="o", cache="y")
    assert a == b and hash(a) == hash(b)
    assert a != Outer(name="p")
    assert a != Inner(size=1)
    assert repr(Inner(size=1)) == "Inner(size=1, label=None)"
    assert "cache" not in repr(a)


def test_frozen_and_slotted() -> None:
    inner = Inner(size=1)
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'size'"):
        inner.size = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del inner.size
    assert not hasattr(inner, "__dict__")
    assert Outer.KIND == "outer" and "KIND" not in [f.name for f in fields(Outer)]


def test_replace_copy_and_pickle() -> None:
    outer = Outer(name="o", inners=(Inner(size=1),), tags={"a": "b"})
    changed = replace(outer, name="p")
    assert (changed.name, changed.inners, outer.name) == ("p", outer.inners, "o")
    with pytest.raises(TypeError, match="no field 'nope'"):
        replace(outer, nope=1)
    assert copy.deepcopy(outer) == outer
    assert copy.copy(outer) == outer
    assert pickle.loads(pickle.dumps(outer)) == outer


class Bag(Model):
    items: dict[str, str] = field(default_factory=dict, json="Items")
    name: str = "bag"


def test_default_factory_makes_a_fresh_value_per_instance() -> None:
    first, second = Bag(), Bag()
    assert first.items == {} and first.items is not second.items
    assert Bag(items={"a": "b"}).items == {"a": "b"}
    assert [(f.name, f.required) for f in fields(Bag)] == [("items", False), ("name", False)]
    assert decode(Bag, {}) == Bag() and decode(Bag, {"Items": {"k": "v"}}).items == {"k": "v"}


@dataclasses.dataclass(frozen=True)
class _Plain:
    a: int
    b: int = 0


def test_asdict_converts_nested_models() -> None:
    outer = Outer(name="o", inners=(Inner(size=1), Inner(size=2, label="x")), first=Inner(size=3), tags={"a": "b"})
    assert asdict(outer) == {
        "name": "o",
        "inners": ({"size": 1, "label": None}, {"size": 2, "label": "x"}),
        "first": {"size": 3, "label": None},
        "tags": {"a": "b"},
        "cache": "",
    }


def test_replace_also_serves_dataclasses() -> None:
    assert replace(_Plain(a=1), b=2) == _Plain(a=1, b=2)
    with pytest.raises(TypeError):
        replace(_Plain(a=1), nope=3)


def test_fields_and_is_model() -> None:
    assert [(f.name, f.json, f.required) for f in fields(Inner)] == [("size", "size", True), ("label", "label", False)]
    assert fields(Outer)[0].json == "Name"
    assert is_model(Outer) and not is_model(Outer(name="o")) and not is_model(int)


def test_json_round_trip_with_json_names() -> None:
    data = {"Name": "o", "inners": [{"size": 1}, {"size": 2, "label": "x"}], "first": {"size": 3}, "tags": {"k": "v"}}
    outer = decode(Outer, data)
    assert outer == Outer(
        name="o", inners=(Inner(size=1), Inner(size=2, label="x")), first=Inner(size=3), tags={"k": "v"}
    )
    assert encode(outer) == {**data, "inners": [{"size": 1}, {"size": 2, "label": "x"}], "cache": ""}


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        ({}, "Name", "required field is missing"),
        ({"Name": ""}, "Name", "must not be empty"),
        ({"Name": "o", "inners": [{"size": "1"}]}, "inners[0].size", "expected an integer, got a string"),
        ({"Name": "o", "first": []}, "first", "expected an object, got an array"),
        ({"Name": "o", "tags": {"k": 1}}, "tags.k", "expected a string, got a number"),
    ],
)
def test_json_errors_name_the_path(data: dict[str, object], path: str, reason: str) -> None:
    with pytest.raises(SpecError) as info:
        decode(Outer, data)
    assert (info.value.path, info.value.reason) == (path, reason)
