"""The CLI zygote end to end: a private dockyardd's `-cli.sock`, and the generated `dockyard` launcher run through it
and through the plain daemon path with the same output and exit codes (run --rm, ps, logs, stdin, -it, errors)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import _harness as support
import pytest
from _harness import RUNTIME, Dockyard, make_root, wait_for
from _lifecycle_support import PtyCli

from dockyard.runtime.launcher import write_launcher

pytestmark = pytest.mark.privileged


class Daemon:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.api = str(root / "d.sock")
        self.cli_sock = str(root / "d-cli.sock")
        self.launcher = str(root / "dockyard")
        write_launcher(self.launcher, program="dockyard")
        env = {**os.environ, "DOCKYARD_RUNTIME": RUNTIME}
        env.pop("DOCKYARD_CLI_ZYGOTE", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard.daemon.main", "-H", f"unix://{self.api}", "--data-root",
             str(root / "data")], env=env, stderr=subprocess.PIPE,
        )  # fmt: skip
        ok = wait_for(lambda: os.path.exists(self.cli_sock) or self.proc.poll() is not None, 15)
        assert ok and os.path.exists(self.cli_sock), self.proc.stderr.read() if self.proc.stderr else ""

    def cli(self, zygote: bool) -> Dockyard:
        d = Dockyard(self.root / "data")
        if zygote:
            d.env["DOCKYARD_CLI_SOCKET"] = self.cli_sock
        else:
            d.env.update(DOCKYARD_CLI_SOCKET="", DOCKYARD_HOST=f"unix://{self.api}")
        return d

    def zygote_pid(self) -> int:
        for entry in os.listdir("/proc"):
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            if ppid == self.proc.pid and b"dockyard.cli.zygote" in cmd:
                return int(entry)
        raise AssertionError("no cli zygote under the daemon")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("clizygote")
    make_root(root / "data")
    d = Daemon(root)
    yield d
    d.cli(False).cleanup()
    d.proc.terminate()
    assert d.proc.wait(timeout=15) == 0
    assert not os.path.exists(d.cli_sock)


@pytest.fixture(autouse=True)
def through_launcher(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support, "CLI", [daemon.launcher])


def both(daemon: Daemon, *args: str, stdin: str | None = None) -> tuple[support.Result, support.Result]:
    return daemon.cli(True)(*args, stdin=stdin), daemon.cli(False)(*args, stdin=stdin)


def test_socket_is_root_only_beside_the_api_socket(daemon: Daemon) -> None:
    mode = os.stat(daemon.cli_sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"),
        ("run", "--rm", "--network", "none", "busybox", "true"),
        ("run", "--rm", "no-such-image"),
        ("run", "--rm", "busybox", "sh", "-c", "kill -9 $$"),
        ("ps", "-a", "--format", "{{.Image}} {{.Command}}"),
        ("inspect", "no-such-container"),
        ("image", "ls", "--format", "{{.Repository}}:{{.Tag}}"),
        ("frobnicate",),
    ],
)
def test_same_output_and_code(daemon: Daemon, args: tuple[str, ...]) -> None:
    fast, plain = both(daemon, *args)
    assert (fast.code, fast.out, fast.err) == (plain.code, plain.out, plain.err)


def test_missing_image_is_125_with_the_daemon_message(daemon: Daemon) -> None:
    fast = daemon.cli(True)("run", "--rm", "no-such-image")
    assert fast.code == 125
    assert "No such image: no-such-image:latest" in fast.err


def test_stdin_pipe_and_large_output(daemon: Daemon) -> None:
    fast, plain = both(daemon, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; seq 1 20000", stdin="piped\n")
    assert fast.code == plain.code == 0
    assert fast.out == plain.out and fast.out.startswith("piped\n1\n") and fast.out.endswith("\n20000\n")


def test_logs_of_a_named_container(daemon: Daemon) -> None:
    d = daemon.cli(True)
    made = d("run", "--name", "zlogs", "busybox", "sh", "-c", "echo one; echo two >&2")
    assert made.code == 0, made.err
    fast, plain = both(daemon, "logs", "zlogs")
    assert (fast.code, fast.out, fast.err) == (plain.code, plain.out, plain.err) == (0, "one\n", "two\n")
    assert d("rm", "zlogs").code == 0


def test_cwd_and_relative_paths(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("from the host\n")
    d = daemon.cli(True)
    created = d("create", "--name", "zcp", "busybox", "true")
    assert created.code == 0, created.err
    proc = subprocess.run([daemon.launcher, "cp", "in.txt", "zcp:/in.txt"], env=d.env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    back = subprocess.run([daemon.launcher, "cp", "zcp:/in.txt", "out.txt"], env=d.env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "out.txt").read_text() == "from the host\n"
    assert d("rm", "zcp").code == 0


def test_run_it_through_the_worker(daemon: Daemon) -> None:
    term = PtyCli(daemon.cli(True), "run", "--rm", "-it", "busybox", "sh", rows=33, cols=101)
    term.expect(b"# ")
    term.send(b"stty size; tty\n")
    term.expect(b"33 101")
    term.send(b"exit 4\n")
    assert term.wait() == 4


def test_sigterm_to_the_launcher_reaches_the_worker(daemon: Daemon) -> None:
    d = daemon.cli(True)
    started = d("run", "-d", "--name", "zwaiter", "busybox", "sleep", "30")
    assert started.code == 0, started.err
    blocked = subprocess.Popen([daemon.launcher, "wait", "zwaiter"], env=d.env, stdout=subprocess.PIPE)
    time.sleep(0.5)
    blocked.send_signal(signal.SIGTERM)
    assert blocked.wait(timeout=15) == 128 + signal.SIGTERM
    assert d("inspect", "-f", "{{.State.Running}}", "zwaiter").out.strip() == "true"
    assert d("rm", "-f", "zwaiter").code == 0


def test_a_dead_zygote_is_replaced(daemon: Daemon) -> None:
    old = daemon.zygote_pid()
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: _zygote_or_none(daemon) not in (None, old), 10)
    fast = daemon.cli(True)("ps", "-a", "-q")
    assert fast.code == 0, fast.err


def _zygote_or_none(daemon: Daemon) -> int | None:
    try:
        return daemon.zygote_pid()
    except AssertionError:
        return None  # between the old one's death and the new one's start


def test_a_non_root_peer_is_refused() -> None:
    # the socket's mode already keeps others out; the peer check is tested on an abstract socket anyone may reach
    from dockyard.cli import zygote as cli_zygote

    path = f"\0dockyard-test-peer-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(10)
        child = os.fork()
        if child == 0:
            try:
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                    c.connect(path)
                    c.recv(1)
            finally:
                os._exit(0)
        try:
            conn, _ = listener.accept()
            with conn:
                assert cli_zygote.check_peer(conn) == "cli zygote: peer uid 65534: permission denied"
        finally:
            os.waitpid(child, 0)


def test_detach_attach_resize_and_exec_it(daemon: Daemon) -> None:
    import fcntl
    import struct
    import termios

    d = daemon.cli(True)
    term = PtyCli(d, "run", "-it", "--network", "none", "--name", "zshell", "busybox", "sh")
    term.expect(b"# ")
    term.send(b"\x10\x11")  # ctrl-p ctrl-q: detach keys, read by the worker from the passed terminal
    assert term.wait() == 0
    again = PtyCli(d, "attach", "zshell", rows=30, cols=100)
    again.send(b"stty size\r")
    again.expect(b"30 100")
    # the kernel signals SIGWINCH to the launcher (the terminal's foreground), which forwards it to the worker
    fcntl.ioctl(again.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    time.sleep(0.3)
    again.send(b"stty size\r")
    again.expect(b"40 120")
    again.send(b"\x10\x11")
    assert again.wait() == 1
    shell = PtyCli(d, "exec", "-it", "zshell", "sh", "-c", "stty size; exit 9", rows=21, cols=77)
    shell.expect(b"21 77")
    assert shell.wait() == 9
    assert d("rm", "-f", "zshell").code == 0


def test_a_reader_that_goes_away_gives_the_same_status(daemon: Daemon) -> None:
    d = daemon.cli(True)
    made = d("run", "--name", "zbig", "--network", "none", "busybox", "seq", "1", "100000")
    assert made.code == 0, made.err
    results = []
    # the reader starts late, so the writer has filled the pipe and meets EPIPE (no race on who finishes first)
    for verb in ("logs zbig", "inspect " + "zbig " * 60):
        for env in (d.env, daemon.cli(False).env):
            script = f"{daemon.launcher} {verb} | (sleep 0.2; head -c1 >/dev/null); echo ${{PIPESTATUS[0]}}"
            proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30,
                                  check=False)  # fmt: skip
            results.append((proc.stdout, proc.stderr))
    assert results[0] == results[1] and results[2] == results[3], results
    assert all(out.strip() != "0" for out, _ in results), results  # EPIPE was seen, not a full write
    assert d("rm", "zbig").code == 0


def test_one_spare_worker_waits_and_is_replaced_after_each_call(daemon: Daemon) -> None:
    zygote = daemon.zygote_pid()

    def children() -> list[int]:
        with open(f"/proc/{zygote}/task/{zygote}/children", encoding="ascii") as f:
            return [int(p) for p in f.read().split()]

    assert wait_for(lambda: len(children()) == 1, 10)  # the spare, forked before any request
    (spare,) = children()
    fast = daemon.cli(True)("ps", "-a", "-q")
    assert fast.code == 0, fast.err
    assert wait_for(lambda: len(children()) == 1 and children() != [spare], 10)  # it served; a new one waits
    os.kill(children()[0], signal.SIGKILL)  # a spare that dies is replaced too
    assert wait_for(lambda: len(children()) == 1, 10)
    assert daemon.cli(True)("ps", "-a", "-q").code == 0
