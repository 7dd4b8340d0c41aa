"""client/unix.py: the small HTTP/1.1 client (Content-Length, chunked and close-delimited bodies, errors, the
attach hijack) against a scripted server on a unix socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.client.transport import Endpoint
from dockyard.client.unix import HttpTransport, UnixTransport, parse_head, urlencode
from dockyard.errors import Unavailable


class Server:
    """Answers each connection with the next scripted reply and keeps what each request sent."""

    def __init__(self, path: str, replies: list[bytes]) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.replies = replies
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for reply in self.replies:
            conn, _ = self.sock.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                conn.sendall(reply)
                if reply.startswith(b"HTTP/1.1 101"):
                    conn.sendall(conn.recv(100).upper())  # echo one message over the hijacked stream

    def close(self) -> None:
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def path(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path / "d.sock")


def test_bodies_by_length_chunks_and_close(path: str) -> None:
    server = Server(path, [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ])  # fmt: skip
    transport = UnixTransport(path)
    first = transport.request("GET", "/v1.47/containers/json", query={"all": "1", "filters": '{"a b":[]}'})
    assert (first.status, first.headers["content-type"], first.read()) == (200, "application/json", b"[]")
    assert list(transport.request("GET", "/logs").chunks) == [b"abc", b"de"]
    assert transport.request("GET", "/x").read() == b"until the end"
    created = transport.request("POST", "/containers/create", body=b'{"Image":"x"}')
    assert (created.status, created.read()) == (204, b"")
    server.close()
    assert server.requests[0].startswith(
        b"GET /v1.47/containers/json?all=1&filters=%7B%22a+b%22%3A%5B%5D%7D HTTP/1.1\r\nHost: dockyard\r\n"
    )
    assert b"Content-Length: 13\r\n" in server.requests[3] and server.requests[3].endswith(b'\r\n\r\n{"Image":"x"}')


def test_hijack_returns_the_raw_connection_and_sends_the_body(path: str) -> None:
    server = Server(path, [
        b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        b'HTTP/1.1 409 Conflict\r\nContent-Length: 22\r\n\r\n{"message":"not here"}',
    ])  # fmt: skip
    transport = UnixTransport(path)
    response = transport.hijack("POST", "/exec/abc/start", body=b'{"Detach":false}')
    assert response.status == 101 and response.sock is not None
    response.sock.sendall(b"hello")
    assert response.sock.recv(100) == b"HELLO"
    response.sock.close()
    refused = transport.hijack("POST", "/containers/x/attach", query={"stream": "1"})
    assert (refused.status, refused.read()) == (409, b'{"message":"not here"}')
    server.close()
    assert server.requests[0].endswith(b'Content-Length: 16\r\n\r\n{"Detach":false}')
    assert b"Connection: Upgrade\r\nUpgrade: tcp\r\n" in server.requests[1]


def test_no_daemon_is_unavailable_with_dockers_wording(path: str) -> None:
    with pytest.raises(Unavailable) as unix:
        UnixTransport(path).request("GET", "/_ping")
    assert unix.value.message == f"Cannot connect to the dockyard daemon at unix://{path}. Is the daemon running?"
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(Unavailable) as tcp:
        HttpTransport(Endpoint(scheme="tcp", host="127.0.0.1", port=port)).request("GET", "/_ping")
    assert (
        tcp.value.message == f"Cannot connect to the dockyard daemon at tcp://127.0.0.1:{port}. Is the daemon running?"
    )


def test_a_garbled_answer_is_unavailable(path: str) -> None:
    server = Server(path, [b"SSH-2.0-OpenSSH\r\n\r\n"])
    with pytest.raises(Unavailable) as info:
        UnixTransport(path).request("GET", "/_ping")
    server.close()
    assert info.value.message == "GET /_ping: malformed status line 'SSH-2.0-OpenSSH'"


def test_parse_head_and_urlencode() -> None:
    assert parse_head(b"HTTP/1.1 404 Not Found\r\nApi-Version: 1.47\r\nX:  y \r\n") == (
        404, {"api-version": "1.47", "x": "y"})  # fmt: skip
    with pytest.raises(ValueError, match="malformed status line"):
        parse_head(b"HTTP/1.1 abc\r\n")
    assert urlencode({"a": "x y/é", "b~": "1*"}) == "a=x+y%2F%C3%A9&b~=1%2A"


@pytest.mark.parametrize("peek", [True, False])
def test_hijack_head_is_read_up_to_its_blank_line_and_no_further(peek: bool) -> None:
    from dockyard.client.unix import _recv_head

    ours, theirs = socket.socketpair()
    with ours, theirs:
        # the blank line split across two sends, stream bytes right behind it in the second
        theirs.sendall(b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r")
        sender = threading.Timer(0.05, theirs.sendall, args=(b"\n\x01\x00\x00\x00\x00\x00\x00\x02hi",))
        sender.start()
        assert _recv_head(ours, peek) == b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n"
        sender.join()
        assert ours.recv(100) == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
        theirs.sendall(b"HTTP/1.1 101 UPGRADED\r\n")
        theirs.shutdown(socket.SHUT_WR)
        assert _recv_head(ours, peek) is None
