"""Docker's json-file log driver: one `{"log":…,"stream":…,"time":…}` line per output line, with rotation
(`max-size`, `max-file`), read back with tail/since/until and followed across rotations.

The monitor writes entries (`LogWriter`); `read_log` reads them back. Option checking follows moby's jsonfilelog
(sizes are decimal: `10k` is 10000 bytes). Knows nothing of HTTP framing (stdcopy lives in api/).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping

from dockyard.engine.records import now
from dockyard.errors import InvalidArgument
from dockyard.oci.model import Model

TYPE_CHECKING = False  # why: `import typing` costs the slim monitor ~0.5 MB; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import BinaryIO

    from dockyard.engine.cancel import Cancel
    from dockyard.engine.records import ContainerRecord

# Go's encoding/json escapes these in strings; Docker's log lines carry the same bytes.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_POLL_MIN, _POLL_MAX = 0.001, 0.05
MAX_LINE = 16 * 1024  # moby's copier splits longer lines into partial messages of this size
DRIVERS = ("json-file", "none")
_JSON_FILE_OPTS = {"max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}
_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp])?b?", re.IGNORECASE)
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


class LogEntry(Model):
    stream: str  # stdout | stderr
    data: bytes
    time: str
    attrs: tuple[tuple[str, str], ...] = ()


class LogOptions(Model):
    """A json-file driver's validated options: -1 means no size limit."""

    max_size: int = -1
    max_files: int = 1


def log_attrs(record: ContainerRecord) -> dict[str, str] | None:
    """The `labels=` and `env=` log options: container labels and env values attached to every log line."""
    opts = record.host_config.log_opts or {}
    attrs: dict[str, str] = {}
    labels = record.config.labels or {}
    for key in filter(None, opts.get("labels", "").split(",")):
        if key in labels:
            attrs[key] = labels[key]
    env = dict(e.partition("=")[::2] for e in record.config.env)
    for key in filter(None, opts.get("env", "").split(",")):
        if key in env:
            attrs[key] = env[key]
    return attrs or None


def validate_log_config(driver: str, opts: Mapping[str, str] | None) -> LogOptions:
    """Docker's checks for --log-driver/--log-opt (moby daemon/logger jsonfilelog ValidateLogOpt and New)."""
    if driver not in DRIVERS:
        raise InvalidArgument(f"logger: no log driver named '{driver}' is registered")
    opts = opts or {}
    if driver == "none":
        if opts:
            raise InvalidArgument("logger: none driver does not take any options")  # moby: the driver has no opts
        return LogOptions()
    for key in opts:
        if key not in _JSON_FILE_OPTS:
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    max_size = -1
    if "max-size" in opts:
        max_size = from_human_size(opts["max-size"])
        if max_size <= 0:
            raise InvalidArgument("max-size must be a positive number")
    max_files = 1
    if "max-file" in opts:
        try:
            max_files = int(opts["max-file"])
        except ValueError as err:
            raise InvalidArgument(f'strconv.Atoi: parsing "{opts["max-file"]}": invalid syntax') from err
        if max_files < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    return LogOptions(max_size=max_size, max_files=max_files)


def from_human_size(text: str) -> int:
    """go-units FromHumanSize: decimal units (`10k` = 10000, `1.5m` = 1500000)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _DECIMAL[(m.group(2) or "").lower()])


def encode_entry(stream: str, data: bytes, timestamp: str, attrs: Mapping[str, str] | None = None) -> bytes:
    """One json-file line, byte-compatible with Docker's (invalid UTF-8 becomes U+FFFD, HTML characters escaped)."""
    text = _go_json(data.decode("utf-8", errors="replace"))
    extra = ""
    if attrs:
        extra = ',"attrs":{' + ",".join(f"{_go_json(k)}:{_go_json(v)}" for k, v in attrs.items()) + "}"
    return f'{{"log":{text},"stream":"{stream}"{extra},"time":"{timestamp}"}}\n'.encode()


