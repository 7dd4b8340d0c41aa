"""Image filters as moby applies them (images and image prune): JSON decoding, dangling, label, label!, before,
since, until, reference (Go's path.Match), and the error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.api.images_filters import parse_filters
from dockyard.engine.image_filters import LIST_FILTERS, PRUNE_FILTERS, go_path_match, predicate, timestamp, validate
from dockyard.errors import InvalidArgument, NotFound
from fixtures.images import add, layer
from fixtures.malicious_layers import file
from fixtures.transfer import store


@pytest.fixture
def images(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = store(tmp_path)
    add(s, [layer(file("a"))], ["old:1"], unpack=False, created="2020-01-01T00:00:00Z", labels={"tier": "db"})
    add(s, [layer(file("b"))], ["mid:1", "team/mid:2"], unpack=False, created="2022-01-01T00:00:00Z")
    add(s, [layer(file("c"))], [], unpack=False, created="2024-01-01T00:00:00Z", labels={"tier": "web", "x": ""})
    return s


def _names(s, filters: dict[str, list[str]], prune: bool = False) -> list[str]:  # type: ignore[no-untyped-def]
    test = predicate(s, filters, prune=prune)
    return sorted(",".join(i.repo_tags) or "<none>" for i in s.list() if test(i))


def test_parse_filters_both_json_forms() -> None:
    assert parse_filters('{"label":{"a=b":true,"c":false}}') == {"label": ["a=b"]}
    assert parse_filters('{"dangling":["true"]}') == {"dangling": ["true"]}
    assert parse_filters("") == {}
    with pytest.raises(InvalidArgument, match="^invalid filter: "):
        parse_filters("{nope")
    with pytest.raises(InvalidArgument, match="^invalid filter 'color'$"):
        validate({"color": ["red"]}, LIST_FILTERS)
    with pytest.raises(InvalidArgument, match="^invalid filter 'reference'$"):
        validate({"reference": ["x"]}, PRUNE_FILTERS)


def test_list_filters(images) -> None:  # type: ignore[no-untyped-def]
    assert _names(images, {"dangling": ["true"]}) == ["<none>"]
    assert _names(images, {"dangling": ["false"]}) == ["mid:1,team/mid:2", "old:1"]
    assert _names(images, {"label": ["tier"]}) == ["<none>", "old:1"]
    assert _names(images, {"label": ["tier=db"]}) == ["old:1"]
    assert _names(images, {"label": ["tier", "x"]}) == ["<none>"]
    assert _names(images, {"before": ["mid:1"]}) == ["old:1"]
    assert _names(images, {"since": ["mid:1"]}) == ["<none>"]
    assert _names(images, {"until": ["2021-06-01T00:00:00Z"]}) == ["old:1"]
    assert _names(images, {"reference": ["mid"]}) == ["mid:1,team/mid:2"]
    assert _names(images, {"reference": ["*/mid:*"]}) == ["mid:1,team/mid:2"]
    assert _names(images, {"reference": ["o*"]}) == ["old:1"]
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'dangling=\[maybe\]'$"):
        predicate(images, {"dangling": ["maybe"]})
    with pytest.raises(NotFound, match="^No such image: nope:latest$"):
        predicate(images, {"before": ["nope"]})


def test_prune_filters(images) -> None:  # type: ignore[no-untyped-def]
    assert _names(images, {}, prune=True) == ["<none>"]  # dangling only by default
    assert _names(images, {"dangling": ["false"], "label!": ["tier"]}, prune=True) == ["mid:1,team/mid:2"]
    assert _names(images, {"dangling": ["false"], "label": ["tier=web"]}, prune=True) == ["<none>"]


def test_go_path_match() -> None:
    assert go_path_match("busy*", "busybox:latest")
    assert not go_path_match("*", "team/app")  # `*` does not cross a slash
    assert go_path_match("team/*", "team/app")
    assert go_path_match("b?sy[a-z]ox", "busybox")
    assert go_path_match("[^a]x", "bx") and not go_path_match("[^a]x", "ax")
    assert not go_path_match("[", "[")  # a bad pattern matches nothing (path.ErrBadPattern)


def test_timestamp_forms() -> None:
    assert timestamp("10m", now=1000.0) == 400.0
    assert timestamp("1h30m", now=10_000.0) == 10_000.0 - 5400
    assert timestamp("1700000000") == 1_700_000_000.0
    assert timestamp("2024-01-01T00:00:00Z") == 1_704_067_200.0
    with pytest.raises(InvalidArgument, match='^failed to parse value as time or duration: "soon"$'):
        timestamp("soon")
