"""The monitor zygote (engine/zygote.py): request parsing, a live zygote's answers, its death and replacement,
and how `monitor.launch` falls back when the forker cannot be asked."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from dockyard.engine import monitor, zygote
from dockyard.engine.monitor import MonitorConfig
from dockyard.engine.runtime_client import RuntimeFailure
from dockyard.errors import InternalError


def config(tmp: Path, cid: str = "c1") -> MonitorConfig:
    return MonitorConfig(container_id=cid, data_root=str(tmp / "data"), exec_root=str(tmp / "run"), runtime="runc")


# ---- parse_request / handle -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg", "nfds", "error"),
    [
        (b"{}", 0, "expected 1 file descriptor, got 0"),
        (b"{}", 2, "expected 1 file descriptor, got 2"),
        (b"{nope", 1, "not JSON"),
        (b"[1, 2]", 1, "not a JSON object"),
        (b'{"container_id": "x"}', 1, "missing 3 required keyword-only arguments"),
        (b'{"container_id": "x", "data_root": "/d", "exec_root": "/r", "runtime": "runc", "bogus": 1}', 1,
         "unexpected keyword argument 'bogus'"),
        (b'{"container_id": "", "data_root": "/d", "exec_root": "/r", "runtime": "runc"}', 1,
         "`container_id`: expected a non-empty string"),
        (b'{"container_id": "x", "data_root": "/d", "exec_root": "/r", "runtime": "runc", "expect_attach": "2"}', 1,
         "`auto_remove`/`expect_attach`: expected a bool and an int"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_by_name(msg: bytes, nfds: int, error: str) -> None:
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(nfds)]
    try:
        with pytest.raises(ValueError, match=None) as info:
            zygote.parse_request(msg, fds)
        assert error in str(info.value)
        reply = zygote.handle(msg, fds)
        assert reply["error"] == f"zygote request: {info.value}"
    finally:
        for fd in fds:
            os.close(fd)


def test_a_good_request_parses_to_the_config(tmp_path: Path) -> None:
    want = config(tmp_path)
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        assert zygote.parse_request(json.dumps(asdict(want)).encode(), [fd]) == want
    finally:
        os.close(fd)


# ---- a live zygote ----------------------------------------------------------------------------------------------


@pytest.fixture
def live() -> Iterator[zygote.Zygote]:
    z = zygote.Zygote()
    z.start()
    yield z
    z.stop()


def _ask_raw(z: zygote.Zygote, msg: bytes, fds: list[int]) -> dict[str, object]:
    assert z.sock is not None
    socket.send_fds(z.sock, [msg], fds)
    return dict(json.loads(z.sock.recv(4096)))


def test_live_zygote_answers_bad_requests_and_stays_up(live: zygote.Zygote) -> None:
    assert _ask_raw(live, b"{nope", [0]) == {"error": "zygote request: not JSON: Expecting property name enclosed "
                                                      "in double quotes: line 1 column 2 (char 1)"}  # fmt: skip
    assert _ask_raw(live, b"{}", []) == {"error": "zygote request: expected 1 file descriptor, got 0"}
    assert live.proc is not None and live.proc.poll() is None


def test_forked_monitor_is_detached_and_reports_on_the_pipe(live: zygote.Zygote, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    container_dir = tmp_path / "data" / "containers" / cfg.container_id
    container_dir.mkdir(parents=True)  # no record: the monitor fails at once and logs why
    read_fd, write_fd = os.pipe()
    try:
        pid = live.fork_monitor(cfg, write_fd)
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        assert f.read() == b""  # it died without a report: nobody else held the write end
    assert isinstance(pid, int) and pid > 0
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # not our child: the zygote's grandchild, re-parented
    assert "No such container" in (container_dir / "monitor.log").read_text()


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
        return {int(p) for p in f.read().split()}


def _spare_of(z: zygote.Zygote, other_than: int = 0) -> int:
    """The zygote's idle spare (its only child besides monitors it handed out), once it is there."""
    assert z.proc is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        spares = {p for p in _children(z.proc.pid) if p != other_than}
        if spares:
            return min(spares)
        time.sleep(0.01)
    raise AssertionError("no spare monitor appeared")


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.01)
    return False


def test_a_request_goes_to_the_spare_forked_ahead_and_a_new_one_follows(live: zygote.Zygote, tmp_path: Path) -> None:
    spare = _spare_of(live)
    read_fd, write_fd = os.pipe()
    try:
        assert live.fork_monitor(config(tmp_path), write_fd) == spare  # no fork while the start waits
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        assert f.read() == b""  # no record: the monitor fails at once (its log says why)
    assert _spare_of(live, other_than=spare) != spare  # the next one, forked after a pause
    assert os.getsid(_spare_of(live, other_than=spare)) == _spare_of(live, other_than=spare)  # its own session


