"""Docker's json-file log driver: one `{"log":…,"stream":…,"time":…}` line per output line, written and followed.

The monitor writes entries (`LogWriter`); `read_log` reads them back, optionally following until the container's
monitor is gone. Knows nothing of HTTP framing (stdcopy lives in api/).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dockyard.engine.records import now

# Go's encoding/json escapes these in strings; Docker's log lines carry the same bytes.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_POLL_MIN, _POLL_MAX = 0.001, 0.02


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    stream: str  # stdout | stderr
    data: bytes
    time: str


def encode_entry(stream: str, data: bytes, timestamp: str) -> bytes:
    """One json-file line, byte-compatible with Docker's (invalid UTF-8 becomes U+FFFD, HTML characters escaped)."""
    text = json.dumps(data.decode("utf-8", errors="replace"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return f'{{"log":{text},"stream":"{stream}","time":"{timestamp}"}}\n'.encode()


class LogWriter:
    """Splits a stream's bytes into lines and appends one entry per line; `flush` writes a final partial line."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.pending: dict[str, bytes] = {}

    def feed(self, stream: str, data: bytes) -> None:
        buf = self.pending.get(stream, b"") + data
        *lines, rest = buf.split(b"\n")
        stamp = now()
        out = b"".join(encode_entry(stream, line + b"\n", stamp) for line in lines)
        if out:
            os.write(self.fd, out)
        self.pending[stream] = rest

    def flush(self, stream: str) -> None:
        rest = self.pending.pop(stream, b"")
        if rest:
            os.write(self.fd, encode_entry(stream, rest, now()))

    def close(self) -> None:
        for stream in list(self.pending):
            self.flush(stream)
        os.close(self.fd)


def decode_line(line: bytes) -> LogEntry | None:
    try:
        entry = json.loads(line)
        return LogEntry(stream=str(entry["stream"]), data=str(entry["log"]).encode(), time=str(entry["time"]))
    except (ValueError, KeyError, TypeError):
        return None


def read_log(path: str, *, follow: bool = False, done: Callable[[], bool] = lambda: True) -> Iterator[LogEntry]:
    """The entries of a json-file log; with `follow`, keep reading until `done()` says the writer has finished."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - kept open across yields; closed in finally
    except FileNotFoundError:
        return
    try:
        buf = b""
        delay = _POLL_MIN
        while True:
            chunk = f.read(65536)
            if chunk:
                delay = _POLL_MIN
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    entry = decode_line(line)
                    if entry is not None:
                        yield entry
                continue
            if not follow:
                return
            if done():
                follow = False  # one last read: the writer may have appended after our previous read
                continue
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)
    finally:
        f.close()
