"""daemon/server.py over a real unix socket with a fake handler table: framing, keep-alive, hijack, limits."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import pytest

from dockyard.api.messages import Duplex, Response
from dockyard.daemon.server import Limits
from dockyard.engine.cancel import Cancel
from fixtures.serving import serving

CLOSED = threading.Event()


def _forever() -> Iterator[bytes]:
    try:
        while True:
            yield b"tick\n"
            time.sleep(0.01)
    finally:
        CLOSED.set()


RELEASE = threading.Event()


def _after_release() -> Iterator[bytes]:
    RELEASE.wait(10)
    yield b'{"StatusCode":0}\n'


BLOCKED = Cancel()
BLOCKED_ENDED = threading.Event()


def _blocked_until_cancelled() -> Iterator[bytes]:
    """A body like /wait's: nothing to send until the container exits (here: until cancelled)."""
    try:
        BLOCKED.wait(30)
        yield b""
    finally:
        BLOCKED_ENDED.set()


def _failing() -> Iterator[bytes]:
    yield b"first\n"
    raise RuntimeError("stream broke")


def _echo_upper(duplex: Duplex) -> None:
    data = b""
    while chunk := duplex.read(3):
        data += chunk
    duplex.write(data.upper())
    duplex.close_write()


LATE_WRITE: list[BaseException] = []


def _write_after_close(duplex: Duplex) -> None:
    duplex.write(b"bye")
    duplex.close()
    try:
        duplex.write(b"more")
    except BrokenPipeError as err:
        LATE_WRITE.append(err)


def handle(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    upload: BinaryIO | None = None,
) -> Response:
    if path == "/hello":
        return Response.json({"hello": query.get("who", "world")})
    if path == "/stream":
        return Response(stream=iter([b"a", b"", b"bc", b"d"]), content_type="text/plain")
    if path == "/forever":
        return Response(stream=_forever())
    if path == "/wait":
        return Response(stream=_after_release(), content_type="application/json")
    if path == "/failing":
        return Response(stream=_failing())
    if path == "/blocked":
        return Response(stream=_blocked_until_cancelled(), cancel=BLOCKED.set)
    if path == "/echo":
        return Response.json({"length": len(body)})
    if path == "/attach":
        return Response(hijack=_echo_upper)
    if path == "/late":
        return Response(hijack=_write_after_close, content_type="application/vnd.docker.multiplexed-stream")
    if path == "/boom":
        raise RuntimeError("kaboom")
    return Response.error(404, "page not found")


@pytest.fixture()
def sock(tmp_path: Path) -> Iterator[str]:
    limits = Limits(max_body=1000, max_bulk_body=2000)
    with serving(handle, str(tmp_path / "s.sock"), limits, extra_headers=lambda: (("Api-Version", "9.99"),)) as path:
        yield path


def connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def read_until(s: socket.socket, marker: bytes, buf: bytes = b"") -> tuple[bytes, bytes]:
    while marker not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before {marker!r}: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(marker)
    return head + marker, rest


