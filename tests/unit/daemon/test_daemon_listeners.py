"""daemon/listeners.py and daemon/main.py: address parsing, socket permissions, the no-TLS rule, flags, recovery."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path

import pytest

from dockyard.daemon import listeners
from dockyard.daemon.listeners import Address, TLSOptions, parse_address
from dockyard.daemon.main import parse_args, recover
from dockyard.errors import Conflict, DockyardError, InvalidArgument


async def _noop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unix:///run/dockyard.sock", Address(scheme="unix", path="/run/dockyard.sock")),
        ("tcp://127.0.0.1:2375", Address(scheme="tcp", host="127.0.0.1", port=2375)),
        ("tcp://[::1]:2376", Address(scheme="tcp", host="::1", port=2376)),
        ("tcp://:2375", Address(scheme="tcp", host="127.0.0.1", port=2375)),
    ],
)
def test_parse_address(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/run/x.sock", "invalid host `/run/x.sock`: expected unix:///path or tcp://host:port"),
        ("unix://run/x.sock", "invalid host `unix://run/x.sock`: the socket path must be absolute"),
        ("tcp://127.0.0.1", "invalid host `tcp://127.0.0.1`: expected tcp://host:port"),
        ("tcp://127.0.0.1:99999", "invalid host `tcp://127.0.0.1:99999`: expected tcp://host:port"),
        ("fd://3", "invalid host `fd://3`: unsupported scheme `fd`"),
    ],
)
def test_parse_address_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_address(text)
    assert info.value.message == message


def test_unix_socket_is_0660_and_removed_on_cleanup(tmp_path: Path) -> None:
    address = Address(scheme="unix", path=str(tmp_path / "d.sock"))

    async def go() -> str:
        server, where = await listeners.listen(address, _noop)
        server.close()
        return where

    assert asyncio.run(go()) == f"unix://{address.path}"
    st = os.stat(address.path)
    assert stat.S_IMODE(st.st_mode) == 0o660
    if os.geteuid() == 0:
        assert st.st_uid == 0 and st.st_gid == listeners.socket_group()
    listeners.cleanup(address)
    assert not os.path.exists(address.path)


def test_stale_socket_is_replaced_but_a_live_one_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    address = Address(scheme="unix", path=path)

    async def go() -> None:
        server, _ = await listeners.listen(address, _noop)
        with pytest.raises(Conflict) as info:
            await listeners.listen(address, _noop)
        assert info.value.message == f"listen on `unix://{path}`: another daemon is serving this socket"
        server.close()

    asyncio.run(go())


def test_tcp_on_loopback_binds_an_ephemeral_port() -> None:
    async def go() -> str:
        server, where = await listeners.listen(Address(scheme="tcp", host="127.0.0.1", port=0), _noop)
        server.close()
        return where

    where = asyncio.run(go())
    assert where.startswith("tcp://127.0.0.1:") and not where.endswith(":0")


def test_tcp_on_a_public_address_without_tls_is_refused() -> None:
    async def go() -> None:
        await listeners.listen(Address(scheme="tcp", host="0.0.0.0", port=0), _noop)

    with pytest.raises(InvalidArgument) as info:
        asyncio.run(go())
    assert info.value.message == (
        "listen on `tcp://0.0.0.0:0`: refusing a non-loopback TCP listener without TLS "
        "(pass --tlsverify --tlscacert --tlscert --tlskey)"
    )


def test_tls_with_missing_files_names_the_certificate(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as info:
        listeners.server_ssl_context(TLSOptions(cert=str(tmp_path / "c.pem"), key=str(tmp_path / "k.pem")))
    assert info.value.message.startswith(f"load TLS certificates `{tmp_path / 'c.pem'}`: ")


def test_parse_args_defaults_and_several_hosts() -> None:
    opts = parse_args([])
    assert opts.hosts == (Address(scheme="unix", path="/run/dockyard.sock"),) and opts.tls is None
    opts = parse_args(["-H", "unix:///tmp/a.sock", "-H", "tcp://127.0.0.1:2375", "--pidfile", "/tmp/p", "--debug"])
    assert [str(h) for h in opts.hosts] == ["unix:///tmp/a.sock", "tcp://127.0.0.1:2375"]
    assert opts.pidfile == "/tmp/p" and opts.debug


def test_parse_args_tls_needs_cert_and_key() -> None:
    with pytest.raises(DockyardError) as info:
        parse_args(["--tlscert", "/c.pem"])
    assert info.value.message == "TLS needs both --tlscert and --tlskey"


def test_recover_calls_the_engine_hook_and_survives_its_errors(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    class Engine:
        def recover(self) -> None:
            calls.append("recover")
            raise Conflict("container `abc`: state file is corrupt")

    recover(Engine())
    recover(object())  # an engine without the hook is fine
    assert calls == ["recover"]
    assert "recovery: container `abc`: state file is corrupt" in caplog.text


def _self_signed(tmp_path: Path) -> tuple[str, str]:
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_listener_speaks_tls_and_a_public_address_is_allowed_with_it(tmp_path: Path) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)
    tls = TLSOptions(cert=cert, key=key)

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello over tls")
        await writer.drain()
        writer.close()

    async def go() -> bytes:
        # 0.0.0.0 is not loopback: accepted only because TLS is on; the client still connects over loopback.
        server, where = await listeners.listen(Address(scheme="tcp", host="0.0.0.0", port=0), hello, tls)
        port = int(where.rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cafile=cert)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        data = await reader.read()
        writer.close()
        server.close()
        return data

    assert asyncio.run(go()) == b"hello over tls"
