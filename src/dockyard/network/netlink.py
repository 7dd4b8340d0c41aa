"""Links, addresses and routes through netlink: bridges, veth pairs into a container's namespace, loopback.

The one module that configures links; it speaks rtnetlink through our small rtnl.py (pyroute2 cost ≈ 90 ms
to import on every bridged `run`). To configure the container's end we setns(2) the calling thread into its
namespace just long enough to open a netlink socket there: a netns switch is per-thread (setns(2):
CLONE_NEWNET affects the caller only), and the socket stays bound to the namespace it was created in.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from dockyard.errors import InternalError, NotFound, SyscallError
from dockyard.network import rtnl

CLONE_NEWNET = 0x40000000
_libc: ctypes.CDLL | None = None


def _setns(fd: int, target: str) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise SyscallError("setns", target, ctypes.get_errno())


def setns_path(netns_path: str) -> None:
    """Move the calling thread into a network namespace for good (the single-threaded resolver process)."""
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(fd, netns_path)
    finally:
        os.close(fd)


@contextlib.contextmanager
def entered(netns_path: str) -> Iterator[None]:
    """Run the block with this thread inside the network namespace at `netns_path`, then come back."""
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise NotFound(f"open network namespace `{netns_path}`: {os.strerror(err.errno or 0).lower()}") from err
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target, netns_path)
        try:
            yield
        finally:
            # If we cannot return, this thread would silently keep working in the container's namespace.
            _setns(home, "/proc/thread-self/ns/net")
    finally:
        os.close(target)
        os.close(home)


def _rtnl(netns_path: str | None = None) -> rtnl.Rtnl:
    if netns_path is None:
        return rtnl.Rtnl()
    with entered(netns_path):
        return rtnl.Rtnl()


def _netlink_error(err: Exception) -> int:
    code = getattr(err, "errno", None)
    return code if isinstance(code, int) else errno.EIO


@dataclass(frozen=True, slots=True, kw_only=True)
class VethConfig:
    """The container end of a veth pair: its name inside, address, gateway and MAC."""

    host_ifname: str
    ifname: str
    address: str
    prefixlen: int
    gateway: str | None
    mac: str
    mtu: int = 1500


def ensure_bridge(name: str, address: str, prefixlen: int, *, mtu: int = 1500) -> bool:
    """Create the bridge if missing, give it the gateway address, bring it up; True when it was created."""
    with _rtnl() as nl:
        created = False
        idx = rtnl.index_of(name)
        try:
            if idx is None:
                nl.new_bridge(name, mtu)
                created = True
                idx = rtnl.index_of(name)
                if idx is None:
                    raise rtnl.NetlinkError(errno.ENODEV, "bridge vanished")
            nl.send(rtnl.address_request(idx, address, prefixlen), rtnl.link_request(idx, up=True))
        except OSError as err:
            if created and idx is not None:
                with contextlib.suppress(OSError):
                    nl.del_link(idx)
            raise SyscallError("netlink: set up bridge", name, _netlink_error(err)) from err
        return created


def delete_link(name: str) -> bool:
    """Delete a link of the host namespace (a veth takes its peer with it); False if it was not there."""
    idx = rtnl.index_of(name)
    if idx is None:
        return False
    with _rtnl() as nl:
        try:
            nl.del_link(idx)
        except OSError as err:
            if _netlink_error(err) == errno.ENODEV:
                return False
            raise SyscallError("netlink: delete link", name, _netlink_error(err)) from err
        return True


def link_names(prefix: str = "") -> list[str]:
    """Names of the host namespace's links starting with `prefix`."""
    return sorted(name for _index, name in socket.if_nameindex() if name.startswith(prefix))


def attach_veth(bridge: str, netns_path: str, cfg: VethConfig) -> None:
    """Create a veth pair whose peer is born inside the container namespace with its final name, the host end
    up and in the bridge (one request), then address the peer, bring it and lo up and add the default route
    (one more)."""
    br = rtnl.index_of(bridge)
    if br is None:
        raise NotFound(f"attach veth `{cfg.host_ifname}`: bridge `{bridge}` not found")
    with _rtnl() as nl:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            nl.new_veth(cfg.host_ifname, cfg.ifname, peer_mac=cfg.mac, peer_netns_fd=target, mtu=cfg.mtu,
                        master=br, up=True)  # fmt: skip
        except OSError as err:
            raise SyscallError("netlink: create veth", cfg.host_ifname, _netlink_error(err)) from err
        finally:
            os.close(target)
        try:
            _configure_peer(netns_path, cfg)
        except Exception as err:
            idx = rtnl.index_of(cfg.host_ifname)
            if idx is not None:
                with contextlib.suppress(OSError):
                    nl.del_link(idx)
            if isinstance(err, InternalError | NotFound):
                raise
            raise SyscallError("netlink: configure veth", cfg.ifname, _netlink_error(err)) from err


def _configure_peer(netns_path: str, cfg: VethConfig) -> None:
    with entered(netns_path):
        inner = rtnl.Rtnl()
        idx = rtnl.index_of(cfg.ifname)
    with inner:
        if idx is None:
            raise InternalError(f"configure veth `{cfg.ifname}`: not found in `{netns_path}`")
        steps = [rtnl.address_request(idx, cfg.address, cfg.prefixlen), rtnl.link_request(idx, up=True),
                 rtnl.link_request(1, up=True)]  # fmt: skip
        if cfg.gateway:
            # A second network's gateway: the first one keeps the default route, as in Docker (EEXIST is fine).
            steps.append(rtnl.default_route_request(cfg.gateway, tolerate=errno.EEXIST))
        inner.send(*steps)


def loopback_up(netns_path: str) -> None:
    """Bring `lo` up in a namespace (network mode `none`, or before the resolver binds 127.0.0.11)."""
    try:
        with _rtnl(netns_path) as inner:
            inner.set_link(1, up=True)
    except OSError as err:
        raise SyscallError("netlink: loopback up", netns_path, _netlink_error(err)) from err


def ns_link_names(netns_path: str) -> list[str]:
    """Link names inside a namespace (tests and interface naming)."""
    with entered(netns_path):
        return sorted(name for _index, name in socket.if_nameindex())


def mac_for(ip: str) -> str:
    """Docker's MAC for an IPv4 address: 02:42 followed by the four address bytes."""
    parts = [int(p) for p in ip.split(".")]
    return "02:42:" + ":".join(f"{p:02x}" for p in parts)
