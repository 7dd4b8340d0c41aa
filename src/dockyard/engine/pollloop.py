"""A minimal single-threaded poll(2) loop for the monitor: fd handlers and one-shot timers, nothing else.

The monitor must stay single-threaded (it forks the runtime without exec), so there is no asyncio here and no
thread; handlers run to completion and never block for long.
"""

from __future__ import annotations

import heapq
import itertools
import select
import time
from collections.abc import Callable

IN = select.POLLIN
OUT = select.POLLOUT
ERR = select.POLLERR | select.POLLHUP | select.POLLNVAL

Handler = Callable[[int, int], None]  # (fd, revents)


class Loop:
    def __init__(self) -> None:
        self._poll = select.poll()
        self._handlers: dict[int, Handler] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cancelled: set[int] = set()

    def add(self, fd: int, events: int, handler: Handler) -> None:
        self._handlers[fd] = handler
        self._poll.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        if fd in self._handlers:
            self._poll.modify(fd, events)

    def remove(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            self._poll.unregister(fd)

    def watching(self, fd: int) -> bool:
        return fd in self._handlers

    def call_later(self, delay: float, callback: Callable[[], None]) -> int:
        """Run `callback` once after `delay` seconds; returns a handle for `cancel`."""
        handle = next(self._seq)
        heapq.heappush(self._timers, (time.monotonic() + delay, handle, callback))
        return handle

    def cancel(self, handle: int | None) -> None:
        if handle is not None:
            self._cancelled.add(handle)

    def run_once(self, max_wait: float | None = None) -> None:
        """Wait for fd events or the next timer (at most `max_wait` seconds), then dispatch them."""
        while self._timers and self._timers[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._timers)[1])
        wait = max_wait
        if self._timers:
            until_timer = max(0.0, self._timers[0][0] - time.monotonic())
            wait = until_timer if wait is None else min(wait, until_timer)
        try:
            # why +1: poll(2) takes whole milliseconds, and a truncated wait would wake before the timer is due
            events = self._poll.poll(None if wait is None else 0 if wait == 0 else int(wait * 1000) + 1)
        except InterruptedError:
            events = []
        for fd, revents in events:
            handler = self._handlers.get(fd)
            if handler is not None:
                handler(fd, revents)
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, handle, callback = heapq.heappop(self._timers)
            if handle in self._cancelled:
                self._cancelled.discard(handle)
                continue
            callback()
