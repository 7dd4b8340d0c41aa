"""engine/logs.py: Docker's json-file log lines, written by line and read back (also while following)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dockyard.engine.logs import LogWriter, encode_entry, read_log

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")


def test_entry_is_byte_compatible_with_docker() -> None:
    line = encode_entry("stdout", b"hello\n", "2026-01-02T03:04:05.123456789Z")
    assert line == b'{"log":"hello\\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}\n'


def test_go_escapes_and_invalid_utf8() -> None:
    line = encode_entry("stderr", b"<a&b>\xff\xc3\xa9\n", "t")
    assert line == '{"log":"\\u003ca\\u0026b\\u003e\ufffdé\\n","stream":"stderr","time":"t"}\n'.encode()


def test_writer_splits_lines_and_flushes_a_partial_one(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = LogWriter(str(path))
    writer.feed("stdout", b"hel")
    writer.feed("stdout", b"lo\nwor")
    writer.feed("stderr", b"oops\n")
    writer.close()
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["stream"], e["log"]) for e in entries] == [
        ("stdout", "hello\n"),
        ("stderr", "oops\n"),
        ("stdout", "wor"),
    ]
    assert all(TIME.fullmatch(e["time"]) for e in entries)
    assert list(entries[0]) == ["log", "stream", "time"]


def test_read_log_round_trips_and_skips_garbage(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(encode_entry("stdout", b"a\n", "t1") + b"not json\n" + encode_entry("stderr", b"b\n", "t2"))
    assert [(e.stream, e.data, e.time) for e in read_log(str(path))] == [
        ("stdout", b"a\n", "t1"),
        ("stderr", b"b\n", "t2"),
    ]


def test_follow_reads_what_is_appended_until_done(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(encode_entry("stdout", b"1\n", "t"))
    polls = {"n": 0}

    def done() -> bool:
        polls["n"] += 1
        if polls["n"] == 2:
            with open(path, "ab") as f:
                f.write(encode_entry("stdout", b"2\n", "t"))
        return polls["n"] >= 3

    assert [e.data for e in read_log(str(path), follow=True, done=done)] == [b"1\n", b"2\n"]


def test_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert list(read_log(str(tmp_path / "nope"), follow=True)) == []
