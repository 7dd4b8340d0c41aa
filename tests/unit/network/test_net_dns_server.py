"""The resolver's select loop on loopback sockets: local answers, forwarding with id rewriting, failover, TCP."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.network import dns
from dockyard.network import dnsmsg as m


class FakeUpstream:
    """A UDP DNS server on 127.0.0.1 answering every A query with 10.77.0.1.

    Its thread polls a stop flag and is joined before the socket closes: a thread left blocked on a closed
    socket would read whatever later socket reuses the descriptor number.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.seen: list[m.Message] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping:
            try:
                data, client = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            request = m.decode(data)
            self.seen.append(request)
            reply = m.response(request, (m.a_record(request.questions[0].name, "10.77.0.1"),))
            self.sock.sendto(m.encode(reply), client)

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[dns.Server, FakeUpstream, int]]:
    dns.write_network_records(tmp_path, "n1", "net", [dns.NameRecord(names=("web",), ipv4="10.1.0.2")])
    dns.write_container_networks(tmp_path, "c", ["n1"])
    upstream = FakeUpstream()
    # The first upstream is a closed port: queries fail over to the second one.
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    up4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(4)
    srv = dns.Server(dns.Records(tmp_path, "c"), [("127.0.0.1", dead_port), ("127.0.0.1", upstream.port)], up4,
                     None, udp, tcp)  # fmt: skip
    srv.timeout = 0.2
    stop_r, stop_w = os.pipe()
    thread = threading.Thread(target=srv.serve, args=(stop_r,), daemon=True)
    thread.start()
    yield srv, upstream, udp.getsockname()[1]
    os.write(stop_w, b"x")
    thread.join(5)
    upstream.stop()
    for s in (up4, udp, tcp, dead):
        s.close()
    os.close(stop_r)
    os.close(stop_w)
    assert not thread.is_alive()


def udp_ask(port: int, name: str, msg_id: int = 0x4242) -> m.Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(m.query(msg_id, name), ("127.0.0.1", port))
        return m.decode(s.recv(4096))


def test_local_name_answered_directly(server: tuple[dns.Server, FakeUpstream, int]) -> None:
    _, upstream, port = server
    reply = udp_ask(port, "web")
    assert reply.id == 0x4242 and [m.record_text(a) for a in reply.answers] == ["10.1.0.2"]
    assert upstream.seen == []


def test_unknown_name_forwarded_with_original_id(server: tuple[dns.Server, FakeUpstream, int]) -> None:
    _, upstream, port = server
    reply = udp_ask(port, "example.org", msg_id=0x0101)
    assert reply.id == 0x0101
    assert [m.record_text(a) for a in reply.answers] == ["10.77.0.1"]
    assert [q.questions[0].name for q in upstream.seen] == ["example.org"]


def test_tcp_query(server: tuple[dns.Server, FakeUpstream, int]) -> None:
    srv, _, _ = server
    port = srv.tcp.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        q = m.query(3, "web")
        s.sendall(len(q).to_bytes(2, "big") + q)
        size = int.from_bytes(s.recv(2), "big")
        reply = m.decode(s.recv(size))
    assert [m.record_text(a) for a in reply.answers] == ["10.1.0.2"]


def test_servfail_when_every_upstream_is_silent(tmp_path: Path) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    answers: list[bytes] = []
    srv = dns.Server(dns.Records(tmp_path, "c"), [("127.0.0.1", silent.getsockname()[1])],
                     socket.socket(socket.AF_INET, socket.SOCK_DGRAM), None, silent, silent)  # fmt: skip
    srv.timeout = 0.0
    srv.handle(m.query(9, "nowhere.example"), answers.append)
    assert answers == []
    srv.expire()
    reply = m.decode(answers[0])
    assert reply.id == 9 and reply.rcode == m.RCODE_SERVFAIL
    srv.up4.close()
    silent.close()
