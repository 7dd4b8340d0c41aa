"""A small DNS message codec (RFC 1035 header, questions, resource records, name compression) for the
embedded resolver: enough for A, AAAA and PTR. Pure bytes in, dataclasses out; no sockets here.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from dockyard.oci.model import replace

TYPE_A = 1
TYPE_PTR = 12
TYPE_AAAA = 28
CLASS_IN = 1

RCODE_OK = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4

FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_RA = 0x0080

_HEADER = struct.Struct("!HHHHHH")


class DNSFormatError(ValueError):
    """A message that cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Question:
    name: str  # lower-case, no trailing dot
    qtype: int
    qclass: int = CLASS_IN


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    rtype: int
    rclass: int
    ttl: int
    data: bytes  # raw RDATA; names inside PTR data are encoded uncompressed


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    flags: int
    questions: tuple[Question, ...] = ()
    answers: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_QR)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """A possibly compressed name at `offset` → (name, offset after it in the original stream)."""
    labels: list[str] = []
    end = -1
    seen = 0
    while True:
        if offset >= len(data):
            raise DNSFormatError("name runs past the end of the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DNSFormatError("truncated compression pointer")
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            seen += 1
            if seen > 64:
                raise DNSFormatError("compression pointer loop")
            continue
        if length & 0xC0:
            raise DNSFormatError("unsupported label type")
        offset += 1
        if length == 0:
            break
        label = data[offset : offset + length]
        if len(label) != length:
            raise DNSFormatError("label runs past the end of the message")
        labels.append(label.decode("ascii", errors="replace"))
        offset += length
    name = ".".join(labels).lower()
    if len(name) > 253:
        raise DNSFormatError("name longer than 253 characters")
    return name, (end if end >= 0 else offset)


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise DNSFormatError(f"bad label in name {name!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\0")


def _read_record(data: bytes, offset: int) -> tuple[Record, int]:
    name, offset = _read_name(data, offset)
    if offset + 10 > len(data):
        raise DNSFormatError("truncated resource record")
    rtype, rclass, ttl, rdlength = struct.unpack_from("!HHIH", data, offset)
    offset += 10
    rdata = data[offset : offset + rdlength]
    if len(rdata) != rdlength:
        raise DNSFormatError("truncated record data")
    if rtype == TYPE_PTR:  # expand a compressed target so the record stands alone
        target, _ = _read_name(data, offset)
        rdata = encode_name(target)
    return Record(name, rtype, rclass, ttl, rdata), offset + rdlength


def decode(data: bytes) -> Message:
    if len(data) < _HEADER.size:
        raise DNSFormatError("message shorter than its header")
    msg_id, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    offset = _HEADER.size
    questions = []
    for _ in range(qd):
        name, offset = _read_name(data, offset)
        if offset + 4 > len(data):
            raise DNSFormatError("truncated question")
        qtype, qclass = struct.unpack_from("!HH", data, offset)
        offset += 4
        questions.append(Question(name, qtype, qclass))
    sections: list[list[Record]] = [[], [], []]
    for section, count in zip(sections, (an, ns, ar), strict=True):
        for _ in range(count):
            record, offset = _read_record(data, offset)
            section.append(record)
    return Message(msg_id, flags, tuple(questions), tuple(sections[0]), tuple(sections[1]), tuple(sections[2]))


def encode(msg: Message) -> bytes:
    """Encode; a name equal to the first question's is written as a pointer to it (offset 12)."""
    out = bytearray(_HEADER.pack(msg.id, msg.flags, len(msg.questions), len(msg.answers), len(msg.authority),
                                 len(msg.additional)))  # fmt: skip
    first = msg.questions[0].name if msg.questions else None
    for q in msg.questions:
        out += encode_name(q.name) + struct.pack("!HH", q.qtype, q.qclass)
    for record in (*msg.answers, *msg.authority, *msg.additional):
        out += b"\xc0\x0c" if record.name == first else encode_name(record.name)
        out += struct.pack("!HHIH", record.rtype, record.rclass, record.ttl, len(record.data)) + record.data
    return bytes(out)


def query(msg_id: int, name: str, qtype: int = TYPE_A, *, recursion: bool = True) -> bytes:
    return encode(Message(msg_id, FLAG_RD if recursion else 0, (Question(name.lower().rstrip("."), qtype),)))


def a_record(name: str, ip: str, ttl: int = 600) -> Record:
    return Record(name, TYPE_A, CLASS_IN, ttl, ipaddress.IPv4Address(ip).packed)


def aaaa_record(name: str, ip: str, ttl: int = 600) -> Record:
    return Record(name, TYPE_AAAA, CLASS_IN, ttl, ipaddress.IPv6Address(ip).packed)


def ptr_record(name: str, target: str, ttl: int = 600) -> Record:
    return Record(name, TYPE_PTR, CLASS_IN, ttl, encode_name(target))


def record_text(record: Record) -> str:
    """The presentation form of an A/AAAA/PTR record's data (tests and debugging)."""
    if record.rtype == TYPE_A:
        return str(ipaddress.IPv4Address(record.data))
    if record.rtype == TYPE_AAAA:
        return str(ipaddress.IPv6Address(record.data))
    if record.rtype == TYPE_PTR:
        return _read_name(record.data, 0)[0]
    return record.data.hex()


def reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer


def address_of_reverse(name: str) -> str | None:
    """`2.0.17.172.in-addr.arpa` → `172.17.0.2`; None for anything else."""
    suffix = ".in-addr.arpa"
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    if len(parts) != 4:
        return None
    try:
        return str(ipaddress.IPv4Address(".".join(reversed(parts))))
    except ValueError:
        return None


def response(request: Message, answers: tuple[Record, ...] = (), rcode: int = RCODE_OK) -> Message:
    """A reply to `request`: same id and question, QR + AA + RA set, RD copied."""
    flags = FLAG_QR | FLAG_AA | FLAG_RA | (request.flags & FLAG_RD) | (request.flags & 0x7800) | rcode
    return replace(request, flags=flags, answers=answers, authority=(), additional=())
