"""rtnl.py's messages, checked byte by byte against rtnetlink(7)'s layouts with a fake socket (no root)."""

from __future__ import annotations

import errno
import struct

import pytest

from dockyard.network import rtnl


class FakeSocket:
    """Records what is sent; answers each request with an NLMSG_ERROR carrying `code` (0: an ACK)."""

    def __init__(self, code: int = 0) -> None:
        self.sent: list[bytes] = []
        self.code = code

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def recv(self, size: int) -> bytes:
        seq = struct.unpack_from("=I", self.sent[-1], 8)[0]
        body = struct.pack("=i", -self.code) + self.sent[-1][:16]
        return struct.pack("=IHHII", 16 + len(body), rtnl.NLMSG_ERROR, 0, seq, 0) + body

    def close(self) -> None:
        pass


def fake(code: int = 0) -> tuple[rtnl.Rtnl, FakeSocket]:
    nl = rtnl.Rtnl.__new__(rtnl.Rtnl)
    sock = FakeSocket(code)
    nl.sock, nl.seq = sock, 0  # type: ignore[assignment]
    return nl, sock


def attrs(data: bytes) -> dict[int, bytes]:
    found, at = {}, 0
    while at < len(data):
        length, kind = struct.unpack_from("=HH", data, at)
        found[kind] = data[at + 4 : at + length]
        at += length + (-length % 4)
    return found


def test_attr_pads_to_four_bytes() -> None:
    assert rtnl.attr(3, b"ab\0") == b"\x07\x00\x03\x00ab\0\0"
    assert rtnl.attr(4, struct.pack("=I", 1500)) == b"\x08\x00\x04\x00" + struct.pack("=I", 1500)


def test_new_veth_puts_the_peer_with_name_mac_and_namespace_in_linkinfo() -> None:
    nl, sock = fake()
    nl.new_veth("vdyhost", "eth0", peer_mac="02:42:0a:00:00:02", peer_netns_fd=7, mtu=1400)
    (msg,) = sock.sent
    length, kind, flags = struct.unpack_from("=IHH", msg)
    assert (length, kind) == (len(msg), rtnl.RTM_NEWLINK)
    assert flags == rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    top = attrs(msg[16 + 16 :])
    assert top[rtnl.IFLA_IFNAME] == b"vdyhost\0" and top[rtnl.IFLA_MTU] == struct.pack("=I", 1400)
    info = attrs(top[rtnl.IFLA_LINKINFO])
    assert info[rtnl.IFLA_INFO_KIND] == b"veth\0"
    peer = attrs(attrs(info[rtnl.IFLA_INFO_DATA])[rtnl.VETH_INFO_PEER][16:])
    assert peer[rtnl.IFLA_IFNAME] == b"eth0\0"
    assert peer[rtnl.IFLA_ADDRESS] == bytes([2, 0x42, 10, 0, 0, 2])
    assert peer[rtnl.IFLA_NET_NS_FD] == struct.pack("=I", 7)


def test_add_default_route_is_a_unicast_route_in_main_with_the_gateway() -> None:
    nl, sock = fake()
    nl.add_default_route("10.1.2.1")
    body = sock.sent[0][16:]
    family, dst_len, _src, _tos, table, proto, scope, rtype = struct.unpack_from("=8B", body)
    assert (family, dst_len, table, proto, scope, rtype) == (2, 0, 254, rtnl.RTPROT_BOOT, 0, rtnl.RTN_UNICAST)
    assert attrs(body[12:]) == {rtnl.RTA_GATEWAY: bytes([10, 1, 2, 1])}


def test_a_refusal_raises_with_the_kernels_errno() -> None:
    nl, _sock = fake(errno.EPERM)
    with pytest.raises(rtnl.NetlinkError) as caught:
        nl.del_link(5)
    assert caught.value.errno == errno.EPERM and str(caught.value) == "[Errno 1] Operation not permitted"


def test_an_address_already_there_is_fine_other_errors_are_not() -> None:
    nl, _sock = fake(errno.EEXIST)
    nl.add_address(3, "10.1.2.1", 24)
    nl, _sock = fake(errno.EINVAL)
    with pytest.raises(rtnl.NetlinkError):
        nl.add_address(3, "10.1.2.1", 24)
