"""What the monitor hands over across its slim re-exec besides its own fds: idle `wait` clients (the docker CLI's
`run -d` leaves one open), which must still get the exit line afterwards; and the stop op with a signal."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from dockyard.engine import attach
from dockyard.engine.attach import AttachHub
from dockyard.engine.pollloop import Loop


def hub(directory: Path, loop: Loop, replies: list[dict[str, object]] | None = None) -> AttachHub:
    def control(header: dict[str, object]) -> bytes | None:
        if replies is not None:
            replies.append(header)
        return b"k" if header.get("signal") else None

    return AttachHub(loop, str(directory), tty=False, on_stdin=lambda _d: None, on_stdin_eof=lambda: None,
                     on_control=control)  # fmt: skip


def spin(loop: Loop, times: int = 5) -> None:
    for _ in range(times):
        loop.run_once(0.02)


def test_only_idle_waiters_can_be_handed_over(tmp_path: Path) -> None:
    loop = Loop()
    h = hub(tmp_path, loop)
    assert h.idle_waiters() == []
    waiter = attach.connect(str(tmp_path), {"op": "wait"})
    waiter.shutdown(socket.SHUT_WR)
    spin(loop)
    assert h.idle_waiters() == list(h.clients) and len(h.clients) == 1
    attacher = attach.connect(str(tmp_path), {"op": "attach", "stdout": True})
    spin(loop)
    assert h.idle_waiters() is None
    attacher.close()
    waiter.close()
    h.close()


def test_an_adopted_waiter_gets_the_exit_line(tmp_path: Path) -> None:
    loop = Loop()
    h = hub(tmp_path, loop)
    ours, theirs = socket.socketpair()
    h.adopt_waiter(os.dup(theirs.fileno()))
    theirs.close()
    h.exited(3, "boom")
    spin(loop)
    ours.settimeout(5)
    assert json.loads(ours.recv(4096)) == {"StatusCode": 3, "Error": "boom"}
    assert ours.recv(4096) == b""  # then closed
    h.close()


def test_stop_with_a_signal_is_acknowledged(tmp_path: Path) -> None:
    loop = Loop()
    seen: list[dict[str, object]] = []
    h = hub(tmp_path, loop, seen)
    sock = attach.connect(str(tmp_path), {"op": "stop", "signal": 15})
    sock.shutdown(socket.SHUT_WR)
    spin(loop)
    sock.settimeout(5)
    assert sock.recv(1) == b"k"
    plain = attach.connect(str(tmp_path), {"op": "stop"})
    plain.shutdown(socket.SHUT_WR)
    spin(loop)
    plain.settimeout(5)
    assert plain.recv(1) == b""  # no signal asked, no acknowledgement
    assert seen == [{"op": "stop", "signal": 15}, {"op": "stop"}]
    sock.close()
    plain.close()
    h.close()
