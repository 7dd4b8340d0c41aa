"""The cancellation token of blocking engine loops, and the follows (logs -f, events) that end on it."""

from __future__ import annotations

import os
import select
import threading
import time
from pathlib import Path

import pytest

from dockyard.engine import events
from dockyard.engine.cancel import Cancel, Cancelled
from dockyard.engine.logs import LogQuery, read_log
from dockyard.paths import Paths


def test_fileno_becomes_readable_when_set_from_another_thread() -> None:
    cancel = Cancel()
    fd = cancel.fileno()
    assert select.select([cancel], [], [], 0)[0] == []
    threading.Timer(0.05, cancel.set).start()
    assert select.select([cancel], [], [], 10)[0] == [cancel]
    with pytest.raises(Cancelled, match="cancelled: the client went away"):
        cancel.check()
    cancel.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_fileno_asked_after_set_is_readable_at_once() -> None:
    cancel = Cancel()
    cancel.set()
    cancel.set()  # idempotent
    assert select.select([cancel], [], [], 0)[0] == [cancel]
    cancel.close()


def test_set_after_close_only_sets_the_flag() -> None:
    cancel = Cancel()
    cancel.fileno()
    cancel.close()
    other_r, other_w = os.pipe()  # may reuse the closed numbers: a late set() must not write into them
    try:
        cancel.set()
        assert cancel.is_set()
        assert select.select([other_r], [], [], 0)[0] == []
    finally:
        os.close(other_r)
        os.close(other_w)
    assert cancel.wait(0) is True


def _drain_in_thread(it: object) -> threading.Thread:
    thread = threading.Thread(target=lambda: list(it), daemon=True)  # type: ignore[call-overload]
    thread.start()
    return thread


def test_logs_follow_ends_when_cancelled(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_bytes(b'{"log":"hi\\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}\n')
    cancel = Cancel()
    entries = read_log(str(log), LogQuery(follow=True, cancel=cancel), done=lambda: False)
    assert next(entries).data == b"hi\n"
    thread = _drain_in_thread(entries)
    time.sleep(0.1)
    assert thread.is_alive()  # following a live writer
    cancel.set()
    thread.join(5)
    assert not thread.is_alive()


def test_events_follow_ends_when_cancelled(tmp_path: Path) -> None:
    paths = Paths(data_root=str(tmp_path), exec_root=str(tmp_path / "run"))
    cancel = Cancel()
    thread = _drain_in_thread(events.read(paths, follow=True, cancel=cancel))
    time.sleep(0.1)
    assert thread.is_alive()
    cancel.set()
    thread.join(5)
    assert not thread.is_alive()
