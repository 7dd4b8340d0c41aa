"""`AsyncDuplex` and `AsyncBody`: blocking views a worker thread uses on a connection owned by the event loop.

`AsyncDuplex` is the `Duplex` of a hijack callable (contract in `dockyard.api.messages.Duplex`); `AsyncBody` is
a request body read as it arrives. Both bridge one worker thread to the loop; they must not be used from the
loop's thread (every call waits on the loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class AsyncBody(io.RawIOBase):
    """A request body pulled from the loop one piece at a time (`pull()` returns b"" at its end), so the loop
    reads the socket only as fast as the handler consumes: that is the back-pressure. An error of `pull` (the
    body was cut short, or grew past the limit) is raised to the reader, and again on every later read."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pull: Callable[[], Coroutine[Any, Any, bytes]]) -> None:
        super().__init__()
        self._loop = loop
        self._pull = pull
        self._left = b""
        self._eof = False
        self._pending: concurrent.futures.Future[bytes] | None = None
        self.error: BaseException | None = None
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.error is not None:
            raise self.error
        if not self._left and not self._eof:
            try:
                self._pending = asyncio.run_coroutine_threadsafe(self._pull(), self._loop)
                if self.error is not None:  # aborted between the check above and `_pending`: abort saw nothing
                    self._pending.cancel()
                self._left = self._result(self._pending)
            except BaseException as err:
                self.error = self.error or err
                raise self.error from None
            finally:
                self._pending = None
            self._eof = not self._left
            self.size += len(self._left)
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._left))
        view[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def _result(self, pending: concurrent.futures.Future[bytes]) -> bytes:
        """The pull's result; a loop that stopped (the daemon's end, a test's teardown) ends the wait instead of
        leaving this thread blocked, which would also block the interpreter's exit (it joins executor threads)."""
        while True:
            try:
                return pending.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if not self._loop.is_running():
                    pending.cancel()
                    raise ConnectionAbortedError("read request body: the daemon's event loop stopped") from None

    def abort(self, error: BaseException) -> None:
        """From the loop's thread (the connection is cancelled: the daemon stops): the reader gets `error` now
        instead of waiting forever on a loop that is going away."""
        self.error = error
        pending = self._pending
        if pending is not None:
            pending.cancel()


class AsyncDuplex:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, early: bytes
    ) -> None:
        self._loop = loop
        self._reader = reader
        self._writer = writer
        self._early = early  # bytes the client sent right behind its request headers
        self._eof = False
        self.closed = False

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def read(self, n: int = 65536) -> bytes:
        if self._early:
            data, self._early = self._early[:n], self._early[n:]
            return data
        if self._eof or self.closed:
            return b""
        try:
            data = self._run(self._reader.read(n))
        except (ConnectionError, RuntimeError):
            data = b""
        if not data:
            self._eof = True
        return data

    def fileno(self) -> int:
        """The client's socket, for a poll of its hang-up (the loop keeps reading and writing it)."""
        sock = self._writer.get_extra_info("socket")
        return int(sock.fileno()) if sock is not None else -1

    async def _write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise BrokenPipeError("write to a closed hijacked stream")
        self._writer.write(data)
        await self._writer.drain()

    def write(self, data: bytes) -> None:
        if self.closed:
            raise BrokenPipeError("write to a closed hijacked stream")
        try:
            self._run(self._write(data))
        except RuntimeError as err:  # the loop is gone: the daemon is stopping
            raise BrokenPipeError("write to a closed hijacked stream") from err

    async def _close_write(self) -> None:
        if self._writer.can_write_eof() and not self._writer.is_closing():
            await self._writer.drain()
            self._writer.write_eof()

    def close_write(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, OSError):
            self._run(self._close_write())

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._writer.close)
