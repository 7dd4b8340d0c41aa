"""The engine's event log: an append-only JSON-lines file under the data root, written by every operation, read
(and followed) by `docker events`. `emit` is the one call other engine modules make.

One line per event, appended with O_APPEND in a single write(2) so concurrent CLIs and monitors never interleave
(lines stay far below the pipe/page size). The file rotates once it passes ROTATE_BYTES (one previous file is
kept, as Docker keeps a bounded in-memory ring). Knows Docker's event vocabulary, not its JSON wire shape.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument
from dockyard.oci.model import Model

if TYPE_CHECKING:
    from dockyard.engine.cancel import Cancel
    from dockyard.engine.records import ContainerRecord
    from dockyard.paths import Paths

ROTATE_BYTES = 4 << 20
_POLL_MIN, _POLL_MAX = 0.005, 0.1
FILTERS = frozenset({"container", "event", "type", "image", "label", "network", "volume", "daemon", "plugin",
                     "node", "service", "secret", "config", "scope"})  # fmt: skip
TYPES = frozenset({"container", "image", "volume", "network", "daemon", "plugin", "node", "service", "secret",
                   "config", "builder"})  # fmt: skip


class Event(Model):
    type: str  # container | image | volume | network | daemon | builder
    action: str  # create, start, die, exec_create: sh -c …, tag, delete…
    actor_id: str
    attributes: tuple[tuple[str, str], ...] = ()
    time_nano: int = 0
    scope: str = "local"

    @property
    def attrs(self) -> dict[str, str]:
        return dict(self.attributes)

    def to_line(self) -> bytes:
        data = {"t": self.type, "a": self.action, "id": self.actor_id, "at": dict(self.attributes), "n": self.time_nano}
        return json.dumps(data, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Event | None:
        try:
            d = json.loads(line)
            attrs = tuple((str(k), str(v)) for k, v in dict(d.get("at") or {}).items())
            return cls(type=str(d["t"]), action=str(d["a"]), actor_id=str(d["id"]), attributes=attrs,
                       time_nano=int(d["n"]))  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def log_path(paths: Paths) -> str:
    return os.path.join(paths.data_root, "events.log")


def emit(paths: Paths, type_: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None) -> Event:
    """Append one event (never raises: an event that cannot be written must not fail the operation)."""
    event = Event(
        type=type_,
        action=action,
        actor_id=actor_id,
        attributes=tuple(sorted((attributes or {}).items())),
        time_nano=time.time_ns(),
    )
    path = log_path(paths)
    with contextlib.suppress(OSError):
        os.makedirs(paths.data_root, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, event.to_line())
            if os.fstat(fd).st_size > ROTATE_BYTES:
                _rotate(path, fd)
        finally:
            os.close(fd)
    return event


def _rotate(path: str, fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_EX)
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == os.fstat(fd).st_ino:  # nobody rotated it meanwhile
            os.replace(path, path + ".1")


def container_attributes(record: ContainerRecord, **extra: str) -> dict[str, str]:
    """Docker's attributes of a container event: its labels, `image` (as the user named it), `name`, extras."""
    attrs = dict(record.config.labels or {})
    attrs.update(image=record.config.image, name=record.name, **extra)
    return attrs


def emit_container(paths: Paths, record: ContainerRecord, action: str, **extra: str) -> Event:
    """A container event (`create`, `start`, `die` with exitCode=…, `exec_create: cmd`, `rename` …)."""
    return emit(paths, "container", action, record.id, container_attributes(record, **extra))


# ---- reading ---------------------------------------------------------------------------------------------------


def read(
    paths: Paths,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    follow: bool = False,
    match: Callable[[Event], bool] = lambda e: True,
    stop: Callable[[], bool] = lambda: False,
    cancel: Cancel | None = None,
) -> Iterator[Event]:
    """Events in time order from `since_ns` (past events only when given), then — with `follow` — new ones as they
    are appended, until `until_ns` passes, `stop()` says so or `cancel` is set."""
    path = log_path(paths)
    start_ns = time.time_ns()
    if since_ns is not None:
        for old in (path + ".1", path):
            for event in _read_file(old):
                if event.time_nano >= since_ns and (until_ns is None or event.time_nano <= until_ns) and match(event):
                    if event.time_nano <= start_ns:
                        yield event
    if not follow or (until_ns is not None and until_ns <= start_ns):
        return
    yield from _follow(path, start_ns, until_ns, match, stop, cancel)


def _read_file(path: str) -> Iterator[Event]:
    try:
        with open(path, "rb") as f:
            for line in f:
                event = Event.from_line(line)
                if event is not None:
                    yield event
    except FileNotFoundError:
        return


