"""client/: Client over the in-process transport (the CLI's default path), stdcopy demux, host parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.client.client import APIError, Client, CreateOptions, _demux
from dockyard.client.transport import Endpoint, InProcessTransport, parse_host
from dockyard.engine.engine import Engine
from dockyard.errors import InvalidArgument, Unsupported
from dockyard.paths import Paths


@pytest.fixture
def client(tmp_path: Path) -> Client:
    paths = Paths(data_root=str(tmp_path), exec_root=str(tmp_path / "run"))
    return Client(InProcessTransport(lambda: Engine(paths, runtime="runc")))


def test_ping_version_and_empty_lists(client: Client) -> None:
    headers = client.ping()
    assert headers["api-version"] == "1.47" and headers["ostype"] == "linux"
    assert client.version()["ApiVersion"] == "1.47"
    assert client.containers(all=True) == []
    assert client.images() == []


def test_errors_carry_status_and_message(client: Client) -> None:
    with pytest.raises(APIError) as info:
        client.create_container(CreateOptions(image="nosuch"))
    assert (info.value.http_status, info.value.message) == (404, "No such image: nosuch:latest")
    with pytest.raises(APIError) as info:
        client.remove_container("nosuch", force=True)
    assert (info.value.http_status, info.value.message) == (404, "No such container: nosuch")


def test_engine_is_not_built_for_ping(tmp_path: Path) -> None:
    built = []

    def factory() -> Engine:
        built.append(1)
        return Engine(Paths(data_root=str(tmp_path), exec_root=str(tmp_path)))

    Client(InProcessTransport(factory)).ping()
    assert built == [1]  # constructed (cheap), but nothing on disk was touched
    assert list(tmp_path.iterdir()) == []


def test_create_options_json_shape() -> None:
    body = CreateOptions(image="b", cmd=("x",), cap_add=("NET_ADMIN",), auto_remove=True).to_json()
    assert body["Image"] == "b" and body["Cmd"] == ["x"] and body["Entrypoint"] is None
    assert body["HostConfig"]["AutoRemove"] is True and body["HostConfig"]["CapAdd"] == ["NET_ADMIN"]


def test_demux_across_chunk_boundaries() -> None:
    data = b"\x01\x00\x00\x00\x00\x00\x00\x03abc\x02\x00\x00\x00\x00\x00\x00\x01z"
    chunks = [data[:5], data[5:12], data[12:]]
    assert list(_demux(iter(chunks))) == [("stdout", b"abc"), ("stderr", b"z")]


def test_parse_host() -> None:
    assert parse_host("unix:///run/dockyard.sock") == Endpoint(scheme="unix", path="/run/dockyard.sock")
    assert parse_host("tcp://127.0.0.1:2375") == Endpoint(scheme="tcp", host="127.0.0.1", port=2375)
    assert parse_host("tcp://[::1]:23") == Endpoint(scheme="tcp", host="::1", port=23)
    assert parse_host("tcp://example.org") == Endpoint(scheme="tcp", host="example.org", port=2375)
    assert parse_host("tcp://example.org", tls=True).port == 2376
    assert parse_host("tcp://:99") == Endpoint(scheme="tcp", host="127.0.0.1", port=99)
    assert str(parse_host("tcp://[::1]:23")) == "tcp://[::1]:23"
    with pytest.raises(Unsupported, match=r"^host `ssh://x`: unsupported scheme `ssh` \(use unix:// or tcp://\)$"):
        parse_host("ssh://x")
    with pytest.raises(InvalidArgument, match="^invalid host `/run/x.sock`: expected unix:///path or tcp://host:port$"):
        parse_host("/run/x.sock")
    with pytest.raises(InvalidArgument, match="^invalid host `tcp://h:0`: invalid port `0`$"):
        parse_host("tcp://h:0")
    with pytest.raises(InvalidArgument, match="^invalid host `tcp://h:x`: invalid port `x`$"):
        parse_host("tcp://h:x")
    with pytest.raises(InvalidArgument, match="the socket path must be absolute"):
        parse_host("unix://rel.sock")