def _go_json(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def rotated_paths(path: str, max_files: int) -> list[str]:
    """The log files, oldest first: <path>.N-1 … <path>.1, <path>."""
    return [f"{path}.{i}" for i in range(max_files - 1, 0, -1)] + [path]


class LogWriter:
    """Splits a stream's bytes into lines and appends one entry per line; rotates by size; `flush` writes a final
    partial line. `path=None` is the `none` driver: nothing is written."""

    def __init__(
        self, path: str | None, options: LogOptions | None = None, attrs: Mapping[str, str] | None = None
    ) -> None:
        self.path = path
        self.options = options or LogOptions()
        self.attrs = dict(attrs) if attrs else None
        self.pending: dict[str, bytes] = {}
        self.fd = -1
        self.size = 0
        if path is not None:
            self._open()

    def _open(self) -> None:
        assert self.path is not None
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self.fd).st_size

    def feed(self, stream: str, data: bytes) -> None:
        buf = self.pending.get(stream, b"") + data
        *lines, rest = buf.split(b"\n")
        stamp = now()
        for line in lines:
            self._write(encode_entry(stream, line + b"\n", stamp, self.attrs))
        while len(rest) >= MAX_LINE:
            self._write(encode_entry(stream, rest[:MAX_LINE], stamp, self.attrs))
            rest = rest[MAX_LINE:]
        self.pending[stream] = rest

    def flush(self, stream: str) -> None:
        rest = self.pending.pop(stream, b"")
        if rest:
            self._write(encode_entry(stream, rest, now(), self.attrs))

    def _write(self, line: bytes) -> None:
        if self.fd < 0:
            return
        if self.options.max_size > 0 and self.size >= self.options.max_size:
            self._rotate()
        os.write(self.fd, line)
        self.size += len(line)

    def _rotate(self) -> None:
        """moby loggerutils rotate: shift <path>.N-1 → .N … <path> → .1, or truncate when max-file is 1."""
        assert self.path is not None
        if self.options.max_files < 2:
            os.ftruncate(self.fd, 0)
            self.size = 0
            return
        os.close(self.fd)
        for i in range(self.options.max_files - 1, 1, -1):
            try:
                os.replace(f"{self.path}.{i - 1}", f"{self.path}.{i}")
            except FileNotFoundError:
                pass
        os.replace(self.path, f"{self.path}.1")
        self._open()

    def close(self) -> None:
        for stream in list(self.pending):
            self.flush(stream)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def decode_line(line: bytes) -> LogEntry | None:
    try:
        entry = json.loads(line)
        attrs = entry.get("attrs") or {}
        return LogEntry(
            stream=str(entry["stream"]),
            data=str(entry["log"]).encode(),
            time=str(entry["time"]),
            attrs=tuple(sorted((str(k), str(v)) for k, v in attrs.items())),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def time_ns(stamp: str) -> int:
    """RFC 3339 (`2026-01-02T03:04:05.123456789Z`, or with an offset) → ns since the epoch; 0 when unreadable."""
    import calendar  # lazy: the reader side only; the monitor's writer never parses stamps

    try:
        seconds = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0
    rest = stamp[19:]
    frac = 0
    if rest.startswith("."):
        digits = re.match(r"\.(\d+)", rest)
        if digits:
            frac = int(digits.group(1)[:9].ljust(9, "0"))
            rest = rest[digits.end() :]
    offset = re.fullmatch(r"([+-])(\d\d):(\d\d)", rest)
    if offset:
        delta = int(offset.group(2)) * 3600 + int(offset.group(3)) * 60
        seconds -= delta if offset.group(1) == "+" else -delta
    return seconds * 1_000_000_000 + frac


class LogQuery(Model):
    follow: bool = False
    cancel: Cancel | None = None  # set: a follow ends at its next poll (the daemon's client hung up)
    tail: int = -1  # -1: all
    since_ns: int = 0
    until_ns: int = 0
    max_files: int = 1


def read_log(
    path: str, query: LogQuery | None = None, *, done: Callable[[], bool] = lambda: True, follow: bool | None = None
) -> Iterator[LogEntry]:
    """The entries of a json-file log and its rotated files; with `follow`, keep reading the live file (across
    rotations) until `done()` says the writer has finished."""
    query = query or LogQuery()
    if follow is not None:
        query = LogQuery(follow=follow, tail=query.tail, since_ns=query.since_ns, until_ns=query.until_ns,
                         max_files=query.max_files, cancel=query.cancel)  # fmt: skip
    try:
        live = open(path, "rb")  # noqa: SIM115 - kept open across yields for following; closed in finally
    except FileNotFoundError:
        live = None
    try:
        entries = _read_files(rotated_paths(path, max(query.max_files, 1))[:-1], query)
        if live is not None:
            entries = _chain(entries, _read_open(live, query))
        if query.tail >= 0:
            entries = iter(deque(entries, maxlen=query.tail) if query.tail else ())
        yield from entries
        if live is not None and query.follow and not (query.until_ns and time.time_ns() > query.until_ns):
            yield from _follow(live, path, query, done)
    finally:
        if live is not None:
            live.close()


def _chain(first: Iterator[LogEntry], second: Iterator[LogEntry]) -> Iterator[LogEntry]:
    yield from first
    yield from second


def _keep(entry: LogEntry, query: LogQuery) -> bool:
    if query.since_ns or query.until_ns:
        stamp = time_ns(entry.time)
        if query.since_ns and stamp < query.since_ns:
            return False
        if query.until_ns and stamp > query.until_ns:
            return False
    return True


def _read_files(paths: list[str], query: LogQuery) -> Iterator[LogEntry]:
    for path in paths:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by _read_open
        except FileNotFoundError:
            continue
        with f:
            yield from _read_open(f, query)


def _read_open(f: BinaryIO, query: LogQuery) -> Iterator[LogEntry]:
    """Whole lines from the current position to the end; the position stays after the last whole line."""
    data = f.read()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        f.seek(end - len(data), os.SEEK_CUR)
    for line in data[:end].split(b"\n"):
        entry = decode_line(line) if line else None
        if entry is not None and _keep(entry, query):
            yield entry


def _follow(f: BinaryIO, path: str, query: LogQuery, done: Callable[[], bool]) -> Iterator[LogEntry]:
    """Entries appended after the initial read; re-opens the file when it was rotated away."""
    buf = b""
    delay = _POLL_MIN
    last = False
    try:
        while True:
            chunk = f.read(65536)
            if chunk:
                delay = _POLL_MIN
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    entry = decode_line(line)
                    if entry is not None and _keep(entry, query):
                        yield entry
                continue
            if _rotated(f.fileno(), path):
                try:
                    fresh = open(path, "rb")  # noqa: SIM115 - the caller's finally closes the first file only
                except FileNotFoundError:
                    return
                f.close()
                f, buf = fresh, b""
                continue
            if last or (query.until_ns and time.time_ns() > query.until_ns):
                return
            if done():
                last = True  # one more read: the writer may have appended after our previous read
                continue
            if query.cancel is None:
                time.sleep(delay)
            elif query.cancel.wait(delay):
                return
            delay = min(delay * 2, _POLL_MAX)
    finally:
        f.close()  # the last file opened here (closing the caller's file twice is harmless)


def _rotated(fd: int, path: str) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
