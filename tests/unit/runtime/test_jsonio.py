"""jsonio: the same results and errors as json.loads / compact json.dumps, without importing json."""

from __future__ import annotations

import json

import pytest

from dockyard.runtime import jsonio

DOCUMENTS = [
    "{}",
    ' {"a": 1} \n',
    '[1, 2.5, -3e2, true, false, null, {"b": []}]',
    '"x"',
    "NaN",
    "[Infinity, -Infinity]",
    r'{"s": "\u00e9\ud83d\ude00\n\"", "k": {"n": {}}}',
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_loads_matches_json(document: str) -> None:
    assert repr(jsonio.loads(document)) == repr(json.loads(document))
    assert repr(jsonio.loads(document.encode())) == repr(json.loads(document.encode()))


def test_loads_of_other_encodings_goes_through_json() -> None:
    assert jsonio.loads('{"a": "é"}'.encode("utf-16")) == {"a": "é"}
    assert jsonio.loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("document", ["", "  ", "{", "{}x", "{} {}", "[1,]", '{"a" 1}', '"\x01"', "01", "nul"])
def test_errors_match_json(document: str) -> None:
    with pytest.raises(ValueError) as theirs:
        json.loads(document)
    with pytest.raises(json.JSONDecodeError) as ours:
        jsonio.loads(document)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "value", [{"a": [1, 2.5, True, None, "é\U0001f600"]}, "x", 1, [], {"k": (1, 2)}, {1: 2}, float("nan")]
)
def test_dumps_matches_compact_json(value: object) -> None:
    assert jsonio.dumps(value) == json.dumps(value, separators=(",", ":"))


def test_dumps_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        jsonio.dumps({"a": object()})
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        jsonio.dumps(loop)
