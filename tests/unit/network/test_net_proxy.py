"""The userland proxy process on loopback only: TCP and UDP relaying, start failures, stopping."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from dockyard.network import helpers, proxy
from dockyard.network.portmap import port_free


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_until_stopped(sock: socket.socket, handle: Callable[[socket.socket], None]) -> Callable[[], None]:
    """Run `handle(sock)` in a loop on a thread; the returned function stops and joins it, then closes the
    socket (a thread left blocked on a closed socket would read a later socket that reuses the descriptor)."""
    stopping = threading.Event()
    sock.settimeout(0.05)

    def loop() -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                handle(sock)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(5)
        sock.close()

    return stop


def _echo_tcp(srv: socket.socket) -> None:
    conn, _ = srv.accept()
    with conn:
        conn.settimeout(5)
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
        conn.sendall(b"echo:" + data)  # answers after the client's half-close


def _echo_udp(srv: socket.socket) -> None:
    data, client = srv.recvfrom(4096)
    srv.sendto(b"echo:" + data, client)


@pytest.fixture
def tcp_echo() -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = serve_until_stopped(srv, _echo_tcp)
    yield srv.getsockname()[1]
    stop()


@pytest.fixture
def udp_echo() -> Iterator[int]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    stop = serve_until_stopped(srv, _echo_udp)
    yield srv.getsockname()[1]
    stop()


def test_tcp_relay_with_half_close(tcp_echo: int) -> None:
    port = free_port()
    pid = proxy.start_proxy("tcp", "127.0.0.1", port, "127.0.0.1", tcp_echo)
    try:
        assert not port_free("tcp", "127.0.0.1", port)  # the proxy holds the host port
        for payload in (b"hello", b"x" * 200_000):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(payload)
                c.shutdown(socket.SHUT_WR)
                got = b""
                while chunk := c.recv(65536):
                    got += chunk
            assert got == b"echo:" + payload
    finally:
        assert proxy.stop_proxy(pid)
    assert port_free("tcp", "127.0.0.1", port)
    assert not helpers.is_helper(pid, proxy.MODULE)
    assert proxy.stop_proxy(pid) is False


def test_udp_relay(udp_echo: int) -> None:
    port = free_port(socket.SOCK_DGRAM)
    pid = proxy.start_proxy("udp", "127.0.0.1", port, "127.0.0.1", udp_echo)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(5)
            for payload in (b"one", b"two"):
                c.sendto(payload, ("127.0.0.1", port))
                assert c.recv(4096) == b"echo:" + payload
    finally:
        proxy.stop_proxy(pid)


def test_start_fails_when_port_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(helpers.HelperFailed) as err:
            proxy.start_proxy("tcp", "127.0.0.1", port, "127.0.0.1", 9)
    assert str(err.value) == f"start proxy for 127.0.0.1:{port}/tcp: [Errno 98] Address already in use"


def test_parse_args() -> None:
    args = proxy.parse_args(["-proto", "udp", "-host-port", "1", "-container-ip", "10.0.0.2", "-container-port", "2"])
    assert args == {"-proto": "udp", "-host-ip": "0.0.0.0", "-host-port": "1", "-container-ip": "10.0.0.2",
                    "-container-port": "2"}  # fmt: skip
    with pytest.raises(ValueError, match="bad argument: -bogus"):
        proxy.parse_args(["-bogus", "1"])
    with pytest.raises(ValueError, match="missing -host-port"):
        proxy.parse_args(["-container-ip", "1", "-container-port", "2"])
