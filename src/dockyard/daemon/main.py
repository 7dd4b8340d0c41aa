"""`dockyardd [-H unix:///run/dockyard.sock] [--data-root DIR]`: the api handlers over HTTP/1.1 on a unix socket.

asyncio + h11; each handler call (and each chunk of a streamed body) runs in a worker thread because handlers
block (wait, logs --follow). No hijacking yet (attach/exec come later). Unexpected errors answer 500 and are
logged with their traceback on the daemon's stderr; the socket is mode 0660.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http
import os
import signal
import sys
import traceback
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import h11

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine
from dockyard.api.messages import Response
from dockyard.api.routes import Api, common_headers
from dockyard.paths import DEFAULT_SOCKET

_READ = 65536
_DONE = object()


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _next_chunk(stream: Iterator[bytes]) -> object:
    return next(stream, _DONE)


class Server:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while await self._one_request(conn, reader, writer):
                conn.start_next_cycle()
        except (h11.RemoteProtocolError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader) -> object:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(await reader.read(_READ))

    async def _one_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        event = await self._next_event(conn, reader)
        if not isinstance(event, h11.Request):
            return False
        body = b""
        while True:
            part = await self._next_event(conn, reader)
            if isinstance(part, h11.Data):
                body += part.data
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                return False
        method = event.method.decode()
        target = urllib.parse.urlsplit(event.target.decode())
        query = dict(urllib.parse.parse_qsl(target.query, keep_blank_values=True))
        headers = {k.decode().lower(): v.decode() for k, v in event.headers}
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(None, self.api.handle, method, target.path, query, headers, body)
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            response = Response.error(500, f"internal error: {type(err).__name__}: {err}")
            response = Response(status=500, body=response.body, content_type=response.content_type,
                                headers=common_headers())  # fmt: skip
        await self._send(conn, writer, method, response)
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, method: str, response: Response) -> None:
        headers = list(response.headers)
        if response.content_type:
            headers.append(("Content-Type", response.content_type))
        if response.stream is None:
            length = 0 if method == "HEAD" and not response.body else len(response.body)
            if response.status not in (204, 304):
                headers.append(("Content-Length", str(length)))
        else:
            headers.append(("Transfer-Encoding", "chunked"))
        writer.write(
            conn.send(h11.Response(status_code=response.status, headers=headers, reason=_reason(response.status)))
            or b""
        )
        if response.stream is not None:
            loop = asyncio.get_running_loop()
            while True:
                chunk = await loop.run_in_executor(None, _next_chunk, response.stream)
                if chunk is _DONE or not isinstance(chunk, bytes):
                    break
                if chunk:
                    writer.write(conn.send(h11.Data(data=chunk)) or b"")
                    await writer.drain()
        elif response.body and method != "HEAD":
            writer.write(conn.send(h11.Data(data=response.body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()


async def serve(socket_path: str, api: Api, ready: asyncio.Event | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    server = await asyncio.start_unix_server(Server(api).connection, path=socket_path)
    os.chmod(socket_path, 0o660)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        async with server:
            await stop.wait()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dockyardd", description="The dockyard Engine API daemon")
    parser.add_argument("-H", "--host", default=f"unix://{DEFAULT_SOCKET}", help="unix:///path of the socket")
    parser.add_argument("--data-root", default=None, help="root of persistent state (default /var/lib/dockyard)")
    args = parser.parse_args(argv)
    scheme, _, path = args.host.partition("://")
    if scheme != "unix" or not path.startswith("/"):
        sys.stderr.write(f"dockyardd: host `{args.host}`: only unix:///absolute/path sockets are supported\n")
        return 1

    def engine_factory() -> Engine:
        from dockyard.engine.engine import Engine

        return Engine.from_env(args.data_root)

    try:
        asyncio.run(serve(path, Api(engine_factory)))
    except OSError as err:
        sys.stderr.write(f"dockyardd: listen on `{path}`: {err.strerror or err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
