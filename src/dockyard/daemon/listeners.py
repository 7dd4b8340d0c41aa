"""The daemon's listening sockets: `-H unix:///path` and `-H tcp://HOST:PORT`, with optional TLS.

Owns address parsing, socket permissions (0660, group root or `dockyard`) and the rule that a TCP listener on a
non-loopback address needs TLS. Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import ipaddress
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.errors import Conflict, InvalidArgument

ConnectionCallback = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSOptions:
    cert: str
    key: str
    cacert: str | None = None
    verify: bool = False  # --tlsverify: require a client certificate signed by `cacert`


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    scheme: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.scheme == "unix" else f"tcp://{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """`unix:///run/dockyard.sock`, `tcp://127.0.0.1:2375`, `tcp://[::1]:2375`; anything else is refused."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InvalidArgument(f"invalid host `{text}`: expected unix:///path or tcp://host:port")
    if scheme == "unix":
        if not rest.startswith("/"):
            raise InvalidArgument(f"invalid host `{text}`: the socket path must be absolute")
        return Address(scheme="unix", path=rest)
    if scheme == "tcp":
        host, colon, port = rest.rstrip("/").rpartition(":")
        if not colon or not port.isdigit() or int(port) > 65535:
            raise InvalidArgument(f"invalid host `{text}`: expected tcp://host:port")
        host = host.strip("[]") or "127.0.0.1"
        return Address(scheme="tcp", host=host, port=int(port))
    raise InvalidArgument(f"invalid host `{text}`: unsupported scheme `{scheme}`")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_ssl_context(tls: TLSOptions) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(tls.cert, tls.key)
        if tls.cacert:
            ctx.load_verify_locations(tls.cacert)
    except (OSError, ssl.SSLError) as err:
        raise InvalidArgument(f"load TLS certificates `{tls.cert}`: {err}") from err
    if tls.verify:
        if not tls.cacert:
            raise InvalidArgument("--tlsverify needs --tlscacert")
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def socket_group() -> int:
    """The `dockyard` group when it exists (members may use the socket), else root's."""
    try:
        return grp.getgrnam("dockyard").gr_gid
    except KeyError:
        return 0


def _clear_stale_socket(path: str) -> None:
    """Remove a socket left by a dead daemon; refuse when a live one still answers on it."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise Conflict(f"listen on `unix://{path}`: another daemon is serving this socket")


async def listen(
    address: Address, callback: ConnectionCallback, tls: TLSOptions | None = None
) -> tuple[asyncio.Server, str]:
    """Start serving `address`; returns the server and the address it really bound (tcp port 0 → the port)."""
    context = server_ssl_context(tls) if tls is not None else None
    if address.scheme == "unix":
        os.makedirs(os.path.dirname(address.path) or "/", exist_ok=True)
        _clear_stale_socket(address.path)
        # umask first, chmod after: the socket never exists with looser permissions than 0660.
        old = os.umask(0o117)
        try:
            server = await asyncio.start_unix_server(callback, path=address.path, ssl=context)
        finally:
            os.umask(old)
        os.chown(address.path, 0 if os.geteuid() == 0 else -1, socket_group() if os.geteuid() == 0 else -1)
        os.chmod(address.path, 0o660)
        return server, str(address)
    if not is_loopback(address.host) and context is None:
        raise InvalidArgument(
            f"listen on `{address}`: refusing a non-loopback TCP listener without TLS "
            "(pass --tlsverify --tlscacert --tlscert --tlskey)"
        )
    server = await asyncio.start_server(callback, host=address.host, port=address.port, ssl=context)
    port = server.sockets[0].getsockname()[1] if server.sockets else address.port
    return server, str(Address(scheme="tcp", host=address.host, port=port))


def cleanup(address: Address) -> None:
    if address.scheme == "unix":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address.path)
