"""`Model`: the base of frozen, slotted record classes that cost no code generation; no JSON, no I/O.

Why not `@dataclass(frozen=True, slots=True, kw_only=True)` (ARCHITECTURE.md §4): the decorator builds each class
by exec()ing generated source for `__init__`, `__eq__`, `__hash__`, `__repr__` and `__setattr__` (~0.3 ms a class
here), then builds the class a second time for the slots, and `import dataclasses` pulls in inspect, ast, dis and
tokenize (~5 ms). `dockyard-runtime` is a short-lived process that loads the ~35 classes of the runtime spec on
every invocation: that was 15 ms of a ~95 ms `run`. A `Model` subclass is made once, by the metaclass, from its
annotations (no exec, no second class) and shares generic methods with the same behaviour: keyword-only `__init__`
(pass `kw_only=False` in the class statement for positional arguments too), defaults, `field()` specifiers,
equality and hashing over the compared fields, `repr`, frozen attributes, slots, pickling/copying, `replace()`.
`typing.dataclass_transform` makes mypy check constructors exactly as for frozen keyword-only dataclasses.
Not supported (not needed): `__post_init__`, ordering, inheritance that reorders fields.
"""

from __future__ import annotations

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeGuard, TypeVar, dataclass_transform

    M = TypeVar("M", bound="Model")
    R = TypeVar("R")
else:

    def dataclass_transform(**_: object) -> object:  # only a marker for type checkers
        return lambda cls: cls


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assigning to or deleting a field of a model (dataclasses.FrozenInstanceError's counterpart)."""


class Field:
    """One field of a model: its Python name, JSON name, default and annotation (a string: PEP 563)."""

    __slots__ = ("annotation", "compare", "default", "factory", "json", "name", "repr")

    def __init__(
        self,
        name: str,
        annotation: str,
        *,
        json: str | None,
        default: Any,
        compare: bool,
        repr: bool,
        factory: Any = MISSING,
    ) -> None:
        self.name, self.annotation, self.default, self.factory = name, annotation, default, factory
        self.json, self.compare, self.repr = json or name, compare, repr

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.factory is MISSING

    def __repr__(self) -> str:
        return f"Field({self.name!r}, json={self.json!r}, default={self.default!r})"


class _Spec:
    """What `field()` returns inside a class body; the metaclass turns it into a `Field`."""

    __slots__ = ("compare", "default", "factory", "json", "repr")

    def __init__(self, json: str | None, default: Any, compare: bool, repr: bool, factory: Any = MISSING) -> None:
        self.json, self.default, self.compare, self.repr, self.factory = json, default, compare, repr, factory


def field(
    *,
    json: str | None = None,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    compare: bool = True,
    repr: bool = True,
) -> Any:
    """A model field with an optional JSON name; leave `compare`/`repr` true unless the value is derived.

    `default_factory` is called for each instance made without the field (a mutable default), as in dataclasses.
    """
    return _Spec(json, default, compare, repr, default_factory)


class _ModelMeta(type):
    def __new__(
        mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any], *, kw_only: bool = True, **kwargs: Any
    ) -> _ModelMeta:
        inherited: list[Field] = [f for base in bases for f in getattr(base, "__model_fields__", ())]
        own: list[Field] = []
        for fname, annotation in ns.get("__annotations__", {}).items():
            text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
            if text.startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = ns.pop(fname, MISSING)  # why: a slot and a class attribute of the same name cannot coexist
            spec = value if isinstance(value, _Spec) else _Spec(None, value, True, True)
            own.append(
                Field(
                    fname,
                    text,
                    json=spec.json,
                    default=spec.default,
                    compare=spec.compare,
                    repr=spec.repr,
                    factory=spec.factory,
                )
            )
        ns.setdefault("__slots__", tuple(f.name for f in own))
        cls = super().__new__(mcls, name, bases, ns, **kwargs)
        names = {f.name for f in own}
        fields = tuple([f for f in inherited if f.name not in names] + own)
        if not kw_only:
            _check_order(name, fields)
        cls.__model_fields__ = fields  # type: ignore[attr-defined]
        cls.__model_kw_only__ = kw_only  # type: ignore[attr-defined]
        cls.__model_compare__ = tuple(f.name for f in fields if f.compare)  # type: ignore[attr-defined]
        return cls


