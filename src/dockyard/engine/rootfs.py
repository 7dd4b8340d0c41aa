"""A container's filesystem on the host: the overlay rootfs mount and the /etc files Docker bind-mounts.

mount(2)/umount2(2) through ctypes here because the engine must not import dockyard.runtime (layering). Owns
nothing about records or processes; every function is idempotent so cleanup can be retried after a crash.
"""

from __future__ import annotations

import ctypes
import errno
import os

from dockyard.errors import SyscallError

MNT_DETACH = 2
_libc: ctypes.CDLL | None = None

HOSTS = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""
# Docker's fallback when the host only has loopback resolvers (unreachable from a container's namespace).
DEFAULT_NAMESERVERS = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def mount_overlay(lower: str, upper: str, work: str, target: str) -> None:
    """Mount an overlay of the read-only image rootfs `lower` with the container's `upper` layer at `target`."""
    for path in (upper, work, target):
        os.makedirs(path, exist_ok=True)
    data = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if _c().mount(b"overlay", target.encode(), b"overlay", 0, data) != 0:
        raise SyscallError("mount overlay", target, ctypes.get_errno())


def unmount(target: str) -> None:
    """Detach the mount at `target`; nothing to do when it is not mounted or does not exist."""
    if _c().umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise SyscallError("umount", target, err)


def resolv_conf(host_text: str) -> str:
    """The host's resolv.conf without loopback nameservers (moby libnetwork/resolvconf), or Docker's fallback."""
    lines = []
    servers = 0
    for line in host_text.splitlines():
        fields = line.split()
        if fields[:1] == ["nameserver"] and len(fields) > 1:
            if fields[1].startswith("127.") or fields[1] == "::1":
                continue
            servers += 1
        lines.append(line)
    text = "\n".join(lines).strip()
    text = f"{text}\n" if text else ""
    return text if servers else text + DEFAULT_NAMESERVERS


def write_etc_files(directory: str, hostname: str, host_resolv: str = "/etc/resolv.conf") -> None:
    """Write hostname, hosts and resolv.conf into the container directory."""
    try:
        with open(host_resolv, encoding="utf-8", errors="replace") as f:
            host_text = f.read()
    except OSError:
        host_text = ""
    for name, text in (("hostname", f"{hostname}\n"), ("hosts", HOSTS), ("resolv.conf", resolv_conf(host_text))):
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
