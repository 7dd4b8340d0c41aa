"""Typed Go values for templates over docker's Go structs: nil pointer, nil slice, typed map and struct,
time.Duration, time.Time and json.Number. Data only, with Go's String methods; printing and evaluation live in
gotemplate_values and gotemplate_exec.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Final


class _NilPointer:
    """A typed nil (pointer, interface or `any` field of a Go struct): prints `<nil>`, unlike "no value"."""

    _instance: _NilPointer | None = None

    def __new__(cls) -> _NilPointer:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<nil>"

    def __bool__(self) -> bool:
        return False


NIL_POINTER: Final = _NilPointer()


class NilSlice(tuple[object, ...]):
    """A nil Go slice: empty and printing `[]` like any slice, but `null` in JSON."""

    __slots__ = ()


class Duration(int):
    """A time.Duration (nanoseconds): prints as Go's Duration.String, e.g. `1m30s`, `0s`."""

    __slots__ = ()

    def __str__(self) -> str:
        return go_duration(int(self))


class GoMap(Mapping[str, object]):
    """A typed Go map: a key it lacks reads as "no value" and `index` gives `zero`, the element type's zero
    value. A nil map prints `map[]` and is `null` in JSON. With a named key type (`nat.Port`) a string key is
    refused, by `index` and field syntax alike, as Go refuses an unassignable key."""

    __slots__ = ("entries", "key_type", "nil", "zero")

    def __init__(
        self, entries: dict[str, object], zero: object, *, nil: bool = False, key_type: str = "string"
    ) -> None:
        self.entries, self.zero, self.nil, self.key_type = entries, zero, nil, key_type

    def __getitem__(self, key: str) -> object:
        return self.entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


class GoStruct(Mapping[str, object]):
    """A typed Go struct: its fields in declaration order; a name it lacks is an error, not "no value".
    `embedded` names its anonymous (embedded) struct fields: their fields are promoted (`lookup`) and inlined
    in its JSON."""

    __slots__ = ("embedded", "fields", "json_names", "name", "omitempty")

    def __init__(
        self,
        name: str,
        fields: dict[str, object],
        omitempty: frozenset[str],
        json_names: Mapping[str, str] | None = None,
        embedded: frozenset[str] = frozenset(),
    ) -> None:
        self.name, self.fields, self.omitempty, self.embedded = name, fields, omitempty, embedded
        self.json_names: Mapping[str, str] = json_names or {}

    def lookup(self, name: str) -> tuple[bool, object]:
        """(found, value) of field `name`, its own or promoted from an embedded struct (Go's depth order)."""
        if name in self.fields:
            return True, self.fields[name]
        for field in self.embedded:
            inner = self.fields[field]
            if isinstance(inner, GoStruct):
                found, value = inner.lookup(name)
                if found:
                    return True, value
        return False, None

    def __getitem__(self, key: str) -> object:
        return self.fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)


class JsonNumber(str):
    """encoding/json's Number: docker's raw inspect fallback decodes numbers with UseNumber, so they are
    strings to the template (`len`, `eq` with a string) that print and encode as the number."""

    __slots__ = ()


_TIME = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


@dataclasses.dataclass(frozen=True, slots=True)
class GoTime:
    """A time.Time from its RFC 3339 JSON text: prints as Time.String, encodes as RFC3339Nano."""

    text: str

    def _parts(self) -> tuple[str, str, str, str] | None:
        match = _TIME.fullmatch(self.text)
        if match is None:
            return None
        date, clock, frac, zone = match.groups()
        return date, clock, (frac or "").rstrip("0"), zone

    def __str__(self) -> str:
        parts = self._parts()
        if parts is None:
            return self.text
        date, clock, frac, zone = parts
        offset = "+0000 UTC" if zone == "Z" else f"{zone.replace(':', '')} {zone.replace(':', '')}"
        return f"{date} {clock}{'.' + frac if frac else ''} {offset}"

    def rfc3339nano(self) -> str:
        parts = self._parts()
        if parts is None:
            return self.text
        date, clock, frac, zone = parts
        return f"{date}T{clock}{'.' + frac if frac else ''}{zone}"


def go_duration(ns: int) -> str:
    """time.Duration.String."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("\u00b5s", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _decimal(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0") if frac else ""
    return f"{whole}.{digits}" if digits else str(whole)


class RowContext(Mapping[str, object]):
    """A docker formatter row context (formatter.ContainerContext, imageContext, volumeContext…): the values of
    its argument-free methods by name. A template reads them as fields and a name it lacks is an error naming
    `go_name` (``can't evaluate field Nope in type *formatter.ContainerContext``); methods with arguments
    (`Label`) are Python methods of the subclass. `json` marshals it as docker's formatter.MarshalJSON does: a
    map of the values (sorted keys, HTML characters escaped)."""

    __slots__ = ("results", "used")
    go_name = "*formatter.Context"

    def __init__(self, results: dict[str, object]) -> None:
        self.results = results
        self.used: set[str] = set()  # the methods a template called (docker's FieldsUsed, for ps's `.Size`)

    def field(self, name: str) -> object:
        """The value of method `name`, as a template reads it (KeyError when there is none)."""
        value = self.results[name]
        self.used.add(name)
        return value

    def __getitem__(self, key: str) -> object:
        return self.results[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)
