"""Links, addresses and routes through netlink: bridges, veth pairs into a container's namespace, loopback.

The ONLY module importing pyroute2 (~0.1–0.3 s), and only inside functions. To configure the container's end
we setns(2) the calling thread into its namespace just long enough to open a netlink socket there: a netns
switch is per-thread (setns(2): CLONE_NEWNET affects the caller only), and the socket stays bound to the
namespace it was created in. pyroute2's own `netns=` forks a helper process per socket instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InternalError, NotFound, SyscallError

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


def _iproute(netns_path: str | None = None) -> Any:
    from pyroute2 import IPRoute  # type: ignore[import-untyped]  # lazy: see the module docstring

    if netns_path is None:
        return IPRoute()
    with entered(netns_path):
        return IPRoute()


def _netlink_error(err: Exception) -> int:
    code = getattr(err, "code", None)
    return code if isinstance(code, int) else errno.EIO


def _index(ipr: Any, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return int(found[0]) if found else None


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
    with _iproute() as ipr:
        created = False
        idx = _index(ipr, name)
        try:
            if idx is None:
                ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
                idx = _index(ipr, name)
                created = True
            have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=2)}
            if address not in have:
                ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
            ipr.link("set", index=idx, state="up")
        except Exception as err:
            if created:
                with contextlib.suppress(Exception):
                    ipr.link("del", index=idx)
            raise SyscallError("netlink: set up bridge", name, _netlink_error(err)) from err
        return created


def delete_link(name: str) -> bool:
    """Delete a link of the host namespace (a veth takes its peer with it); False if it was not there."""
    with _iproute() as ipr:
        idx = _index(ipr, name)
        if idx is None:
            return False
        try:
            ipr.link("del", index=idx)
        except Exception as err:
            if _netlink_error(err) == errno.ENODEV:
                return False
            raise SyscallError("netlink: delete link", name, _netlink_error(err)) from err
        return True


def link_names(prefix: str = "") -> list[str]:
    """Names of the host namespace's links starting with `prefix`."""
    with _iproute() as ipr:
        names = (link.get_attr("IFLA_IFNAME") for link in ipr.get_links())
        return sorted(n for n in names if n and n.startswith(prefix))


def attach_veth(bridge: str, netns_path: str, cfg: VethConfig) -> None:
    """Create a veth pair whose peer is born inside the container namespace with its final name, plug the host
    end into the bridge, then address the peer, bring it and lo up and add the default route."""
    with _iproute() as ipr:
        br = _index(ipr, bridge)
        if br is None:
            raise NotFound(f"attach veth `{cfg.host_ifname}`: bridge `{bridge}` not found")
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            ipr.link("add", ifname=cfg.host_ifname, kind="veth", mtu=cfg.mtu,
                     peer={"ifname": cfg.ifname, "net_ns_fd": target, "address": cfg.mac, "mtu": cfg.mtu})  # fmt: skip
        except Exception as err:
            raise SyscallError("netlink: create veth", cfg.host_ifname, _netlink_error(err)) from err
        finally:
            os.close(target)
        try:
            host_end = _index(ipr, cfg.host_ifname)
            ipr.link("set", index=host_end, master=br, state="up")
            _configure_peer(netns_path, cfg)
        except Exception as err:
            with contextlib.suppress(Exception):
                ipr.link("del", index=_index(ipr, cfg.host_ifname))
            if isinstance(err, InternalError | NotFound):
                raise
            raise SyscallError("netlink: configure veth", cfg.ifname, _netlink_error(err)) from err


def _configure_peer(netns_path: str, cfg: VethConfig) -> None:
    with _iproute(netns_path) as inner:
        idx = _index(inner, cfg.ifname)
        if idx is None:
            raise InternalError(f"configure veth `{cfg.ifname}`: not found in `{netns_path}`")
        inner.addr("add", index=idx, address=cfg.address, prefixlen=cfg.prefixlen)
        inner.link("set", index=idx, state="up")
        inner.link("set", index=1, state="up")
        if cfg.gateway:
            try:
                inner.route("add", dst="0.0.0.0/0", gateway=cfg.gateway)
            except Exception as err:
                # A second network's gateway: the first one keeps the default route, as in Docker.
                if _netlink_error(err) != errno.EEXIST:
                    raise


def loopback_up(netns_path: str) -> None:
    """Bring `lo` up in a namespace (network mode `none`, or before the resolver binds 127.0.0.11)."""
    try:
        with _iproute(netns_path) as inner:
            inner.link("set", index=1, state="up")
    except (InternalError, NotFound):
        raise
    except Exception as err:
        raise SyscallError("netlink: loopback up", netns_path, _netlink_error(err)) from err


def ns_link_names(netns_path: str) -> list[str]:
    """Link names inside a namespace (tests and interface naming)."""
    with _iproute(netns_path) as inner:
        return sorted(str(link.get_attr("IFLA_IFNAME")) for link in inner.get_links())


def mac_for(ip: str) -> str:
    """Docker's MAC for an IPv4 address: 02:42 followed by the four address bytes."""
    parts = [int(p) for p in ip.split(".")]
    return "02:42:" + ":".join(f"{p:02x}" for p in parts)
