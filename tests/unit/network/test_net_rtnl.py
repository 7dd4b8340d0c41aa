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
        """One acknowledgement per message of the last datagram, all in one read."""
        out, data, at = b"", self.sent[-1], 0
        while at < len(data):
            length, seq = struct.unpack_from("=I", data, at)[0], struct.unpack_from("=I", data, at + 8)[0]
            body = struct.pack("=i", -self.code) + data[at : at + 16]
            out += struct.pack("=IHHII", 16 + len(body), rtnl.NLMSG_ERROR, 0, seq, 0) + body
            at += length + (-length % 4)
        return out

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


def messages(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, seq, body) of each message in one datagram."""
    found, at = [], 0
    while at < len(data):
        length, kind, flags, seq, _pid = struct.unpack_from("=IHHII", data, at)
        found.append((kind, flags, seq, data[at + 16 : at + length]))
        at += length + (-length % 4)
    return found


def test_new_veth_with_master_and_up_sets_them_on_the_host_end_only() -> None:
    nl, sock = fake()
    nl.new_veth("vdyhost", "eth0", peer_mac="02:42:0a:00:00:02", peer_netns_fd=7, mtu=1500, master=9, up=True)
    (msg,) = sock.sent
    _family, _type, _index, flags, change = struct.unpack_from("=BxHiII", msg, 16)
    assert (flags, change) == (rtnl.IFF_UP, rtnl.IFF_UP)
    top = attrs(msg[16 + 16 :])
    assert top[rtnl.IFLA_MASTER] == struct.pack("=I", 9)
    peer = attrs(top[rtnl.IFLA_LINKINFO])[rtnl.IFLA_INFO_DATA]
    peer_info = attrs(peer)[rtnl.VETH_INFO_PEER]
    # the peer comes up later: a veth opened before its pair is linked fails with ENOTCONN
    assert struct.unpack_from("=BxHiII", peer_info)[3:] == (0, 0)


def test_send_puts_every_request_in_one_datagram_and_reads_every_ack() -> None:
    nl, sock = fake()
    nl.send(rtnl.address_request(2, "10.1.2.3", 24), rtnl.link_request(2), rtnl.default_route_request("10.1.2.1"))
    (datagram,) = sock.sent
    sent = messages(datagram)
    assert [(kind, seq) for kind, _flags, seq, _body in sent] == [
        (rtnl.RTM_NEWADDR, 1),
        (rtnl.RTM_NEWLINK, 2),
        (rtnl.RTM_NEWROUTE, 3),
    ]
    assert all(flags & rtnl.NLM_F_ACK for _kind, flags, _seq, _body in sent)
    nl.set_link(1)
    assert messages(sock.sent[-1])[0][2] == 4


def test_send_tolerates_only_the_errno_each_request_names() -> None:
    nl, _sock = fake(errno.EEXIST)
    nl.send(rtnl.address_request(2, "10.1.2.3", 24), rtnl.default_route_request("10.1.2.1", tolerate=errno.EEXIST))
    with pytest.raises(rtnl.NetlinkError) as caught:
        nl.send(rtnl.address_request(2, "10.1.2.3", 24), rtnl.default_route_request("10.1.2.1"))
    assert caught.value.errno == errno.EEXIST
