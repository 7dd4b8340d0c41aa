"""Timeline marks for latency work: with DOCKYARD_TRACE=FILE, `mark` appends "<monotonic ns> <pid> <label>" to FILE.

Every process of a container start (the launcher, the CLI zygote's worker, dockyardd, its monitor zygote, the
monitor, the runtime) inherits the variable, and CLOCK_MONOTONIC is one clock for all of them, so the lines of
one `run` sort into its timeline (bench/run_timeline.py reads them). Off, a mark costs one environment lookup.
Imports only os and time: the thin launcher and the runtime use it too. Never for anything but measurement.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # why: the launcher imports this module; typing costs it ~3 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")


def route(path: str) -> str:
    """An API path with ids elided (`/v1.47/containers/<64 hex>/start` → `/containers/{id}/start`): one label
    per step whatever the container."""
    parts = path.split("/")
    return "/".join(
        "{id}" if len(p) == 64 and all(c in "0123456789abcdef" for c in p) else p
        for p in parts
        if not (p.startswith("v1.") and p[3:].isdigit())
    )


def mark(label: str) -> None:
    path = os.environ.get("DOCKYARD_TRACE")
    if not path:
        return
    line = f"{time.monotonic_ns()} {os.getpid()} {label}\n".encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # e.g. inside a container's root after pivot_root: the mark is lost, nothing else
    try:
        os.write(fd, line)  # one O_APPEND write: lines of concurrent processes never interleave
    finally:
        os.close(fd)


def mark_request(method: str, path: str) -> None:
    """The client's mark for an API call; its label is built only when tracing is on (every request passes)."""
    if os.environ.get("DOCKYARD_TRACE"):
        mark(f"client: {method} {route(path)}")


def enabled() -> bool:
    """Whether marks are written (DOCKYARD_TRACE is set): callers build costly labels only then."""
    return bool(os.environ.get("DOCKYARD_TRACE"))


def handed_over(call: Callable[[], T], label: str) -> Callable[[], T]:
    """`call`, marked `<label> read` now and `<label> thread` when another thread starts it (a hand-off's cost)."""
    mark(f"{label} read")

    def run() -> T:
        mark(f"{label} thread")
        return call()

    return run