def test_a_dead_spare_is_replaced_and_an_idle_one_leaves_with_its_zygote(live: zygote.Zygote, tmp_path: Path) -> None:
    first = _spare_of(live)
    os.kill(first, signal.SIGKILL)
    second = _spare_of(live, other_than=first)
    read_fd, write_fd = os.pipe()
    try:
        assert live.fork_monitor(config(tmp_path), write_fd) == second
    finally:
        os.close(write_fd)
        os.close(read_fd)
    third = _spare_of(live, other_than=second)
    live.stop()
    assert _gone(third)  # the zygote's end of its socket closed: an idle spare exits


def test_a_dead_zygote_is_replaced_on_the_next_request(live: zygote.Zygote, tmp_path: Path) -> None:
    assert live.proc is not None
    first = live.proc.pid
    os.kill(first, signal.SIGKILL)
    live.proc.wait()
    read_fd, write_fd = os.pipe()
    try:
        assert live.fork_monitor(config(tmp_path), write_fd) is None  # could not be asked
        assert live.proc is not None and live.proc.pid != first  # already replaced
        second = live.proc.pid
        assert live.fork_monitor(config(tmp_path), write_fd) is not None  # the new zygote answered
    finally:
        os.close(write_fd)
        os.close(read_fd)
    assert live.proc is not None and live.proc.pid == second


def test_a_zygote_that_cannot_be_started_is_tried_again(tmp_path: Path) -> None:
    z = zygote.Zygote(python=str(tmp_path / "no-python"))
    with pytest.raises(FileNotFoundError):
        z.start()
    read_fd, write_fd = os.pipe()
    try:
        assert z.fork_monitor(config(tmp_path), write_fd) is None
        assert z.proc is None and z.sock is None
        z.python = zygote.sys.executable
        assert z.fork_monitor(config(tmp_path), write_fd) is not None
    finally:
        os.close(write_fd)
        os.close(read_fd)
        z.stop()


def test_zygote_exits_when_the_daemon_end_closes() -> None:
    z = zygote.Zygote()
    z.start()
    assert z.proc is not None and z.sock is not None
    proc = z.proc
    z.sock.close()
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.returncode == 0


# ---- launch and its fallbacks ---------------------------------------------------------------------------------


class FakeForker:
    def __init__(self, answer: int | None, report: bytes = b"") -> None:
        self.answer, self.report, self.calls = answer, report, 0

    def fork_monitor(self, config: MonitorConfig, ready_fd: int) -> int | None:
        self.calls += 1
        if self.report:
            os.write(ready_fd, self.report)
        return self.answer


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    used: list[str] = []

    def fake(kind: str) -> object:
        def start(config: MonitorConfig, write_fd: int) -> None:
            used.append(kind)
            os.write(write_fd, json.dumps({"pid": 4242}).encode())

        return start

    monkeypatch.setattr(monitor, "_fork_monitor", fake("fork"))
    monkeypatch.setattr(monitor, "_exec_monitor", fake("exec"))
    monkeypatch.delenv("DOCKYARD_MONITOR_EXEC", raising=False)
    yield used
    monitor.register_forker(None)


def test_launch_uses_the_registered_forker(fallbacks: list[str], tmp_path: Path) -> None:
    forker = FakeForker(7, b'{"pid": 99}')
    monitor.register_forker(forker)
    assert monitor.launch(config(tmp_path)) == 99
    assert (forker.calls, fallbacks) == (1, [])


def test_launch_falls_back_when_the_forker_cannot_be_asked(fallbacks: list[str], tmp_path: Path) -> None:
    monitor.register_forker(FakeForker(None))
    assert monitor.launch(config(tmp_path)) == 4242
    assert fallbacks == ["fork"]  # the test process is single-threaded


def test_a_report_that_arrived_anyway_is_used(fallbacks: list[str], tmp_path: Path) -> None:
    monitor.register_forker(FakeForker(None, b'{"error": "exec: \\"nope\\": executable file not found"}'))
    with pytest.raises(RuntimeFailure, match="executable file not found"):
        monitor.launch(config(tmp_path))
    assert fallbacks == []  # the zygote died after forking: its monitor's report is final


def test_a_forked_monitor_that_never_reports_is_an_error(fallbacks: list[str], tmp_path: Path) -> None:
    monitor.register_forker(FakeForker(1234))
    with pytest.raises(InternalError, match="monitor of container `c1`: exited without reporting"):
        monitor.launch(config(tmp_path))
    assert fallbacks == []  # never a second monitor for the same start
