"""A minimal rtnetlink client: the handful of RTM_* requests the bridge driver needs, as raw messages.

Why not pyroute2 here: importing even its IPRoute core costs ≈ 60 ms (asyncio, its message classes), the
whole package ≈ 90 ms, on every `run` with a bridge network; these requests are a few struct.pack calls.
Layouts from rtnetlink(7) and <linux/if_link.h>, <linux/veth.h>. Only netlink.py uses this module.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import NamedTuple

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_GATEWAY = 1, 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1
_HDR = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change


class NetlinkError(OSError):
    """The kernel refused a request; `errno` is its reason."""


def attr(kind: int, data: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * (-length % 4)


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def ifinfo(index: int = 0, *, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


class Request(NamedTuple):
    """One rtnetlink request; `tolerate` is an errno that counts as done (EEXIST: the address is there)."""

    kind: int
    body: bytes
    flags: int = 0
    tolerate: int = 0


class Rtnl:
    """One NETLINK_ROUTE socket, bound to the network namespace of the thread that opened it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def request(self, kind: int, body: bytes, flags: int = 0) -> None:
        """Send one request with NLM_F_ACK and wait for its acknowledgement; NetlinkError on a refusal."""
        self.send(Request(kind, body, flags))

    def send(self, *requests: Request) -> None:
        """Send the requests in one datagram, then wait for every acknowledgement; the first refusal is raised.

        why one datagram: the kernel runs a datagram's messages in order (netlink_rcv_skb), each acknowledged
        on its own, so dependent steps (address, link up, then the route through it) cost one round trip."""
        first = self.seq + 1
        out = []
        for req in requests:
            self.seq += 1
            flags = NLM_F_REQUEST | NLM_F_ACK | req.flags
            out.append(_HDR.pack(_HDR.size + len(req.body), req.kind, flags, self.seq, 0) + req.body)
        self.sock.send(b"".join(out))
        pending, failure = set(range(first, self.seq + 1)), None
        while pending:
            data = self.sock.recv(65536)
            at = 0
            while at + _HDR.size <= len(data):
                length, mtype, _flags, seq, _pid = _HDR.unpack_from(data, at)
                if seq in pending and mtype in (NLMSG_ERROR, NLMSG_DONE):
                    pending.discard(seq)
                    code = -struct.unpack_from("=i", data, at + _HDR.size)[0] if mtype == NLMSG_ERROR else 0
                    if code and code != requests[seq - first].tolerate and failure is None:
                        failure = NetlinkError(code, os.strerror(code))
                at += max(length + (-length % 4), _HDR.size)
        if failure is not None:
            raise failure

    # ---- the requests netlink.py makes -----------------------------------------------------------------
    def new_bridge(self, name: str, mtu: int) -> None:
        info = attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, cstr("bridge")))
        body = ifinfo() + attr(IFLA_IFNAME, cstr(name)) + attr(IFLA_MTU, struct.pack("=I", mtu)) + info
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL)

    def new_veth(self, name: str, peer: str, *, peer_mac: str, peer_netns_fd: int, mtu: int,
                 master: int | None = None, up: bool = False) -> None:  # fmt: skip
        """A veth pair whose peer is born in the namespace `peer_netns_fd` with its final name and MAC; with
        `master` the host end is plugged into that bridge, with `up` it comes up, in the same request.

        why not the peer up too: veth_newlink configures the peer before the pair is linked, and opening a veth
        without its peer fails with ENOTCONN (drivers/net/veth.c); the peer is brought up afterwards."""
        flags = IFF_UP if up else 0
        mtu_attr = attr(IFLA_MTU, struct.pack("=I", mtu))
        peer_msg = ifinfo() + attr(IFLA_IFNAME, cstr(peer))
        peer_msg += attr(IFLA_ADDRESS, mac_bytes(peer_mac)) + mtu_attr
        peer_msg += attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
        data = attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg))
        info = attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, cstr("veth")) + data)
        extra = attr(IFLA_MASTER, struct.pack("=I", master)) if master is not None else b""
        body = ifinfo(flags=flags, change=flags) + attr(IFLA_IFNAME, cstr(name)) + mtu_attr + extra + info
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL)

    def set_link(self, index: int, *, up: bool = True, master: int | None = None) -> None:
        self.send(link_request(index, up=up, master=master))

    def del_link(self, index: int) -> None:
        self.request(RTM_DELLINK, ifinfo(index))

    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        """IPv4 address; an address already there is fine (EEXIST swallowed)."""
        self.send(address_request(index, address, prefixlen))

    def add_default_route(self, gateway: str) -> None:
        self.send(default_route_request(gateway))


def link_request(index: int, *, up: bool = True, master: int | None = None) -> Request:
    extra = attr(IFLA_MASTER, struct.pack("=I", master)) if master is not None else b""
    return Request(RTM_NEWLINK, ifinfo(index, flags=IFF_UP if up else 0, change=IFF_UP) + extra)


def address_request(index: int, address: str, prefixlen: int) -> Request:
    """An IPv4 address on a link; one already there counts as done."""
    raw = socket.inet_aton(address)
    body = struct.pack("=BBBBI", socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
    body += attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)
    return Request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL, tolerate=errno.EEXIST)


def default_route_request(gateway: str, *, tolerate: int = 0) -> Request:
    body = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE,
                       RTN_UNICAST, 0)  # fmt: skip
    body += attr(RTA_GATEWAY, socket.inet_aton(gateway))
    return Request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL, tolerate=tolerate)


def index_of(name: str) -> int | None:
    """The interface index in the calling thread's namespace (if_nametoindex(3) asks through a fresh socket)."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None
