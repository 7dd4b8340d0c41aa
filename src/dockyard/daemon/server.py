"""HTTP/1.1 connection handling for dockyardd (asyncio + h11): keep-alive, chunked streams, connection hijack.

Owns the bytes on one connection and nothing else: it never imports the engine or Docker's JSON beyond the error
body `{"message": …}`. Handlers block (wait, logs --follow, attach), so every handler call, every `next()` of a
streamed body and every hijack run in a worker thread; the event loop only moves bytes. It watches a streaming
connection for EOF, and a client that hangs up gets its `Response.cancel` called, so that the body's thread ends.
The tar bodies of load, import, archive PUT and build reach their handler as a stream (`upload`), read as it
arrives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import http
import io
import logging
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Protocol, cast

import h11

from dockyard import tracing
from dockyard.api.messages import RAW_STREAM, Response
from dockyard.daemon.duplex import AsyncBody, AsyncDuplex
from dockyard.errors import DockyardError, InvalidArgument

log = logging.getLogger("dockyardd")


class HandleFn(Protocol):
    def __call__(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        upload: BinaryIO | None = None,
    ) -> Response: ...


MAX_BODY = 100 * 1024 * 1024
# Endpoints whose body is a tar stream (load, import, archive PUT, build) get a larger limit; a commit's body is a
# small JSON config, read whole, so it keeps the small one.
MAX_BULK_BODY = 4 * 1024 * 1024 * 1024
_BULK_SUFFIXES = ("/images/load", "/images/create", "/archive", "/build")
# Bodies handed to the handler as a stream (their handlers read `Request.upload`); the others are read whole.
_STREAMED = (("POST", "/images/load"), ("POST", "/images/create"), ("PUT", "/archive"), ("POST", "/build"))
_READ = 65536
_BATCH = 1 << 20  # the most bytes of a streamed body handed to its handler's thread at once
_DONE = object()


@dataclass(frozen=True, slots=True)
class Limits:
    max_body: int = MAX_BODY
    max_bulk_body: int = MAX_BULK_BODY

    def for_path(self, path: str) -> int:
        bare = path.split("?", 1)[0]
        return self.max_bulk_body if bare.endswith(_BULK_SUFFIXES) else self.max_body


def _streams(event: h11.Request) -> bool:
    """A bulk request with a body: its handler reads the body as it arrives instead of a bytes copy."""
    method, bare = event.method.decode("latin-1"), event.target.decode("latin-1").split("?", 1)[0]
    if not any(method == m and bare.endswith(suffix) for m, suffix in _STREAMED):
        return False
    headers = dict(event.headers)
    return b"chunked" in headers.get(b"transfer-encoding", b"").lower() or headers.get(b"content-length", b"0") != b"0"


def parse_query(text: str) -> dict[str, str]:
    """Query parameters; a repeated key (`names=a&names=b` for save, `changes=…` for import) keeps every value,
    joined by newlines, which no image name contains and which is how Docker joins `--change` lines anyway."""
    query: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        query[key] = f"{query[key]}\n{value}" if key in query else value
    return query


class _BodyTooLarge(InvalidArgument):
    http_status = 413


class _Reject(Exception):
    """A request the server answers itself (malformed, too large) before any handler sees it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _next_chunk(stream: Iterator[bytes]) -> object:
    return next(stream, _DONE)


def _close_iterator(stream: Iterator[bytes]) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


def _cancel(response: Response) -> None:
    if response.cancel is not None:
        with contextlib.suppress(Exception):
            response.cancel()


def wants_upgrade(headers: Mapping[str, str]) -> bool:
    """`Connection: Upgrade` with `Upgrade: tcp` (or h2c, which old docker clients sent): Docker's hijack."""
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    return "upgrade" in tokens and bool(headers.get("upgrade"))


