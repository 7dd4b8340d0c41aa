"""Docker's image filters (`images --filter`, `image prune --filter`) matched against store images, with moby's
rules and messages (daemon/images/images.go, image_prune.go). Filters arrive decoded as {name: [values]}.

Pure apart from resolving `before=`/`since=` images through the store it is given.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.image.store import Image, ImageStore

Filters = dict[str, list[str]]
LIST_FILTERS = frozenset({"dangling", "label", "before", "since", "reference", "until"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def invalid(name: str, values: Sequence[str]) -> InvalidArgument:
    return InvalidArgument(f"invalid filter '{name}=[{' '.join(values)}]'")


def validate(filters: Filters, accepted: frozenset[str]) -> None:
    for name in sorted(filters):
        if name not in accepted:
            raise InvalidArgument(f"invalid filter '{name}'")


def dangling_only(filters: Filters, default: bool = False) -> bool:
    values = filters.get("dangling")
    if not values:
        return default
    if values == ["true"] or values == ["1"]:
        return True
    if values == ["false"] or values == ["0"]:
        return False
    raise invalid("dangling", values)


def match_labels(wanted: Sequence[str], labels: Mapping[str, str] | None) -> bool:
    """moby MatchKVList: every `k` or `k=v` is among the labels."""
    for item in wanted:
        key, has_value, value = item.partition("=")
        if labels is None or key not in labels or (has_value and labels[key] != value):
            return False
    return True


def go_path_match(pattern: str, name: str) -> bool:
    """Go's path.Match: `*` and `?` do not cross `/`; `[...]` classes; a bad pattern matches nothing."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                return False
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.fullmatch("".join(out), name) is not None
    except re.error:
        return False


def reference_match(pattern: str, familiar_string: str, familiar_name: str) -> bool:
    """reference.FamiliarMatch: against `busybox:latest`, then against the name alone."""
    return go_path_match(pattern, familiar_string) or go_path_match(pattern, familiar_name)


def timestamp(value: str, now: float | None = None) -> float:
    """Docker's timetypes.GetTimestamp: a Go duration before now, unix seconds, or an RFC 3339 date."""
    now = time.time() if now is None else now
    pos, total = 0, 0.0
    for m in _DURATION.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _SECONDS[m.group(2)]
        pos = m.end()
    if value and pos == len(value):
        return now - total
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"') from err
    return parsed.timestamp()  # a date without a zone is local time, as Docker reads it


def created_at(image: Image) -> float:
    """The image's `created` as unix seconds (0 when it has none or it does not parse)."""
    if not image.created:
        return 0.0
    try:
        return datetime.fromisoformat(_trim_fraction(image.created).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _trim_fraction(text: str) -> str:
    """Go writes up to 9 fractional digits; Python's fromisoformat takes at most 6."""
    return re.sub(r"(\.\d{6})\d+", r"\1", text)


def predicate(store: ImageStore, filters: Filters, *, prune: bool = False) -> Callable[[Image], bool]:
    """A test for one image from the (validated) filters: labels, before/since, until, dangling, reference."""
    labels = filters.get("label", [])
    not_labels = filters.get("label!", [])
    before = [created_at(store.get(ref)) for ref in filters.get("before", [])]
    since = [created_at(store.get(ref)) for ref in filters.get("since", [])]
    until = [timestamp(v) for v in filters.get("until", [])]
    dangling = dangling_only(filters, default=prune)
    dangling_set = "dangling" in filters or prune
    references = filters.get("reference", [])

    def test(image: Image) -> bool:
        created = created_at(image)
        config_labels = image.run_config.labels
        if dangling_set and dangling and image.repo_tags:
            return False
        if not prune and dangling_set and not dangling and not image.repo_tags:
            return False
        if labels and not match_labels(labels, config_labels):
            return False
        if not_labels and any(match_labels([item], config_labels) for item in not_labels):
            return False
        if any(created >= limit for limit in before) or any(created <= limit for limit in since):
            return False
        if any(created >= limit for limit in until):
            return False
        return not references or bool(matching_tags(image, references))

    return test


def matching_tags(image: Image, patterns: Sequence[str]) -> list[str]:
    """The image's familiar tags that one of the reference patterns matches."""
    return [
        ref.familiar_string()
        for ref in image.names
        if ref.tag is not None and ref.digest is None
        if any(reference_match(p, ref.familiar_string(), ref.familiar_name()) for p in patterns)
    ]
