"""The CLI zygote protocol: which calls the launcher offers, the request encoding, bad requests, a zygote that
refuses or vanishes, exit-code and signal mapping, signal forwarding (a fake zygote in a thread)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.cli import fastpath
from dockyard.cli import zygote as cli_zygote


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["ps"], {"HOME": "/nonexistent"}, fastpath.DEFAULT_CLI_SOCKET),
        (["ps"], {"HOME": "/nonexistent", "DOCKYARD_DATA_ROOT": "/var/lib/dockyard/"}, fastpath.DEFAULT_CLI_SOCKET),
        (["ps"], {"HOME": "/nonexistent", "DOCKYARD_DATA_ROOT": "/tmp/private"}, None),
        (["ps"], {"HOME": "/nonexistent", "DOCKER_HOST": "tcp://1.2.3.4:2375"}, None),
        (["ps"], {"HOME": "/nonexistent", "DOCKYARD_HOST": "unix:///x.sock"}, None),
        (["ps"], {"HOME": "/nonexistent", "DOCKER_CONTEXT": "remote"}, None),
        (["-H", "unix:///x.sock", "ps"], {"HOME": "/nonexistent"}, None),
        (["-Hunix:///x.sock", "ps"], {"HOME": "/nonexistent"}, None),
        (["--data-root=/tmp/x", "ps"], {"HOME": "/nonexistent"}, None),
        (["-H", "x", "ps"], {"DOCKYARD_CLI_SOCKET": "/tmp/z.sock"}, "/tmp/z.sock"),
        (["ps"], {"DOCKYARD_CLI_SOCKET": ""}, None),
    ],
)
def test_which_calls_are_offered(args: list[str], env: dict[str, str], expected: str | None) -> None:
    assert fastpath.cli_socket(args, env) == expected


def test_a_docker_context_in_config_json_keeps_the_full_cli(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"currentContext": "remote"}')
    assert fastpath.cli_socket(["ps"], {"DOCKER_CONFIG": str(tmp_path)}) is None
    (tmp_path / "config.json").write_text("{}")
    assert fastpath.cli_socket(["ps"], {"DOCKER_CONFIG": str(tmp_path)}) == fastpath.DEFAULT_CLI_SOCKET


def test_cli_socket_beside_the_api_socket() -> None:
    from dockyard.daemon.cli_zygote import cli_socket_for
    from dockyard.paths import DEFAULT_SOCKET

    assert cli_socket_for(DEFAULT_SOCKET) == fastpath.DEFAULT_CLI_SOCKET == "/run/dockyard-cli.sock"
    assert cli_socket_for("/tmp/x/api") == "/tmp/x/api-cli.sock"


def test_request_round_trip() -> None:
    data = fastpath.encode_request(["run", "-e", "A=b=c", ""], {"PATH": "/bin", "X": "y=z"}, "/tmp", 0o027)
    assert data[:4] == fastpath.MAGIC and int.from_bytes(data[4:8], "big") == len(data) - 8
    assert fastpath.decode_request(data[8:]) == (["run", "-e", "A=b=c", ""], {"PATH": "/bin", "X": "y=z"},
                                                 "/tmp", 0o027)  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"/tmp\x00022", "expected cwd, umask and argc"),
        (b"/tmp\x00999\x000", "umask/argc: invalid literal for int() with base 8: '999'"),
        (b"tmp\x00022\x000", "cwd, umask or argc out of range"),
        (b"/tmp\x00022\x005\x00ps", "cwd, umask or argc out of range"),
        (b"/tmp\x00022\x001\x00ps\x00NOEQUALS", "environment entry without `=`"),
    ],
)
def test_bad_requests(payload: bytes, message: str) -> None:
    with pytest.raises(ValueError) as err:
        fastpath.decode_request(payload)
    assert str(err.value) == message


def _status_of(action: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            action()
        finally:
            os._exit(0)
    return fastpath.exit_code(os.waitpid(pid, 0)[1])


def test_exit_code_and_signal_mapping() -> None:
    assert _status_of(lambda: os._exit(3)) == 3
    assert _status_of(lambda: os.kill(os.getpid(), signal.SIGKILL)) == 137
    assert _status_of(lambda: os.kill(os.getpid(), signal.SIGTERM)) == 143


# ---- the launcher against a fake zygote -----------------------------------------------------------------------


def _serve(path: str, handler: Callable[[socket.socket], None]) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(10)

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                handler(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _read_request(conn: socket.socket) -> tuple[list[str], dict[str, str], str, int, list[int]]:
    request = cli_zygote.read_request(conn)
    for fd in request[4]:
        os.close(fd)
    return request


def test_the_request_carries_argv_env_cwd_umask_and_three_fds(tmp_path: Path) -> None:
    seen: list[object] = []

    def handler(conn: socket.socket) -> None:
        seen.append(_read_request(conn)[:4])
        conn.sendall(fastpath.record(b"P", 4242) + fastpath.record(b"X", 141))

    thread = _serve(str(tmp_path / "z.sock"), handler)
    started = fastpath._start(str(tmp_path / "z.sock"), ["ps", "-a"], {"A": "1"})
    assert started is not None
    sock, pid = started
    assert pid == 4242
    assert fastpath.relay(sock, pid) == 141
    sock.close()
    thread.join(5)
    assert seen == [(["ps", "-a"], {"A": "1"}, os.getcwd(), _umask())]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    "reply",
    [b"", b"E\x00\x00\x00\x05nope!", b"P\x00\x00"],
)
def test_no_pid_means_the_full_cli_runs(tmp_path: Path, reply: bytes) -> None:
    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(reply)

    thread = _serve(str(tmp_path / "z.sock"), handler)
    assert fastpath._start(str(tmp_path / "z.sock"), ["ps"], {}) is None
    thread.join(5)


def test_no_socket_or_a_refusing_one_returns(tmp_path: Path) -> None:
    fastpath.try_zygote(["ps"], {"DOCKYARD_CLI_SOCKET": str(tmp_path / "absent.sock")})
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "stale.sock"))
    stale.close()  # a socket file nobody listens on: connect() is refused
    fastpath.try_zygote(["ps"], {"DOCKYARD_CLI_SOCKET": str(tmp_path / "stale.sock")})


def test_zygote_gone_after_the_pid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(fastpath.record(b"P", 4242))

    thread = _serve(str(tmp_path / "z.sock"), handler)
    started = fastpath._start(str(tmp_path / "z.sock"), ["ps"], {})
    assert started is not None
    thread.join(5)
    saved = {name: signal.getsignal(getattr(signal, name)) for name in fastpath.FORWARDED}
    try:
        assert fastpath.relay(*started) == fastpath.EXIT_LOST
    finally:
        for name, handler_ in saved.items():
            signal.signal(getattr(signal, name), handler_)
        started[0].close()
    assert capsys.readouterr().err == "dockyard: cli worker: connection lost before its exit status\n"


def test_signals_are_forwarded_to_the_worker(tmp_path: Path) -> None:
    worker = os.fork()
    if worker == 0:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
        os._exit(42 if signal.sigwait([signal.SIGUSR1]) == signal.SIGUSR1 else 1)

    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        before = signal.getsignal(signal.SIGUSR1)
        conn.sendall(fastpath.record(b"P", worker))
        for _ in range(500):  # until the launcher's relay handlers are in place
            if signal.getsignal(signal.SIGUSR1) is not before:
                break
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)  # to the launcher (this process), which relays it
        conn.sendall(fastpath.record(b"X", fastpath.exit_code(os.waitpid(worker, 0)[1])))

    thread = _serve(str(tmp_path / "z.sock"), handler)
    saved = {name: signal.getsignal(getattr(signal, name)) for name in fastpath.FORWARDED}
    try:
        started = fastpath._start(str(tmp_path / "z.sock"), ["ps"], {})
        assert started is not None
        assert fastpath.relay(*started) == 42
        started[0].close()
    finally:
        for name, handler_ in saved.items():
            signal.signal(getattr(signal, name), handler_)
        thread.join(5)


@pytest.mark.parametrize(
    ("data", "fds", "message"),
    [
        (fastpath.MAGIC + b"\x00\x00\x00\x00", 0, "expected 3 file descriptors, got 0"),
        (b"nope\x00\x00\x00\x00", 3, "bad magic"),
        (fastpath.MAGIC + (fastpath.MAX_REQUEST + 1).to_bytes(4, "big"), 3, "exceeds"),
        (fastpath.MAGIC + b"\x00\x00\x00\x10/tmp", 3, "truncated request"),
    ],
)
def test_the_zygote_refuses_bad_messages(data: bytes, fds: int, message: str) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        socket.send_fds(ours, [data], [0, 1, 2][:fds])
        ours.shutdown(socket.SHUT_WR)
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(ValueError) as err:
            cli_zygote.read_request(theirs)
        assert message in str(err.value)
        assert len(os.listdir("/proc/self/fd")) <= before  # the passed fds were closed


def test_a_spares_rehearsal_parses_but_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dockyard.cli import commands

    made: list[object] = []
    monkeypatch.setattr(commands, "client_of", lambda ctx: made.append(ctx))
    monkeypatch.setattr(commands, "_create_options", lambda *args, **kwargs: made.append(args))
    cli_zygote.rehearse()
    assert made == []
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "path",
    ["/var/lib/dockyard", "/var/lib/dockyard/", "//var//lib/./dockyard", "/var/lib/x/../dockyard", "/..", "/",
     "rel/./a/../b", "../x", ".", "", "a/..", "/var/lib/dockyard/.."],
)  # fmt: skip
def test_the_launchers_normpath_is_posixpaths(path: str) -> None:
    assert fastpath._normpath(path) == os.path.normpath(path)


def test_the_launcher_reads_the_environment_without_os(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_TEST_Ü", "wert=\udcff")  # a byte that is not UTF-8, as os.environ decodes it
    assert fastpath.environ() == dict(os.environ)


def test_the_launcher_module_does_not_import_os() -> None:
    code = "import sys; sys.path.insert(0, sys.argv[1]); import dockyard.cli.fastpath; print('os' in sys.modules)"
    src = str(Path(fastpath.__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, src], capture_output=True, text=True, check=True)
    assert out.stdout == "False\n"