def read_all(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def test_keep_alive_serves_two_requests_on_one_connection(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"GET /hello?who=a HTTP/1.1\r\nHost: x\r\n\r\nGET /hello?who=b HTTP/1.1\r\nHost: x\r\n\r\n")
    head1, rest = read_until(s, b"\r\n\r\n")
    assert head1.startswith(b"HTTP/1.1 200 OK")
    body1, rest = read_until(s, b"\n", rest)
    head2, rest = read_until(s, b"\r\n\r\n", rest)
    body2, _ = read_until(s, b"\n", rest)
    assert json.loads(body1) == {"hello": "a"} and json.loads(body2) == {"hello": "b"}
    assert head2.startswith(b"HTTP/1.1 200 OK")
    s.close()


def test_streamed_body_is_chunked(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    head, rest = read_until(s, b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    body, _ = read_until(s, b"0\r\n\r\n", rest)
    assert body == b"1\r\na\r\n2\r\nbc\r\n1\r\nd\r\n0\r\n\r\n"
    s.close()


def test_http_1_0_gets_a_close_delimited_stream(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
    data = read_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"chunked" not in head.lower() and body == b"abcd"
    s.close()


def test_hijack_keeps_bytes_sent_with_the_headers_and_half_closes(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly-")
    head, rest = read_until(s, b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert b"Content-Type: application/vnd.docker.raw-stream" in head and b"Upgrade: tcp" in head
    s.sendall(b"late")
    s.shutdown(socket.SHUT_WR)  # the hijack reads EOF, then answers
    assert rest + read_all(s) == b"EARLY-LATE"
    s.close()


def test_hijack_without_upgrade_answers_200_then_raw_bytes(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /attach HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nxy")
    s.shutdown(socket.SHUT_WR)
    data = read_all(s)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nXY")
    s.close()


def test_client_leaving_mid_stream_closes_the_iterator(sock: str) -> None:
    CLOSED.clear()
    s = connect(sock)
    s.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
    read_until(s, b"tick")
    s.close()
    assert CLOSED.wait(10)


def test_client_leaving_a_blocked_stream_cancels_it(sock: str) -> None:
    BLOCKED_ENDED.clear()
    s = connect(sock)
    s.sendall(b"POST /blocked HTTP/1.1\r\nHost: x\r\n\r\n")
    read_until(s, b"\r\n\r\n")  # the headers come at once, as for /containers/{id}/wait
    assert not BLOCKED.is_set()
    s.close()
    assert BLOCKED_ENDED.wait(10)  # its worker thread is free again, long before the body's 30 s
    assert BLOCKED.is_set()


def test_stream_failing_midway_ends_the_connection_without_final_chunk(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"GET /failing HTTP/1.1\r\nHost: x\r\n\r\n")
    data = read_all(s)
    assert b"first\n" in data and not data.endswith(b"0\r\n\r\n")
    s.close()


def test_handler_exception_is_a_500_json_message(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = read_all(s).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ")
    assert json.loads(body) == {"message": "internal error: RuntimeError: kaboom"}
    assert b"Api-Version: 9.99" in head


def test_declared_huge_body_is_413_without_reading_it(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
    head, _, body = read_all(s).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body) == {"message": "request body of 104857600 bytes exceeds the limit of 1000 bytes"}


def test_chunked_body_over_the_limit_is_413(sock: str) -> None:
    s = connect(sock)
    chunk = b"x" * 600
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    s.sendall(b"258\r\n" + chunk + b"\r\n258\r\n" + chunk + b"\r\n0\r\n\r\n")
    head, _, body = read_all(s).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body) == {"message": "request body exceeds the limit of 1000 bytes"}


def test_bulk_endpoints_get_the_larger_limit(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /v1.47/images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 1500\r\n\r\n" + b"x" * 1500)
    head, rest = read_until(s, b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 ")  # past the limit, into the (fake) route table
    s.close()


def test_body_within_the_limit_reaches_the_handler(sock: str) -> None:
    s = connect(sock)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
    assert read_all(s).endswith(b'{"length": 5}\n')


@pytest.mark.parametrize(
    "raw",
    [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", b"GET /\x00 HTTP/9.9\r\n\r\n"],
)
def test_malformed_requests_are_400_with_a_message(sock: str, raw: bytes) -> None:
    s = connect(sock)
    s.sendall(raw)
    head, _, body = read_all(s).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") or head.startswith(b"HTTP/1.1 505 ")
    assert json.loads(body)["message"].startswith("malformed request: ")


def test_server_survives_abrupt_clients(sock: str) -> None:
    for raw in (b"GET /hel", b"POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", b""):
        s = connect(sock)
        s.sendall(raw)
        s.close()
    s = connect(sock)
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert read_all(s).endswith(b'{"hello": "world"}\n')


def test_write_after_the_hijacked_stream_closed_is_a_broken_pipe(sock: str) -> None:
    LATE_WRITE.clear()
    s = connect(sock)
    s.sendall(b"POST /late HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    head, _, rest = read_all(s).partition(b"\r\n\r\n")
    assert b"Content-Type: application/vnd.docker.multiplexed-stream" in head and rest == b"bye"
    for _ in range(500):  # the hijack records the error right after the client saw EOF
        if LATE_WRITE:
            break
        time.sleep(0.01)
    assert [str(e) for e in LATE_WRITE] == ["write to a closed hijacked stream"]


def test_headers_of_a_stream_arrive_before_its_first_chunk(sock: str) -> None:
    """`docker run` reads the headers of /wait before it calls /start: they must not wait for the exit."""
    RELEASE.clear()
    s = connect(sock)
    s.sendall(b"POST /wait HTTP/1.1\r\nHost: x\r\n\r\n")
    head, rest = read_until(s, b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and not RELEASE.is_set()
    RELEASE.set()
    body, _ = read_until(s, b"0\r\n\r\n", rest)
    assert b'{"StatusCode":0}' in body
    s.close()
