"""daemon/server.py streamed request bodies (load, import, archive PUT): read as they arrive, limited, cut short."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import pytest

from dockyard.api.messages import Response
from dockyard.client.unix import UnixTransport
from dockyard.daemon.duplex import AsyncBody
from dockyard.daemon.server import Limits
from dockyard.errors import DockyardError, InvalidArgument
from fixtures.serving import serving

SEEN: dict[str, object] = {}
RELEASE = threading.Event()
STARTED = threading.Event()


def handle(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    upload: BinaryIO | None = None,
) -> Response:
    if path == "/hello":
        return Response.json({"upload": upload is not None, "body": len(body)})
    if upload is None:
        return Response.json({"upload": False, "body": len(body)})
    if path.endswith("/slow/images/load"):  # reads one piece, then waits: the client must be held back
        upload.read(1)
        STARTED.set()
        RELEASE.wait(10)
        return Response.json({})
    digest, size = hashlib.sha256(), 0
    try:
        while data := upload.read(4096):
            digest.update(data)
            size += len(data)
    except DockyardError as err:
        SEEN["error"] = err.message
        # the handler's own wording: the server answers with the body's cause instead
        return Response.error(500, f"load: {err.message}")
    return Response.json({"upload": True, "size": size, "sha256": digest.hexdigest()})


def _serve(path: str, limits: Limits) -> Iterator[str]:
    with serving(handle, path, limits, before_stop=RELEASE.set) as served:
        yield served


@pytest.fixture()
def sock(tmp_path: Path) -> Iterator[str]:
    SEEN.clear()
    RELEASE.clear()
    STARTED.clear()
    yield from _serve(str(tmp_path / "s.sock"), Limits(max_body=1000, max_bulk_body=100_000))


def connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def read_response(s: socket.socket, buf: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """(head, body, rest) of one Content-Length response."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, f"connection closed early: {buf!r}"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed inside the body"
        rest += chunk
    return head, rest[:length], rest[length:]


def chunked(data: bytes, piece: int = 7000) -> bytes:
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(data[i : i + piece]), data[i : i + piece]) for i in range(0, len(data), piece)
    )
    return out + b"0\r\n\r\n"


PAYLOAD = bytes(range(256)) * 300  # 76800 bytes: under the bulk limit, over the small one


def test_chunked_load_reaches_the_handler_as_a_stream_and_keeps_the_connection(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /v1.47/images/load HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(PAYLOAD))
    head, body, rest = read_response(s)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body) == {"upload": True, "size": len(PAYLOAD), "sha256": hashlib.sha256(PAYLOAD).hexdigest()}
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body, _ = read_response(s, rest)
    assert json.loads(body) == {"upload": False, "body": 0}


