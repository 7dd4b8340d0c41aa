"""The console-socket handshake carries a working pty master fd and the sender's file name."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import pytest

from dockyard.errors import InvalidArgument, SyscallError
from dockyard.runtime.console import (
    get_winsize,
    open_pty,
    recv_console_master,
    recv_console_master_with_name,
    send_console_master,
    set_winsize,
)


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "console.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
        try:
            yield server, path
        finally:
            server.close()


def test_send_and_receive_a_pipe_fd(listener: tuple[socket.socket, str]) -> None:
    server, path = listener
    r, w = os.pipe()
    try:
        send_console_master(path, w, name="/dev/pts/ptmx")
        conn, _ = server.accept()
        with conn:
            fd, name = recv_console_master_with_name(conn)
        assert name == "/dev/pts/ptmx"
        os.write(fd, b"hello")
        os.close(fd)
        assert os.read(r, 5) == b"hello"
    finally:
        os.close(r)
        os.close(w)


def test_received_master_controls_the_pty(listener: tuple[socket.socket, str]) -> None:
    server, path = listener
    master, slave_path = open_pty()
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    try:
        send_console_master(path, master)
        conn, _ = server.accept()
        with conn:
            got = recv_console_master(conn)
        set_winsize(got, 40, 132)
        assert get_winsize(slave) == (40, 132)
        os.write(got, b"ping\n")
        assert os.read(slave, 100).startswith(b"ping")
        os.close(got)
    finally:
        os.close(slave)
        os.close(master)


def test_send_to_missing_socket_names_it() -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(SyscallError) as info:
            send_console_master("/nonexistent/console.sock", w)
        assert str(info.value) == "connect console socket `/nonexistent/console.sock`: no such file or directory"
    finally:
        os.close(r)
        os.close(w)


def test_send_refuses_overlong_name() -> None:
    with pytest.raises(InvalidArgument, match="file name longer than 4096 bytes"):
        send_console_master("/x.sock", 0, name="x" * 5000)


def test_recv_without_fd_fails() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.send(b"/dev/ptmx")
        with pytest.raises(InvalidArgument) as info:
            recv_console_master(b)
    assert str(info.value) == "receive console master: no file descriptor in the message"


def test_set_winsize_errors() -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(SyscallError, match=r"^ioctl TIOCSWINSZ `fd \d+`: inappropriate ioctl for device$"):
            set_winsize(r, 10, 10)
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(InvalidArgument, match="set terminal size `70000x10`: out of range"):
        set_winsize(0, 70000, 10)