class Server:
    """Serves `handle(method, target_path, query, headers, body)` on asyncio streams, one task per connection."""

    def __init__(
        self,
        handle: HandleFn,
        *,
        executor: concurrent.futures.Executor | None = None,
        limits: Limits | None = None,
        extra_headers: Callable[[], tuple[tuple[str, str], ...]] = tuple,
    ) -> None:
        self.handle = handle
        # Blocking handlers each hold a thread for their whole life (wait, logs -f, attach): a small default pool
        # would deadlock `docker run` (attach + wait held while start queues), hence the large bound.
        self.executor = executor or concurrent.futures.ThreadPoolExecutor(512, thread_name_prefix="dockyardd")
        self.limits = limits or Limits()
        self.extra_headers = extra_headers
        self.connections: set[asyncio.Task[None]] = set()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        conn = h11.Connection(h11.SERVER)
        try:
            while await self._one_request(conn, reader, writer):
                conn.start_next_cycle()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self.connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader) -> object:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(await reader.read(_READ))

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[h11.Request, bytes | None] | None:
        """The request and its body; None for the body of a streamed request (`_pull` reads it later)."""
        try:
            event = await self._next_event(conn, reader)
            if not isinstance(event, h11.Request):
                return None
            limit = self.limits.for_path(event.target.decode("latin-1"))
            length = dict(event.headers).get(b"content-length")
            if length is not None and int(length) > limit:
                raise _Reject(413, f"request body of {int(length)} bytes exceeds the limit of {limit} bytes")
            if conn.client_is_waiting_for_100_continue:
                writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
                await writer.drain()
            if _streams(event):
                return event, None
            parts: list[bytes] = []
            size = 0
            while True:
                part = await self._next_event(conn, reader)
                if isinstance(part, h11.Data):
                    size += len(part.data)
                    if size > limit:
                        raise _Reject(413, f"request body exceeds the limit of {limit} bytes")
                    parts.append(bytes(part.data))
                elif isinstance(part, h11.EndOfMessage):
                    return event, b"".join(parts)
                else:
                    return None
        except h11.RemoteProtocolError as err:
            raise _Reject(err.error_status_hint, f"malformed request: {err}") from err

    def _upload(self, conn: h11.Connection, reader: asyncio.StreamReader, path: str) -> AsyncBody:
        """The body of a streamed request, for the handler's thread; the limit is enforced as it arrives."""
        limit = self.limits.for_path(path)
        seen, ended = [0], [False]

        async def pull() -> bytes:
            """What the connection holds now (at least one byte, at most about _BATCH), b"" at the end."""
            # why batches: each pull is one hop between the handler's thread and the loop; one per 64 KiB piece
            # made a 192 MiB upload spend more time hopping than reading
            parts: list[bytes] = []
            size = 0
            try:
                while size < _BATCH and not ended[0]:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        if size:
                            break  # never wait for more while there is something to hand over
                        conn.receive_data(await reader.read(_BATCH))
                    elif isinstance(event, h11.Data):
                        parts.append(bytes(event.data))
                        size += len(event.data)
                    else:  # EndOfMessage (h11 raises for a body cut short)
                        ended[0] = True
            except (h11.RemoteProtocolError, ConnectionError) as err:
                raise InvalidArgument(f"read request body: {str(err).lower()}") from err
            seen[0] += size
            if seen[0] > limit:
                raise _BodyTooLarge(f"request body exceeds the limit of {limit} bytes")
            return b"".join(parts)

        return AsyncBody(asyncio.get_running_loop(), pull)

    async def _one_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        try:
            got = await self._read_request(conn, reader, writer)
        except _Reject as reject:
            await self._reject(conn, writer, reject)
            return False
        if got is None:
            return False
        event, body = got
        method = event.method.decode("latin-1")
        target = urllib.parse.urlsplit(event.target.decode("latin-1"))
        query = parse_query(target.query)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
        loop = asyncio.get_running_loop()
        upload = self._upload(conn, reader, target.path) if body is None else None
        call = functools.partial(self.handle, method, target.path, query, headers, body or b"")
        if upload is not None:
            call = functools.partial(call, upload=cast(BinaryIO, io.BufferedReader(upload, _READ)))
        label = f"daemon: {method} {tracing.route(target.path)}" if tracing.enabled() else ""
        try:
            response = await loop.run_in_executor(self.executor, tracing.handed_over(call, label) if label else call)
        except asyncio.CancelledError:  # the daemon stops: a handler reading the body must not wait for it
            if upload is not None:
                upload.abort(InvalidArgument("read request body: the daemon is shutting down"))
            raise
        except Exception as err:
            log.exception("%s %s: unexpected error", method, target.path)
            response = self._error(500, f"internal error: {type(err).__name__}: {err}")
        if upload is not None and isinstance(upload.error, DockyardError):
            # why: the handler answers a failed read in its own words (often wrapped); the cause is the body's
            response = self._error(upload.error.http_status, upload.error.message)
        if label:
            tracing.mark(f"{label} handled")
        log.debug("%s %s → %s", method, event.target.decode("latin-1"), 101 if response.hijack else response.status)
        if response.hijack is not None:
            await self._hijack(conn, reader, writer, response, wants_upgrade(headers))
            return False
        ok = await self._send(conn, reader, writer, method, response)
        return ok and conn.our_state is h11.DONE and conn.their_state is h11.DONE

    def _error(self, status: int, message: str) -> Response:
        response = Response.error(status, message)
        return replace(response, headers=self.extra_headers() + response.headers)

    async def _reject(self, conn: h11.Connection, writer: asyncio.StreamWriter, reject: _Reject) -> None:
        response = self._error(reject.status, reject.message)
        headers = [*response.headers, ("Content-Type", "application/json"), ("Connection", "close")]
        headers.append(("Content-Length", str(len(response.body))))
        try:
            data = conn.send(h11.Response(status_code=reject.status, headers=headers, reason=_reason(reject.status)))
            data = (data or b"") + (conn.send(h11.Data(data=response.body)) or b"")
        except h11.LocalProtocolError:
            # h11 refuses to answer a request line it could not parse: write the response by hand.
            head = f"HTTP/1.1 {reject.status} {_reason(reject.status).decode()}\r\n"
            data = (head + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode() + response.body
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    def _head(self, response: Response, method: str) -> list[tuple[str, str]]:
        headers = list(response.headers)
        if response.content_type:
            headers.append(("Content-Type", response.content_type))
        if response.stream is None:
            length = 0 if method == "HEAD" and not response.body else len(response.body)
            if response.status not in (204, 304) and response.status >= 200:
                headers.append(("Content-Length", str(length)))
        return headers

    async def _send(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        response: Response,
    ) -> bool:
        """Write the response; False when the connection must end (stream failed or the client left)."""
        head = h11.Response(
            status_code=response.status, headers=self._head(response, method), reason=_reason(response.status)
        )
        data = conn.send(head) or b""
        if response.stream is not None:
            writer.write(data)
            # Flush the headers now: `docker run` waits for the headers of /wait before it calls /start.
            await writer.drain()
            if not await self._stream(conn, reader, writer, response):
                return False
            data = b""
        elif response.body and method != "HEAD":
            data += conn.send(h11.Data(data=response.body)) or b""
        # the end of a stream, or a whole response in one write: one packet for the client, one drain for the loop
        writer.write(data + (conn.send(h11.EndOfMessage()) or b""))
        await writer.drain()
        return True

    async def _stream(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: Response
    ) -> bool:
        """Relay the streamed body; False when it failed or the client hung up (then `response.cancel` runs, so
        a body blocked in a wait ends and its worker thread is freed)."""
        assert response.stream is not None
        stream = response.stream
        loop = asyncio.get_running_loop()
        # Watch the client while the iterator blocks (logs -f with no new line): EOF means it went away.
        watch: asyncio.Future[Any] = asyncio.ensure_future(reader.read(_READ))
        try:
            while True:
                chunk_fut: asyncio.Future[Any] = loop.run_in_executor(self.executor, _next_chunk, stream)
                while True:
                    done, _ = await asyncio.wait({chunk_fut, watch}, return_when=asyncio.FIRST_COMPLETED)
                    if watch in done:
                        early = watch.result()
                        if not early:
                            log.debug("client left mid-stream")
                            _cancel(response)
                            chunk_fut.add_done_callback(lambda f: self._close_after(f, stream))
                            return False
                        conn.receive_data(early)  # a pipelined request: h11 keeps it for the next cycle
                        watch = asyncio.ensure_future(reader.read(_READ))
                    if chunk_fut in done:
                        break
                try:
                    chunk = chunk_fut.result()
                except Exception:
                    log.exception("streamed body failed")
                    _close_iterator(stream)
                    return False
                if chunk is _DONE or not isinstance(chunk, bytes):
                    return True
                if chunk:
                    writer.write(conn.send(h11.Data(data=chunk)) or b"")
                    await writer.drain()
        except ConnectionError:
            _cancel(response)
            self.executor.submit(_close_iterator, stream)
            return False
        except asyncio.CancelledError:  # the daemon shuts down: end the body's wait too
            _cancel(response)
            raise
        finally:
            watch.cancel()
            # why: the reader keeps the cancelled read as its waiter until the task has run; reading the next
            # request before that raises "read() called while another coroutine is already waiting"
            await asyncio.wait({watch})

    def _close_after(self, chunk: asyncio.Future[Any], stream: Iterator[bytes]) -> None:
        if not chunk.cancelled():
            chunk.exception()  # retrieved: a body that ended with an error after its client left is no news
        self.executor.submit(_close_iterator, stream)

    async def _hijack(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: Response,
        upgrade: bool,
    ) -> None:
        assert response.hijack is not None
        content_type = response.content_type or RAW_STREAM
        headers = [("Content-Type", content_type)]
        if upgrade:
            headers += [("Connection", "Upgrade"), ("Upgrade", "tcp")]
            head = "HTTP/1.1 101 UPGRADED\r\n"
        else:
            head = "HTTP/1.1 200 OK\r\n"
        # Written by hand: h11 frames a 200 body, and Docker's hijacked 200 is unframed raw bytes.
        writer.write((head + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode())
        await writer.drain()
        early, _closed = conn.trailing_data
        duplex = AsyncDuplex(asyncio.get_running_loop(), reader, writer, bytes(early))
        try:
            await asyncio.get_running_loop().run_in_executor(self.executor, response.hijack, duplex)
        except Exception:
            log.exception("hijacked stream failed")
        finally:
            duplex.closed = True