def _check_order(name: str, fields: tuple[Field, ...]) -> None:
    seen_default = False
    for f in fields:
        if f.required and seen_default:
            raise TypeError(f"{name}: non-default argument {f.name!r} follows default argument")
        seen_default = seen_default or not f.required


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Model(metaclass=_ModelMeta):
    """Base class of a frozen, slotted record; see the module docstring."""

    __slots__ = ()
    __model_fields__: ClassVar[tuple[Field, ...]] = ()
    __model_kw_only__: ClassVar[bool] = True
    __model_compare__: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        fields = cls.__model_fields__
        if args:
            _bind_positional(cls, fields, args, kwargs)
        setter = object.__setattr__
        for f in fields:
            value = kwargs.pop(f.name, MISSING)
            if value is MISSING:
                value = f.default
                if value is MISSING:
                    if f.factory is MISSING:
                        raise TypeError(f"{cls.__name__}.__init__() missing required argument: {f.name!r}")
                    value = f.factory()
            setter(self, f.name, value)
        if kwargs:
            raise TypeError(f"{cls.__name__}.__init__() got an unexpected keyword argument {next(iter(kwargs))!r}")

    def _compared(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__model_compare__])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Model)
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        parts = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__model_fields__ if f.repr)
        return f"{type(self).__qualname__}({parts})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), tuple(getattr(self, f.name) for f in self.__model_fields__)))


def _bind_positional(
    cls: type[Model], fields: tuple[Field, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    if cls.__model_kw_only__:
        raise TypeError(f"{cls.__name__}.__init__() takes keyword arguments only")
    if len(args) > len(fields):
        raise TypeError(f"{cls.__name__}.__init__() takes {len(fields)} positional arguments, {len(args)} given")
    for f, value in zip(fields, args, strict=False):
        if f.name in kwargs:
            raise TypeError(f"{cls.__name__}.__init__() got multiple values for argument {f.name!r}")
        kwargs[f.name] = value


def _rebuild(cls: type[Model], values: tuple[Any, ...]) -> Model:
    obj = object.__new__(cls)
    for f, value in zip(cls.__model_fields__, values, strict=True):
        object.__setattr__(obj, f.name, value)
    return obj


def replace(obj: R, /, **changes: Any) -> R:
    """A copy of `obj` with some fields changed (dataclasses.replace's counterpart; a dataclass goes to it)."""
    if not isinstance(obj, Model):
        import dataclasses  # only callers that hold a dataclass pay for the import, and they have it already

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    values = {f.name: getattr(obj, f.name) for f in obj.__model_fields__}
    for name in changes:
        if name not in values:
            raise TypeError(f"{type(obj).__name__}: no field {name!r}")
    values.update(changes)
    return type(obj)(**values)  # type: ignore[return-value]


def asdict(obj: Model) -> dict[str, Any]:
    """`obj` as a dict by Python field names, nested models and their tuples, lists and dicts converted too
    (dataclasses.asdict's counterpart)."""
    return {f.name: _plain(getattr(obj, f.name)) for f in obj.__model_fields__}


def _plain(value: Any) -> Any:
    if isinstance(value, Model):
        return asdict(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def fields(cls_or_obj: type[Model] | Model) -> tuple[Field, ...]:
    return cls_or_obj.__model_fields__


def is_model(tp: object) -> TypeGuard[type[Model]]:
    """Whether `tp` is a Model subclass (not an instance)."""
    return isinstance(tp, _ModelMeta)
