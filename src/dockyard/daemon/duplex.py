"""`AsyncDuplex`: the blocking `Duplex` a hijack callable uses from its worker thread, over asyncio streams.

Bridges one worker thread to the event loop that owns the socket; it must not be used from the loop's thread
(every call waits on the loop). The contract is `dockyard.api.messages.Duplex`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


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
