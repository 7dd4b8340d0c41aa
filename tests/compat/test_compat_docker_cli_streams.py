"""The real docker CLI against dockyardd, the verbs with streams and files: cp both ways, export, logs -f, attach
and run -it through a pty, exec -it, network connect; and docker-py's images, networks, volumes, attach_socket."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from compat_harness import DOCKER, Daemon, needs_docker, start_daemon
from compat_harness import docker_ok as ok

pytestmark = [
    pytest.mark.privileged,
    needs_docker,
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_daemon(tmp_path_factory.mktemp("compat-streams")) as d:
        yield d


@pytest.fixture
def box(daemon: Daemon) -> Iterator[str]:
    name = f"streams-{os.getpid()}-{time.monotonic_ns()}"
    ok(daemon, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "300")
    yield name
    daemon.docker("rm", "-f", name)


def test_cp_both_ways_and_through_a_tar_stream(daemon: Daemon, box: str, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("into the container\n")
    ok(daemon, "cp", str(tmp_path / "in.txt"), f"{box}:/tmp/in.txt")
    assert ok(daemon, "exec", box, "cat", "/tmp/in.txt") == "into the container\n"
    ok(daemon, "exec", box, "sh", "-c", "echo out of it > /tmp/out.txt")
    ok(daemon, "cp", f"{box}:/tmp/out.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "out of it\n"
    raw = subprocess.run([DOCKER, "cp", f"{box}:/tmp/out.txt", "-"], env=daemon.env(), capture_output=True,
                         timeout=30, check=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        member = tf.extractfile("out.txt")
        assert member is not None and member.read() == b"out of it\n"


def test_export_writes_the_filesystem(daemon: Daemon, box: str, tmp_path: Path) -> None:
    ok(daemon, "exec", box, "sh", "-c", "echo exported > /marker")
    ok(daemon, "export", "-o", str(tmp_path / "fs.tar"), box)
    with tarfile.open(tmp_path / "fs.tar") as tf:
        names = set(tf.getnames())
        marker = tf.extractfile("marker")
        assert marker is not None and marker.read() == b"exported\n"
    assert {"bin/busybox", "etc/hostname"} <= names


def test_logs_follow_streams_new_lines(daemon: Daemon) -> None:
    name = "streams-logs"
    ok(daemon, "run", "-d", "--network", "none", "--name", name, "busybox", "sh", "-c",
       "for i in 1 2 3; do echo line $i; sleep 0.3; done")  # fmt: skip
    try:
        follow = subprocess.run([DOCKER, "logs", "-f", name], env=daemon.env(), capture_output=True, text=True,
                                timeout=30, check=False)  # fmt: skip
        assert (follow.returncode, follow.stdout) == (0, "line 1\nline 2\nline 3\n")
    finally:
        daemon.docker("rm", "-f", name)


def test_network_connect_and_disconnect_a_running_container(daemon: Daemon) -> None:
    ok(daemon, "network", "create", "--subnet", "10.231.9.0/24", "streams-net")
    name = "streams-net-box"
    try:
        ok(daemon, "run", "-d", "--name", name, "busybox", "sleep", "300")
        ok(daemon, "network", "connect", "--ip", "10.231.9.50", "streams-net", name)
        template = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}"
        assert "streams-net=10.231.9.50" in ok(daemon, "inspect", "-f", template, name)
        assert "10.231.9.50" in ok(daemon, "exec", name, "ip", "-4", "addr")
        ok(daemon, "network", "disconnect", "streams-net", name)
        assert "streams-net" not in ok(daemon, "inspect", "-f", template, name)
    finally:
        daemon.docker("rm", "-f", name)
        daemon.docker("network", "rm", "streams-net")


class Pty:
    """The docker CLI on a fresh pty, as at a terminal."""

    def __init__(self, daemon: Daemon, *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: only exec
            os.execve(DOCKER, [DOCKER, *args], daemon.env())
        self.buf = b""

    def expect(self, pattern: bytes, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while pattern not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} not seen; got {self.buf!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.buf += os.read(self.fd, 4096)
                except OSError:
                    break
        assert pattern in self.buf, f"{pattern!r} not seen; got {self.buf!r}"

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with_status = os.waitpid(self.pid, os.WNOHANG)
            if with_status[0]:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(with_status[1])
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    self.buf += os.read(self.fd, 4096)
                except OSError:
                    pass
        os.kill(self.pid, 9)
        raise AssertionError(f"the docker CLI did not exit; got {self.buf!r}")


def test_run_it_detach_attach_and_exec_it(daemon: Daemon) -> None:
    name = "streams-tty"
    try:
        cli = Pty(daemon, "run", "-it", "--network", "none", "--name", name, "busybox", "sh")
        cli.expect(b"# ")
        cli.send(b"echo hel''lo; tty\r")
        cli.expect(b"hello")
        cli.expect(b"/dev/pts/0")
        cli.send(b"\x10\x11")  # ctrl-p ctrl-q: detach, the container keeps running
        assert cli.wait() == 0
        assert ok(daemon, "inspect", "-f", "{{.State.Running}}", name).strip() == "true"
        shell = Pty(daemon, "exec", "-it", name, "sh", "-c", "echo in-exec; exit 3")
        shell.expect(b"in-exec")
        assert shell.wait() == 3
        again = Pty(daemon, "attach", name)
        again.send(b"exit 6\r")
        assert again.wait() == 6
        assert ok(daemon, "inspect", "-f", "{{.State.ExitCode}}", name).strip() == "6"
    finally:
        daemon.docker("rm", "-f", name)


def test_docker_py_images_networks_volumes_and_attach_socket(daemon: Daemon) -> None:
    docker = pytest.importorskip("docker", reason="docker-py is not installed (dev extra `docker==7.1.0`)")
    client = docker.DockerClient(base_url=daemon.host, version="1.41")
    try:
        assert any("busybox:latest" in image.tags for image in client.images.list())
        network = client.networks.create("streams-py", driver="bridge")
        volume = client.volumes.create("streams-py-vol")
        try:
            assert client.networks.get("streams-py").name == "streams-py"
            assert client.volumes.get("streams-py-vol").name == "streams-py-vol"
        finally:
            network.remove()
            volume.remove()
        container = client.containers.create("busybox", ["sh", "-c", "read line; echo got $line"],
                                             stdin_open=True, network_mode="none")  # fmt: skip
        try:
            sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
            container.start()
            raw = getattr(sock, "_sock", sock)
            raw.sendall(b"ping\n")
            data, deadline = b"", time.monotonic() + 15
            while b"got ping" not in data and time.monotonic() < deadline:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert b"got ping" in data
            assert container.wait(timeout=15)["StatusCode"] == 0
        finally:
            container.remove(force=True)
    finally:
        client.close()
