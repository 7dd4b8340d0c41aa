"""engine/logs.py: the json-file writer with rotation, the driver options and reading back with tail/since/until."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.engine.logs import (
    LogOptions,
    LogQuery,
    LogWriter,
    from_human_size,
    read_log,
    time_ns,
    validate_log_config,
)
from dockyard.errors import InvalidArgument


def test_rotation_keeps_max_files(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = LogWriter(str(path), LogOptions(max_size=200, max_files=3))
    for i in range(100):
        writer.feed("stdout", f"line {i}\n".encode())
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    entries = list(read_log(str(path), LogQuery(max_files=3)))
    numbers = [int(e.data.split()[1]) for e in entries]
    assert numbers == list(range(100 - len(numbers), 100))
    assert all(p.stat().st_size < 200 + 100 for p in tmp_path.iterdir())


def test_max_file_one_truncates(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = LogWriter(str(path), LogOptions(max_size=100, max_files=1))
    for i in range(20):
        writer.feed("stderr", f"l{i}\n".encode())
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["c-json.log"]
    assert path.stat().st_size < 200


def test_none_driver_writes_nothing_and_partial_lines_are_split(tmp_path: Path) -> None:
    LogWriter(None).feed("stdout", b"x\n")
    path = tmp_path / "log"
    writer = LogWriter(str(path))
    writer.feed("stdout", b"a" * 20000)
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [len(e["log"]) for e in lines] == [16384, 20000 - 16384]


def test_tail_since_until(tmp_path: Path) -> None:
    path = tmp_path / "log"
    stamps = [f"2026-01-01T00:00:0{i}.000000000Z" for i in range(5)]
    path.write_text("".join(json.dumps({"log": f"{i}\n", "stream": "stdout", "time": t}) + "\n"
                            for i, t in enumerate(stamps)))  # fmt: skip
    data = lambda q: [e.data for e in read_log(str(path), q)]  # noqa: E731
    assert data(LogQuery(tail=2)) == [b"3\n", b"4\n"]
    assert data(LogQuery(tail=0)) == []
    assert data(LogQuery(since_ns=time_ns(stamps[3]))) == [b"3\n", b"4\n"]
    assert data(LogQuery(until_ns=time_ns(stamps[1]))) == [b"0\n", b"1\n"]
    assert time_ns("2026-01-01T01:00:00.5+01:00") == time_ns("2026-01-01T00:00:00.500000000Z")


@pytest.mark.parametrize(
    ("driver", "opts", "message"),
    [
        ("syslog", {}, "logger: no log driver named 'syslog' is registered"),
        ("json-file", {"colour": "red"}, "unknown log opt 'colour' for json-file log driver"),
        ("json-file", {"max-file": "0"}, "max-file cannot be less than 1"),
        ("json-file", {"max-size": "0"}, "max-size must be a positive number"),
        ("json-file", {"max-size": "big"}, "invalid size: 'big'"),
    ],
)
def test_bad_log_config(driver: str, opts: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_log_config(driver, opts)
    assert str(err.value) == message


def test_sizes_are_decimal() -> None:
    assert from_human_size("10k") == 10_000 and from_human_size("1.5m") == 1_500_000
    assert validate_log_config("json-file", {"max-size": "10k", "max-file": "3"}) == LogOptions(
        max_size=10_000, max_files=3
    )
