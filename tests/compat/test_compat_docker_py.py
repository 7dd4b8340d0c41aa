"""docker-py 7 (`docker` from PyPI) driving dockyardd over its unix socket: ping, version, run, list, logs, remove."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from compat_harness import Daemon, start_daemon

docker = pytest.importorskip("docker", reason="docker-py is not installed (dev extra `docker==7.1.0`)")

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_daemon(tmp_path_factory.mktemp("compat-py")) as d:
        yield d


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[Any]:
    c = docker.DockerClient(base_url=daemon.host, version="auto", timeout=30)
    yield c
    c.close()


def test_ping_and_version(client: Any) -> None:
    assert client.ping() is True
    version = client.version()
    assert version["ApiVersion"] == "1.47" and version["MinAPIVersion"] == "1.24"
    assert version["Components"][0]["Name"] == "Engine"
    assert client.api.api_version == "1.47"


def test_info(client: Any) -> None:
    info = client.info()
    assert info["OSType"] == "linux" and info["Images"] >= 1 and isinstance(info["Containers"], int)


def test_run_in_foreground_returns_its_output(client: Any) -> None:
    out = client.containers.run("busybox", ["sh", "-c", "echo hello; echo oops >&2"], remove=True, stderr=True)
    assert out == b"hello\noops\n"


def test_run_detached_list_logs_stop_remove(client: Any) -> None:
    container = client.containers.run("busybox", ["sh", "-c", "echo ready; sleep 60"], detach=True, name="py-d")
    try:
        assert container.name == "py-d"
        assert [c.id for c in client.containers.list(filters={"name": "py-d"})] == [container.id]
        for _ in range(200):
            if container.logs() == b"ready\n":
                break
        assert container.logs() == b"ready\n"
        container.reload()
        assert container.status == "running"
        container.kill()
        assert container.wait()["StatusCode"] == 137
    finally:
        container.remove(force=True)
    assert client.containers.list(all=True, filters={"name": "py-d"}) == []


def test_unknown_container_raises_not_found(client: Any) -> None:
    with pytest.raises(docker.errors.NotFound) as info:
        client.containers.get("nosuchcontainer")
    assert "No such container: nosuchcontainer" in str(info.value)


def test_images_list(client: Any) -> None:
    tags = [t for image in client.images.list() for t in image.tags]
    assert "busybox:latest" in tags


def test_exec_run(client: Any) -> None:
    container = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        result = container.exec_run(["echo", "from-exec"])
        assert (result.exit_code, result.output) == (0, b"from-exec\n")
    finally:
        container.remove(force=True)
