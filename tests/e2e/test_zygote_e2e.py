"""dockyardd's monitor zygote end to end: a container started through the daemon has a monitor that is neither the
daemon's child nor the zygote's, and that keeps its container running through kill -9 of both."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from privileged_gate import require


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def api(sock: str, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    conn = UnixHTTP(sock)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    resp = conn.getresponse()
    out = resp.read()
    conn.close()
    return resp.status, out


def ppid_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> list[int]:
    out: list[int] = []
    for entry in Path(f"/proc/{pid}/task").iterdir():
        text = (entry / "children").read_text().split()
        out += [int(p) for p in text]
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def start_daemon(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = str(root / "d.sock")
    if os.path.exists(sock):
        os.unlink(sock)  # left by a daemon killed with SIGKILL
    runtime = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.daemon.main", "-H", f"unix://{sock}", "--data-root", str(root / "data")],
        env={**os.environ, "DOCKYARD_RUNTIME": runtime}, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not os.path.exists(sock) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.exists(sock), "dockyardd did not start"
    return proc, sock


def zygote_of(daemon_pid: int) -> int:
    for pid in children_of(daemon_pid):
        if b"dockyard.engine.zygote" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise AssertionError("dockyardd has no zygote child")


@pytest.mark.privileged
def test_monitor_outlives_daemon_and_zygote(tmp_path: Path) -> None:
    require(os.path.isfile("/bin/busybox"), "busybox-static is not installed")
    proc, sock = start_daemon(tmp_path)
    cid, init, monitor = "", 0, 0
    try:
        status, body = api(sock, "POST", "/_dockyard/images/busybox")
        assert status in (200, 201), body
        zygote = zygote_of(proc.pid)
        spec = {"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": {"NetworkMode": "none"}}
        status, body = api(sock, "POST", "/v1.47/containers/create", spec)
        assert status == 201, body
        cid = json.loads(body)["Id"]
        status, body = api(sock, "POST", f"/v1.47/containers/{cid}/start")
        assert status == 204, body
        status, body = api(sock, "GET", f"/v1.47/containers/{cid}/json")
        init = int(json.loads(body)["State"]["Pid"])
        monitor = ppid_of(init)
        assert monitor not in (proc.pid, zygote)
        assert ppid_of(monitor) == zygote  # one fork; the zygote ignores SIGCHLD, so the kernel reaps it
        assert os.getsid(monitor) == monitor  # its own session: no signal to the zygote's group reaches it
        assert b"dockyard.engine" in Path(f"/proc/{monitor}/cmdline").read_bytes()  # the zygote's image

        os.kill(zygote, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(0.2)
        assert alive(monitor) and alive(init)
        assert ppid_of(monitor) not in (proc.pid, zygote)  # re-parented away from the dead zygote

        proc, sock = start_daemon(tmp_path)  # a new daemon finds the container still running
        status, body = api(sock, "GET", f"/v1.47/containers/{cid}/json")
        state = json.loads(body)["State"]
        assert (status, state["Running"], state["Pid"]) == (200, True, init)
    finally:
        if cid and proc.poll() is None:
            api(sock, "DELETE", f"/v1.47/containers/{cid}?force=1")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        for pid in (init, monitor):  # only when the daemon could not remove the container
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