def test_content_length_archive_put_streams_too(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"PUT /containers/c/archive?path=/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(PAYLOAD))
    s.sendall(PAYLOAD)
    _, body, _ = read_response(s)
    assert json.loads(body)["size"] == len(PAYLOAD)


def test_small_json_bodies_stay_bytes(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    _, body, _ = read_response(s)
    assert json.loads(body) == {"upload": False, "body": 2}


def test_streamed_body_over_the_limit_is_413(sock: str) -> None:
    s = connect(sock)
    data = PAYLOAD * 2  # 153600 bytes > 100000
    s.sendall(b"POST /images/load HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(data))
    head, body, _ = read_response(s)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body) == {"message": "request body exceeds the limit of 100000 bytes"}
    assert SEEN["error"] == "request body exceeds the limit of 100000 bytes"


def test_body_cut_short_is_a_clear_error_to_the_handler(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /images/load HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(PAYLOAD)[:30000])
    s.shutdown(socket.SHUT_WR)
    head, body, _ = read_response(s)
    assert head.startswith(b"HTTP/1.1 400 ")
    message = json.loads(body)["message"]
    assert message.startswith("read request body: ") and "incomplete chunked read" in message
    assert SEEN["error"] == message


def test_declared_length_cut_short_names_the_missing_bytes(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n" + PAYLOAD[:1000])
    s.shutdown(socket.SHUT_WR)
    head, body, _ = read_response(s)
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["message"] == (
        "read request body: peer closed connection without sending complete message body "
        "(received 1000 bytes, expected 50000)"
    )


def test_expect_100_continue_is_answered_before_the_body(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 100 ")
    s.sendall(b"hello")
    _, body, _ = read_response(s)
    assert json.loads(body)["size"] == 5


def test_a_slow_handler_holds_the_client_back(tmp_path: Path) -> None:
    """Back-pressure: while the handler does not read, the daemon does not buffer the body."""
    RELEASE.clear()
    STARTED.clear()
    for path in _serve(str(tmp_path / "s.sock"), Limits(max_bulk_body=1 << 30)):
        s = connect(path)
        s.sendall(b"POST /slow/images/load HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 << 20))
        s.sendall(b"x" * 65536)
        assert STARTED.wait(10)
        s.settimeout(1)
        sent = 0
        block = b"x" * 65536
        with pytest.raises(TimeoutError):
            while sent < (64 << 20):
                sent += s.send(block)
        assert sent < (8 << 20), f"the daemon took {sent} bytes while its handler was not reading"
        RELEASE.set()
        s.close()


def test_the_client_streams_an_upload_chunked(sock: str) -> None:
    transport = UnixTransport(sock)
    response = transport.request("POST", "/v1.47/images/load", upload=io.BytesIO(PAYLOAD))
    assert response.status == 200
    assert json.loads(response.read()) == {
        "upload": True,
        "size": len(PAYLOAD),
        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
    }


def test_the_client_reads_the_413_of_an_upload_cut_off_by_the_daemon(sock: str) -> None:
    transport = UnixTransport(sock)
    response = transport.request("POST", "/images/load", upload=io.BytesIO(b"x" * (4 << 20)))
    assert response.status == 413
    assert json.loads(response.read()) == {"message": "request body exceeds the limit of 100000 bytes"}


def test_an_aborted_body_wakes_its_reader() -> None:
    """The daemon stops while a handler waits for body bytes: the read fails at once, with the given error."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def never() -> bytes:
        await asyncio.Event().wait()
        return b""

    body = AsyncBody(loop, never)
    failed: list[BaseException] = []
    reader = threading.Thread(target=lambda: _read_into(body, failed))
    reader.start()
    try:
        for _ in range(500):
            if body._pending is not None:
                break
            threading.Event().wait(0.01)
        loop.call_soon_threadsafe(body.abort, InvalidArgument("read request body: the daemon is shutting down"))
        reader.join(10)
        assert not reader.is_alive()
        assert [str(err) for err in failed] == ["read request body: the daemon is shutting down"]
        with pytest.raises(InvalidArgument, match="shutting down"):
            body.read(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _read_into(body: AsyncBody, failed: list[BaseException]) -> None:
    try:
        body.read(10)
    except InvalidArgument as err:
        failed.append(err)


def test_a_reader_whose_loop_stopped_gets_an_error_not_a_hang() -> None:
    loop = asyncio.new_event_loop()
    never = asyncio.Event()
    pulling = threading.Event()

    async def pull() -> bytes:
        pulling.set()
        await never.wait()  # a client that keeps its connection open and sends nothing
        return b""

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    body = AsyncBody(loop, pull)
    result: list[BaseException] = []

    def read() -> None:
        try:
            body.read(10)
        except BaseException as err:
            result.append(err)

    reader = threading.Thread(target=read)
    reader.start()
    assert pulling.wait(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    reader.join(10)
    assert not reader.is_alive()
    assert len(result) == 1 and isinstance(result[0], ConnectionAbortedError)
    assert "event loop stopped" in str(result[0])
    loop.run_until_complete(asyncio.sleep(0.01))  # lets the cancelled pull finish before the loop closes
    loop.close()
