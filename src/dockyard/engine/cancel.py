"""A cancellation token for blocking engine loops (wait, logs -f, events): set once, from any thread.

Owns the flag and its wake-up pipe only; who sets it (the daemon, when a client hangs up) is not its business.
"""

from __future__ import annotations

import os
import threading


class Cancelled(Exception):
    """A blocking call ended because its token was set (its client went away); never shown to a user."""


class Cancel:
    """A one-shot flag: `wait(timeout)` for polling loops, `fileno()` for loops that select on sockets.

    The pipe is made only when a loop asks for it and closed by `close()`; `set()` after `close()` just sets
    the flag, so a late `set()` from the event loop never writes into a descriptor number reused meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._pipe: tuple[int, int] | None = None

    def set(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            if self._pipe is not None:
                os.write(self._pipe[1], b"x")

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True (at once) when the token is set."""
        return self._event.wait(timeout)

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled: the client went away")

    def fileno(self) -> int:
        """A descriptor that becomes readable once the token is set (select/poll on it with the real ones)."""
        with self._lock:
            if self._pipe is None:
                self._pipe = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                if self._event.is_set():
                    os.write(self._pipe[1], b"x")
            return self._pipe[0]

    def close(self) -> None:
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is not None:
            os.close(pipe[0])
            os.close(pipe[1])
