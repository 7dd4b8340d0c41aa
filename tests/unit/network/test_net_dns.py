"""The DNS codec round-trips and the resolver's local answers from records files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dockyard.network import dns
from dockyard.network import dnsmsg as m


def test_query_round_trip() -> None:
    raw = m.query(0x1234, "Web.Example.", m.TYPE_AAAA)
    msg = m.decode(raw)
    assert msg.id == 0x1234
    assert msg.flags == m.FLAG_RD
    assert msg.questions == (m.Question("web.example", m.TYPE_AAAA),)
    assert m.encode(msg) == raw


def test_response_round_trip_with_compression() -> None:
    request = m.decode(m.query(7, "web", m.TYPE_A))
    reply = m.response(request, (m.a_record("web", "10.0.0.2"), m.a_record("web", "10.0.0.3")))
    raw = m.encode(reply)
    assert raw.count(b"\xc0\x0c") == 2  # both answers point at the question's name
    back = m.decode(raw)
    assert back == reply
    assert back.is_response and back.rcode == m.RCODE_OK
    assert back.flags & m.FLAG_AA and back.flags & m.FLAG_RD
    assert [m.record_text(r) for r in back.answers] == ["10.0.0.2", "10.0.0.3"]


def test_ptr_and_aaaa_records() -> None:
    request = m.decode(m.query(9, m.reverse_name("10.0.0.2"), m.TYPE_PTR))
    assert request.questions[0].name == "2.0.0.10.in-addr.arpa"
    back = m.decode(m.encode(m.response(request, (m.ptr_record(request.questions[0].name, "web.net"),))))
    assert m.record_text(back.answers[0]) == "web.net"
    assert m.record_text(m.aaaa_record("x", "fd00::1")) == "fd00::1"
    assert m.address_of_reverse("2.0.0.10.in-addr.arpa") == "10.0.0.2"
    assert m.address_of_reverse("2.0.10.in-addr.arpa") is None
    assert m.address_of_reverse("example.org") is None


def test_decode_follows_pointers_and_rejects_garbage() -> None:
    header = struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0)
    question = m.encode_name("a.example") + struct.pack("!HH", 1, 1)
    answer = b"\xc0\x0e" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([1, 2, 3, 4])  # points at "example"
    msg = m.decode(header + question + answer)
    assert msg.answers[0].name == "example"
    for bad, why in [
        (b"\x00" * 5, "shorter than its header"),
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x05ab", "label runs past"),
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c", "compression pointer loop"),
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x00\x00", "truncated question"),
    ]:
        with pytest.raises(m.DNSFormatError, match=why):
            m.decode(bad)
    with pytest.raises(m.DNSFormatError, match="bad label"):
        m.encode_name("a.." + "b")


@pytest.fixture
def records(tmp_path: Path) -> dns.Records:
    dns.write_network_records(tmp_path, "n1", "front", [dns.NameRecord(names=("web", "www"), ipv4="10.1.0.2"),
                                                        dns.NameRecord(names=("cli",), ipv4="10.1.0.3")])  # fmt: skip
    dns.write_network_records(tmp_path, "n2", "back", [dns.NameRecord(names=("db",), ipv4="10.2.0.2")])
    dns.write_container_networks(tmp_path, "cli", ["n1"])
    return dns.Records(tmp_path, "cli")


def ask(records: dns.Records, name: str, qtype: int = m.TYPE_A) -> m.Message | None:
    return dns.local_answer(records, m.decode(m.query(5, name, qtype)))


def test_answers_names_and_aliases_on_shared_networks(records: dns.Records) -> None:
    for name in ("web", "WWW", "web.front"):
        reply = ask(records, name)
        assert reply is not None and [m.record_text(a) for a in reply.answers] == ["10.1.0.2"], name
    assert ask(records, "db") is None  # on a network this container does not share: forwarded
    assert ask(records, "example.org") is None


def test_aaaa_for_known_name_is_empty_noerror(records: dns.Records) -> None:
    reply = ask(records, "web", m.TYPE_AAAA)
    assert reply is not None and reply.rcode == m.RCODE_OK and reply.answers == ()


def test_ptr_answers_name_dot_network(records: dns.Records) -> None:
    reply = ask(records, m.reverse_name("10.1.0.3"), m.TYPE_PTR)
    assert reply is not None and m.record_text(reply.answers[0]) == "cli.front"
    assert ask(records, m.reverse_name("10.2.0.2"), m.TYPE_PTR) is None


def test_records_reload_when_files_change(tmp_path: Path, records: dns.Records) -> None:
    assert ask(records, "db") is None
    dns.write_container_networks(tmp_path, "cli", ["n1", "n2"])
    reply = ask(records, "db")
    assert reply is not None and m.record_text(reply.answers[0]) == "10.2.0.2"
    dns.write_container_networks(tmp_path, "cli", [])
    assert ask(records, "web") is None
    assert not (tmp_path / "containers" / "cli.json").exists()


def test_unsupported_opcode_and_multi_question(records: dns.Records) -> None:
    request = m.decode(m.query(1, "web"))
    notify = m.Message(1, 4 << 11, request.questions)
    reply = dns.local_answer(records, notify)
    assert reply is not None and reply.rcode == m.RCODE_NOTIMP
    two = m.Message(1, 0, request.questions * 2)
    reply = dns.local_answer(records, two)
    assert reply is not None and reply.rcode == m.RCODE_FORMERR


def test_parse_upstream() -> None:
    assert dns.parse_upstream("10.0.0.1") == ("10.0.0.1", 53)
    assert dns.parse_upstream("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert dns.parse_upstream("[::1]:54") == ("::1", 54)
    assert dns.parse_upstream("fd00::1") == ("fd00::1", 53)
