"""The container, networking, volume and debugging sections of the Docker guide walked with the dockyard CLI on
busybox: one test per section, asserting on output and on real state (ports on loopback, files, logs)."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, make_root, wait_for

pytestmark = pytest.mark.privileged

HTTPD = ["sh", "-c", "mkdir -p /www && echo hello-guide > /www/index.html && exec httpd -f -p 80 -h /www"]


@pytest.fixture(scope="module")
def dy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockyard]:
    d = Dockyard(make_root(tmp_path_factory.mktemp("dockyard-guide")))
    yield d
    d.cleanup(volumes=True)
    for net in ("guide-net",):
        d("network", "rm", net)
    d("volume", "prune", "-f")
    assert d.leftovers() == []


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        return str(resp.read().decode())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_running_containers(dy: Dockyard) -> None:
    assert dy.ok("run", "--rm", "busybox", "echo", "Hello") == "Hello\n"
    cid = dy.ok("run", "-d", "--name", "gr-web", "-e", "A=1", "--restart", "unless-stopped", "busybox", "sleep", "300")
    assert len(cid.strip()) == 64
    assert dy.inspect("gr-web", "{{.HostConfig.RestartPolicy.Name}}") == "unless-stopped"
    assert "gr-web" in dy.ok("ps", "--format", "{{.Names}}").split()
    stop = dy("stop", "-t", "1", "gr-web")
    assert (stop.code, stop.out) == (0, "gr-web\n")
    assert dy.inspect("gr-web", "{{.State.Status}}") == "exited"
    assert dy.ok("rm", "gr-web") == "gr-web\n"
    missing = dy("rm", "gr-web")
    assert missing.code == 1 and "No such container: gr-web" in missing.err


def test_exec_logs_inspect(dy: Dockyard) -> None:
    dy.ok("run", "-d", "--name", "gr-app", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; done; sleep 300")
    assert wait_for(lambda: "line3" in dy.ok("logs", "gr-app"))
    assert dy.ok("exec", "gr-app", "ls", "/bin").count("sh") >= 1
    assert dy.ok("exec", "-u", "root", "gr-app", "id", "-u") == "0\n"
    assert dy.ok("logs", "--tail", "1", "gr-app") == "line3\n"
    stamped = dy.ok("logs", "-t", "gr-app").splitlines()
    assert len(stamped) == 3 and stamped[0].endswith(" line1") and stamped[0][:4].isdigit()
    info = json.loads(dy.ok("inspect", "gr-app"))
    assert isinstance(info, list) and info[0]["Name"] == "/gr-app"
    assert dy.inspect("gr-app", "{{.NetworkSettings.IPAddress}}").count(".") == 3
    assert "sleep 300" in dy.ok("top", "gr-app")
    stats = dy.ok("stats", "--no-stream", "gr-app").splitlines()
    assert stats[0].startswith("CONTAINER ID") and "gr-app" in stats[1]
    dy.ok("rm", "-f", "gr-app")


def test_port_publishing(dy: Dockyard) -> None:
    port = _free_port()
    dy.ok("run", "-d", "--name", "gr-http", "-p", f"127.0.0.1:{port}:80", "busybox", *HTTPD)
    assert wait_for(lambda: _try_get(port))
    assert _get(port) == "hello-guide\n"
    assert dy.ok("port", "gr-http").strip() == f"80/tcp -> 127.0.0.1:{port}"
    dy.ok("rm", "-f", "gr-http")
    dy.ok("run", "-d", "--name", "gr-auto", "--expose", "80", "-P", "busybox", *HTTPD)
    mapped = dy.ok("port", "gr-auto", "80").splitlines()[0]
    assert mapped.startswith("0.0.0.0:")
    auto = int(mapped.rsplit(":", 1)[1])
    assert wait_for(lambda: _try_get(auto))
    dy.ok("rm", "-f", "gr-auto")


def _try_get(port: int) -> bool:
    try:
        return _get(port) == "hello-guide\n"
    except OSError:
        return False


def test_networking(dy: Dockyard) -> None:
    dy.ok("network", "create", "guide-net")
    assert "guide-net" in dy.ok("network", "ls")
    assert json.loads(dy.ok("network", "inspect", "guide-net"))[0]["Name"] == "guide-net"
    dy.ok("run", "-d", "--name", "gr-db", "--network", "guide-net", "busybox", "sleep", "300")
    ping = dy("run", "--rm", "--network", "guide-net", "busybox", "ping", "-c", "1", "-W", "2", "gr-db")
    assert ping.code == 0, ping.err
    dy.ok("run", "-d", "--name", "gr-other", "busybox", "sleep", "300")
    dy.ok("network", "connect", "guide-net", "gr-other")
    # connected after its start, it switches to the embedded resolver (its bind-mounted resolv.conf is rewritten)
    assert "nameserver 127.0.0.11" in dy.ok("exec", "gr-other", "cat", "/etc/resolv.conf")
    by_name = dy("exec", "gr-other", "ping", "-c", "1", "-W", "2", "gr-db")
    assert by_name.code == 0, by_name.err
    dy.ok("network", "disconnect", "guide-net", "gr-other")
    dy.ok("rm", "-f", "gr-db", "gr-other")
    assert dy.ok("network", "rm", "guide-net") == "guide-net\n"


def test_volumes(dy: Dockyard, tmp_path: Path) -> None:
    assert dy.ok("volume", "create", "gr-data") == "gr-data\n"
    assert "gr-data" in dy.volumes()
    assert json.loads(dy.ok("volume", "inspect", "gr-data"))[0]["Name"] == "gr-data"
    dy.ok("run", "--name", "gr-writer", "-v", "gr-data:/data", "busybox", "sh", "-c", "echo hello > /data/file.txt")
    assert dy.ok("run", "--rm", "-v", "gr-data:/data", "busybox", "cat", "/data/file.txt") == "hello\n"
    ro = dy("run", "--rm", "-v", "gr-data:/data:ro", "busybox", "touch", "/data/x")
    assert ro.code != 0 and "Read-only file system" in ro.err
    (tmp_path / "bind.txt").write_text("bound\n")
    assert dy.ok("run", "--rm", "-v", f"{tmp_path}:/app", "busybox", "cat", "/app/bind.txt") == "bound\n"
    backup = dy("run", "--rm", "--volumes-from", "gr-writer", "-v", f"{tmp_path}:/backup", "busybox",
                "tar", "cf", "/backup/backup.tar", "/data")  # fmt: skip
    assert backup.code == 0, backup.err
    assert (tmp_path / "backup.tar").stat().st_size > 0
    dy.ok("rm", "gr-writer")
    busy = dy("volume", "rm", "gr-data")
    assert busy.code == 0, busy.err
    assert "gr-data" not in dy.volumes()


def test_debugging_and_security(dy: Dockyard, tmp_path: Path) -> None:
    dy.ok("run", "-d", "--name", "gr-dbg", "--memory", "64m", "--cpus", "0.5", "--log-opt", "max-size=1m",
          "--health-cmd", "true", "--health-interval", "1s", "busybox", "sleep", "300")  # fmt: skip
    dy.ok("exec", "gr-dbg", "sh", "-c", "echo x > /newfile")
    assert "A /newfile" in dy.ok("diff", "gr-dbg").splitlines()
    (tmp_path / "in.txt").write_text("copied\n")
    dy.ok("cp", str(tmp_path / "in.txt"), "gr-dbg:/in.txt")
    assert dy.ok("exec", "gr-dbg", "cat", "/in.txt") == "copied\n"
    dy.ok("cp", "gr-dbg:/newfile", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "x\n"
    assert dy.inspect("gr-dbg", "{{.HostConfig.Memory}}") == str(64 * 1024 * 1024)
    assert wait_for(lambda: dy.inspect("gr-dbg", "{{.State.Health.Status}}") == "healthy", timeout=20)
    export = dy.raw("export", "gr-dbg")
    assert export.returncode == 0 and len(export.stdout) > 10240
    assert "TYPE" in dy.ok("system", "df")
    dy.ok("rm", "-f", "gr-dbg")
    ro = dy("run", "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt",
            "no-new-privileges", "--user", "1000:1000", "busybox", "sh", "-c",
            "touch /tmp/ok && id -u && touch /x")  # fmt: skip
    assert ro.code != 0 and ro.out == "1000\n" and "Read-only file system" in ro.err
    assert "Total reclaimed space" in dy.ok("system", "prune", "-f")
