"""POST /build through daemon/server.py and the real handler: the context streams in (chunked or Content-Length,
100-continue), the bulk limit answers 413, a body cut short answers 400 and leaves no spooled file; a commit's
small JSON body keeps the small limit; the client's build uploads a directory as a tar stream."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.api.routes import Api
from dockyard.client import build as client_build
from dockyard.client.client import APIError, Client
from dockyard.client.unix import UnixTransport
from dockyard.daemon.server import Limits
from dockyard.engine.engine import Engine
from dockyard.paths import Paths
from fixtures.serving import serving
from fixtures.transfer import tar_of as make_tar

LIMITS = Limits(max_body=1000, max_bulk_body=200_000)
UNSUPPORTED = {"message": "build: Dockerfile builds are not supported by this engine yet"}


CONTEXT = make_tar({"Dockerfile": b"FROM busybox\n", "data.bin": bytes(range(256)) * 400})  # ≈ 113 kB


@pytest.fixture()
def daemon(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(socket path, data root) of a Server over the real Api on a private data root."""
    data = tmp_path / "data"
    api = Api(lambda: Engine(Paths(data_root=str(data), exec_root=str(data / "run")), runtime="runc"))
    with serving(api.handle, str(tmp_path / "s.sock"), LIMITS) as path:
        yield path, data


def connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def answer(s: socket.socket) -> tuple[bytes, dict[str, str]]:
    """(status line, JSON body) of one Content-Length response."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, f"connection closed early: {buf!r}"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed inside the body"
        rest += chunk
    return head.split(b"\r\n")[0], json.loads(rest[:length])


def chunked(data: bytes, piece: int = 7000) -> bytes:
    return b"".join(
        b"%x\r\n%s\r\n" % (len(data[i : i + piece]), data[i : i + piece]) for i in range(0, len(data), piece)
    )


def spooled(data: Path) -> list[str]:
    return os.listdir(data / "tmp") if (data / "tmp").exists() else []


def test_a_chunked_context_streams_to_the_handler(daemon: tuple[str, Path]) -> None:
    sock, data = daemon
    s = connect(sock)
    s.sendall(b"POST /v1.41/build?t=x HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n")
    s.sendall(chunked(CONTEXT) + b"0\r\n\r\n")
    assert answer(s) == (b"HTTP/1.1 501 Not Implemented", UNSUPPORTED)
    assert spooled(data) == []


def test_content_length_and_100_continue(daemon: tuple[str, Path]) -> None:
    sock, _ = daemon
    s = connect(sock)
    s.sendall(b"POST /build HTTP/1.1\r\nHost: d\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(CONTEXT))
    assert s.recv(100).startswith(b"HTTP/1.1 100 ")
    s.sendall(CONTEXT)
    assert answer(s) == (b"HTTP/1.1 501 Not Implemented", UNSUPPORTED)


def test_a_context_over_the_bulk_limit_is_413(daemon: tuple[str, Path]) -> None:
    sock, data = daemon
    s = connect(sock)
    big = make_tar({"Dockerfile": b"FROM busybox\n", "big": b"x" * 300_000})
    s.sendall(b"POST /build HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n")
    with contextlib.suppress(OSError):  # the daemon may answer and close before the rest is sent
        s.sendall(chunked(big) + b"0\r\n\r\n")
    assert answer(s) == (
        b"HTTP/1.1 413 Request Entity Too Large",
        {"message": "request body exceeds the limit of 200000 bytes"},
    )
    assert spooled(data) == []


@pytest.mark.parametrize(
    ("framing", "body", "message"),
    [
        (b"Transfer-Encoding: chunked", chunked(CONTEXT)[:60_000], "(incomplete chunked read)"),
        (b"Content-Length: %d" % len(CONTEXT), CONTEXT[:60_000], f"(received 60000 bytes, expected {len(CONTEXT)})"),
    ],
)
def test_a_context_cut_short_is_400_and_leaves_nothing(
    daemon: tuple[str, Path], framing: bytes, body: bytes, message: str
) -> None:
    sock, data = daemon
    s = connect(sock)
    s.sendall(b"POST /v1.41/build HTTP/1.1\r\nHost: d\r\n" + framing + b"\r\n\r\n" + body)
    s.shutdown(socket.SHUT_WR)
    assert answer(s) == (
        b"HTTP/1.1 400 Bad Request",
        {"message": f"read request body: peer closed connection without sending complete message body {message}"},
    )
    assert spooled(data) == []


def test_a_commit_body_keeps_the_small_limit(daemon: tuple[str, Path]) -> None:
    sock, _ = daemon
    s = connect(sock)
    s.sendall(b"POST /v1.41/commit?container=c HTTP/1.1\r\nHost: d\r\nContent-Length: 5000\r\n\r\n")
    assert answer(s) == (
        b"HTTP/1.1 413 Request Entity Too Large",
        {"message": "request body of 5000 bytes exceeds the limit of 1000 bytes"},
    )


def test_the_client_uploads_a_context_directory_as_a_stream(daemon: tuple[str, Path], tmp_path: Path) -> None:
    sock, data = daemon
    context = tmp_path / "ctx"
    (context / "sub").mkdir(parents=True)
    (context / "sub" / "Other").write_text("FROM busybox\n")
    (context / "data.bin").write_bytes(os.urandom(50_000))
    client = Client(UnixTransport(sock))
    with pytest.raises(APIError) as err, client_build.context_tar(str(context)) as upload:
        list(client_build.build(client, upload, tags=["x:1"], dockerfile="sub/Other"))
    assert (err.value.http_status, err.value.message) == (501, UNSUPPORTED["message"])
    with pytest.raises(APIError) as err, client_build.context_tar(str(context)) as upload:
        list(client_build.build(client, upload))
    assert (err.value.http_status, err.value.message) == (400, "Cannot locate specified Dockerfile: Dockerfile")
    assert spooled(data) == []


def test_the_context_tar_holds_the_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "d" / "f").write_bytes(b"hello")
    with client_build.context_tar(str(tmp_path)) as upload, tarfile.open(fileobj=upload, mode="r|") as tf:
        names = {m.name: (tf.extractfile(m).read() if m.isfile() else None) for m in tf}  # type: ignore[union-attr]
    assert names == {"Dockerfile": b"FROM busybox\n", "d": None, "d/f": b"hello"}


def test_a_read_hands_over_what_has_arrived_not_one_piece(tmp_path: Path) -> None:
    """One hop to the loop per read: bytes already on the connection go over together, not in 64 KiB pieces."""
    sent = threading.Event()
    sizes: list[int] = []

    def handle(method: str, path: str, query: object, headers: object, body: bytes, upload: io.BufferedReader) -> Any:
        from dockyard.api.messages import Response

        sent.wait(10)
        while data := upload.read1(4 << 20):
            sizes.append(len(data))
        return Response.json({})

    with serving(handle, str(tmp_path / "s.sock"), LIMITS) as path:
        s = connect(path)
        s.sendall(b"POST /build HTTP/1.1\r\nHost: d\r\nContent-Length: 150000\r\n\r\n" + b"x" * 150_000)
        sent.set()
        assert answer(s)[0] == b"HTTP/1.1 200 OK"
    assert sum(sizes) == 150_000
    assert max(sizes) > 65536, sizes  # one h11 piece per read would be ≤ 64 KiB each
