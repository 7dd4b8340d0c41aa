"""The filters of `docker volume ls` and `docker volume prune`, checked and matched as moby does; pure.

Filters arrive as {name: [values]} (the api layer decodes Docker's filters JSON). Sources: moby
daemon/volume/service/{service.go,convert.go,by.go} and daemon/internal/filters/{parse.go,errors.go}.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from dockyard.errors import InvalidArgument
from dockyard.volume import gocompat
from dockyard.volume.model import ANONYMOUS_LABEL, LOCAL_DRIVER, Volume

Filters = Mapping[str, Iterable[str]]
Predicate = Callable[[Volume], bool]

LIST_FILTERS = frozenset({"dangling", "name", "driver", "label"})
PRUNE_FILTERS = frozenset({"label", "label!", "all"})


def _invalid_filter(name: str, values: list[str] | None = None) -> InvalidArgument:
    # moby filters/errors.go invalidFilter: `invalid filter 'name'` or `invalid filter 'name=[v1 v2]'`
    shown = name if values is None else f"{name}={gocompat.go_list(values)}"
    return InvalidArgument(f"invalid filter '{shown}'")


def normalise(filters: Filters | None, accepted: frozenset[str]) -> dict[str, list[str]]:
    """Copy the filters into lists, refusing names outside `accepted` (moby filters.Args.Validate)."""
    result = {name: sorted(set(values)) for name, values in (filters or {}).items()}
    for name in sorted(result):
        if name not in accepted:
            raise _invalid_filter(name)
    return result


def match_kv_list(wanted: list[str], labels: Mapping[str, str] | None) -> bool:
    """moby Args.MatchKVList: every `k` or `k=v` in `wanted` is among `labels` (true when nothing is wanted)."""
    if not wanted:
        return True
    if not labels:
        return False
    for item in wanted:
        key, has_value, value = item.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


def _name_matches(patterns: list[str], name: str) -> bool:
    # moby Args.Match: an exact value, or a regular expression found anywhere in the name
    for pattern in patterns:
        if pattern == name:
            return True
        try:
            if re.search(pattern, name):
                return True
        except re.error:
            continue
    return False


def _dangling(values: list[str]) -> bool:
    # moby Args.GetBoolOrDefault
    if not values:
        raise _invalid_filter("dangling")
    is_false = "0" in values or "false" in values
    is_true = "1" in values or "true" in values
    if is_false == is_true:
        raise _invalid_filter("dangling", values)
    return is_true


def _label_predicates(filters: dict[str, list[str]]) -> list[Predicate]:
    predicates: list[Predicate] = []
    if filters.get("label"):
        wanted = filters["label"]
        predicates.append(lambda v: match_kv_list(wanted, v.labels))
    if filters.get("label!"):
        unwanted = filters["label!"]
        predicates.append(lambda v: not match_kv_list(unwanted, v.labels))
    return predicates


def list_predicate(filters: Filters | None) -> Predicate:
    """The test a volume must pass to be listed by `docker volume ls --filter …`."""
    args = normalise(filters, LIST_FILTERS)
    predicates = _label_predicates(args)
    if args.get("driver"):
        drivers = args["driver"]
        predicates.append(lambda v: v.driver in drivers)
    if args.get("name"):
        patterns = args["name"]
        predicates.append(lambda v: _name_matches(patterns, v.name))
    if "dangling" in args:
        dangling = _dangling(args["dangling"])
        predicates.append(lambda v: v.in_use != dangling)
    return lambda v: all(p(v) for p in predicates)


def prune_predicate(filters: Filters | None) -> Predicate:
    """The test a volume must pass to be pruned: local, unused, no mount options, matching labels, and
    anonymous unless `all=true` (Docker ≥ 23)."""
    args = normalise(filters, PRUNE_FILTERS)
    everything = False
    if "all" in args:
        values = args.pop("all")
        if len(values) > 1:
            # moby volume/service/convert.go withPrune
            raise InvalidArgument(f"invalid filter 'all={gocompat.go_list(values)}': only one value is expected")
        if values:
            try:
                everything = gocompat.parse_bool(values[0])
            except gocompat.GoValueError as err:
                raise InvalidArgument(f"invalid filter 'all': {err}") from err
    if not everything:
        args.setdefault("label", []).append(ANONYMOUS_LABEL)
    predicates = _label_predicates(args)
    return lambda v: (v.driver == LOCAL_DRIVER and not v.in_use and not v.options and all(p(v) for p in predicates))