def _follow(
    path: str,
    after_ns: int,
    until_ns: int | None,
    match: Callable[[Event], bool],
    stop: Callable[[], bool],
    cancel: Cancel | None,
) -> Iterator[Event]:
    f = None
    buf = b""
    delay = _POLL_MIN
    try:
        while True:
            if f is None:
                with contextlib.suppress(FileNotFoundError):
                    f = open(path, "rb")  # noqa: SIM115 - kept open across yields; closed in finally
            chunk = f.read(65536) if f is not None else b""
            if chunk:
                delay = _POLL_MIN
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    event = Event.from_line(line)
                    if event is not None and event.time_nano > after_ns and match(event):
                        if until_ns is not None and event.time_nano > until_ns:
                            return
                        yield event
                continue
            if stop() or (until_ns is not None and time.time_ns() > until_ns):
                return
            if f is not None and _rotated(path, f.fileno()):
                f.close()
                f, buf = None, b""
                continue
            if cancel is None:
                time.sleep(delay)
            elif cancel.wait(delay):
                return
            delay = min(delay * 2, _POLL_MAX)
    finally:
        if f is not None:
            f.close()


def _rotated(path: str, fd: int) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


# ---- filters ---------------------------------------------------------------------------------------------------


def matcher(filters: Mapping[str, Sequence[str]]) -> Callable[[Event], bool]:
    """moby's events filter: values of one key are OR-ed, keys are AND-ed; unknown keys are refused."""
    for key in filters:
        if key not in FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    for value in filters.get("type", ()):
        if value not in TYPES:
            raise InvalidArgument(f"Invalid filter value for type: {value}")

    def match(e: Event) -> bool:
        attrs = e.attrs
        checks: tuple[tuple[str, Callable[[str], bool]], ...] = (
            ("event", lambda v: v == e.action or e.action.startswith(v + ":")),
            ("type", lambda v: v == e.type),
            ("container", lambda v: _container_matches(v, e)),
            ("image", lambda v: _image_matches(v, e)),
            ("label", lambda v: _label_matches(v, attrs)),
            ("network", lambda v: e.type == "network" and v in (e.actor_id, attrs.get("name"))),
            ("volume", lambda v: e.type == "volume" and v == e.actor_id),
            ("scope", lambda v: v == e.scope),
        )  # fmt: skip
        for key, test in checks:
            values = filters.get(key)
            if values and not any(test(v) for v in values):
                return False
        return True

    return match


def _container_matches(value: str, e: Event) -> bool:
    if e.type == "container":
        return value in (e.actor_id, e.attrs.get("name")) or e.actor_id.startswith(value)
    return e.attrs.get("container") == value


def _image_matches(value: str, e: Event) -> bool:
    image = e.attrs.get("image", "") if e.type == "container" else e.actor_id
    candidates = {image, e.attrs.get("name", "") if e.type == "image" else ""}
    short = re.sub(r":latest$", "", value)
    return any(c and (c == value or re.sub(r":latest$", "", c) == short) for c in candidates)


def _label_matches(value: str, attrs: Mapping[str, str]) -> bool:
    key, has_value, wanted = value.partition("=")
    return key in attrs and (not has_value or attrs[key] == wanted)


def parse_time(text: str, now: float | None = None) -> int:
    """Docker's --since/--until: a Unix timestamp (`1700000000[.5]`), an RFC 3339 date, or a duration (`10m`, `2h30m`,
    relative to now). Returns nanoseconds."""
    current = time.time() if now is None else now
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(float(text) * 1e9)
    duration = _duration(text)
    if duration is not None:
        return int((current - duration) * 1e9)
    return int(_rfc3339(text) * 1e9)


_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float | None:
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def rfc3339_ns(text: str) -> int:
    """`2026-01-02T03:04:05.123456789Z` → nanoseconds since the epoch (0 for Go's zero time or garbage)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", text)
    if m is None:
        return 0
    import calendar

    seconds = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return max(0, seconds * 1_000_000_000 + int((m.group(2) or "0")[:9].ljust(9, "0")))


def _rfc3339(text: str) -> float:
    from datetime import datetime

    candidate = text.replace("Z", "+00:00")
    candidate = re.sub(r"(\.\d{6})\d+", r"\1", candidate)
    for attempt in (candidate, candidate + "T00:00:00"):
        try:
            parsed = datetime.fromisoformat(attempt)
        except ValueError:
            continue
        return parsed.timestamp()
    raise InvalidArgument(f'failed to parse value as time or duration: "{text}"')
