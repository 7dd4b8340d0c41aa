"""engine.events: the append-only log, reading past and live events, Docker's filters and time parsing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dockyard.engine import events
from dockyard.errors import InvalidArgument
from dockyard.paths import Paths


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(data_root=str(tmp_path), exec_root=str(tmp_path / "run"))


def test_emit_then_read_past_events_in_order(paths: Paths) -> None:
    events.emit(paths, "container", "create", "abc", {"name": "web", "image": "busybox"})
    events.emit(paths, "container", "start", "abc", {"name": "web", "image": "busybox"})
    found = list(events.read(paths, since_ns=0))
    assert [e.action for e in found] == ["create", "start"]
    assert found[0].attrs == {"image": "busybox", "name": "web"}
    assert found[0].time_nano <= found[1].time_nano


def test_without_since_no_past_events_and_until_in_past_ends(paths: Paths) -> None:
    events.emit(paths, "image", "tag", "sha256:1")
    assert list(events.read(paths, until_ns=time.time_ns() - 1, follow=True)) == []
    assert list(events.read(paths)) == []


def test_follow_sees_new_events(paths: Paths) -> None:
    stop = threading.Event()
    seen: list[str] = []

    def reader() -> None:
        for e in events.read(paths, follow=True, stop=stop.is_set):
            seen.append(e.action)
            stop.set()

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.05)
    events.emit(paths, "container", "die", "abc", {"exitCode": "3"})
    thread.join(timeout=5)
    assert seen == ["die"]


def test_filters_and_or_semantics(paths: Paths) -> None:
    a = events.emit(paths, "container", "start", "aaa111", {"name": "web", "image": "busybox:latest", "x": "1"})
    b = events.emit(paths, "container", "exec_create: sh -c true", "bbb222", {"name": "db", "image": "redis"})
    c = events.emit(paths, "image", "tag", "sha256:cc", {"name": "busybox:latest"})
    match = events.matcher({"container": ["web", "db"], "event": ["start", "exec_create"]})
    assert [match(e) for e in (a, b, c)] == [True, True, False]
    assert events.matcher({"type": ["image"]})(c) and not events.matcher({"type": ["image"]})(a)
    assert events.matcher({"image": ["busybox"]})(a)
    assert events.matcher({"label": ["x=1"]})(a) and not events.matcher({"label": ["x=2"]})(a)
    assert events.matcher({"container": ["aaa"]})(a)  # an id prefix


def test_unknown_filter_and_bad_type_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="^invalid filter 'bogus'$"):
        events.matcher({"bogus": ["1"]})
    with pytest.raises(InvalidArgument, match="Invalid filter value for type: nope"):
        events.matcher({"type": ["nope"]})


def test_parse_time_forms() -> None:
    now = 1_700_000_000.0
    assert events.parse_time("1700000000", now) == 1_700_000_000 * 10**9
    assert events.parse_time("10m", now) == int((now - 600) * 1e9)
    assert events.parse_time("1h30m", now) == int((now - 5400) * 1e9)
    assert events.parse_time("2023-11-14T22:13:20Z", now) == 1_700_000_000 * 10**9
    with pytest.raises(InvalidArgument, match='failed to parse value as time or duration: "soon"'):
        events.parse_time("soon", now)


def test_rfc3339_ns_keeps_nanoseconds() -> None:
    assert events.rfc3339_ns("2023-11-14T22:13:20.000000123Z") == 1_700_000_000 * 10**9 + 123
    assert events.rfc3339_ns("0001-01-01T00:00:00Z") == 0


def test_rotation_keeps_previous_file_readable(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "ROTATE_BYTES", 200)
    for i in range(10):
        events.emit(paths, "container", f"a{i}", "x")
    assert Path(events.log_path(paths) + ".1").exists()
    actions = [e.action for e in events.read(paths, since_ns=0)]
    assert actions[-1] == "a9" and len(actions) >= 3 and actions == sorted(actions, key=lambda a: int(a[1:]))


def test_emit_never_raises_when_the_root_is_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    paths = Paths(data_root=str(blocker / "sub"), exec_root=str(tmp_path))
    event = events.emit(paths, "container", "start", "x")
    assert event.action == "start"
