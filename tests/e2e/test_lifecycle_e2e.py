"""The lifecycle verbs end to end (stop, kill, restart, pause, wait, attach, start -a, -it, logs, --init, recovery)
through the CLI in a subprocess, asserting on output, exit codes and the container's real state."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, checked, make_root, wait_for
from _lifecycle_support import PtyCli

pytestmark = pytest.mark.privileged
NET = ("--network", "none")
LOOP = "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done"


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-lifecycle"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    yield from checked(image_root, cgroups=True)


def detached(d: Dockyard, name: str, *args: str) -> str:
    result = d("run", "-d", *NET, "--name", name, *args)
    assert result.code == 0, result.err
    return result.out.strip()


def test_stop_sends_the_stop_signal_and_reports_the_exit(d: Dockyard) -> None:
    detached(d, "trapper", "busybox", "sh", "-c", LOOP)
    assert wait_for(lambda: d("logs", "trapper").out == "ready\n")
    stopped = d("stop", "-t", "5", "trapper")
    assert (stopped.code, stopped.out) == (0, "trapper\n")
    assert d.inspect("trapper", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}") == "exited 7 false"
    assert d("wait", "trapper").out == "7\n"
    again = d("stop", "trapper")  # not running: Docker answers 304 and the CLI still names it
    assert (again.code, again.out) == (0, "trapper\n")


def test_stop_kills_after_the_timeout(d: Dockyard) -> None:
    detached(d, "stubborn", "busybox", "sleep", "60")  # pid 1 without a handler ignores SIGTERM
    assert d("stop", "-t", "1", "stubborn").code == 0
    assert d.inspect("stubborn", "{{.State.ExitCode}}") == "137"


def test_stop_signal_flag_and_stop_timeout(d: Dockyard) -> None:
    script = "trap 'exit 9' USR1; echo ready; while :; do sleep 0.1; done"
    detached(d, "usr1", "--stop-signal", "SIGUSR1", "--stop-timeout", "5", "busybox", "sh", "-c", script)
    assert d.inspect("usr1", "{{.Config.StopSignal}} {{.Config.StopTimeout}}") == "SIGUSR1 5"
    assert wait_for(lambda: "ready" in d("logs", "usr1").out)
    assert d("stop", "usr1").code == 0
    assert d.inspect("usr1", "{{.State.ExitCode}}") == "9"


def test_bad_input_gets_dockers_messages(d: Dockyard) -> None:
    missing = d("stop", "nosuch")
    assert (missing.code, missing.err) == (1, "dockyard: Error response from daemon: No such container: nosuch\n")
    bad_time = d("stop", "-t", "abc", "x")
    assert bad_time.code == 125
    assert 'invalid argument "abc" for "-t, --timeout" flag: strconv.ParseInt: parsing "abc": invalid syntax' in (
        bad_time.err
    )
    assert d("run", "--nosuchflag", "busybox").code == 125
    assert "No such option: --nosuchflag" in d("run", "--nosuchflag", "busybox").err
    memory = d("run", *NET, "--memory", "512x", "busybox", "true")
    assert memory.code == 125 and 'invalid argument "512x" for "--memory" flag' in memory.err
    restart = d("run", *NET, "--restart", "sometimes", "busybox", "true")
    assert (restart.code, restart.err) == (
        125,
        "dockyard: Error response from daemon: invalid restart policy 'sometimes'\n",
    )
    driver = d("run", *NET, "--log-driver", "bogus", "busybox", "true")
    assert "logger: no log driver named 'bogus' is registered" in driver.err
    conflict = d("run", *NET, "--rm", "--restart", "always", "busybox", "true")
    assert "Conflicting options: cannot specify both --restart and --rm" in conflict.err
    assert d("start", "nosuch").err.endswith("Error: failed to start containers: nosuch\n")


def test_name_in_use_and_rm_of_a_running_container(d: Dockyard) -> None:
    cid = detached(d, "taken", "busybox", "sleep", "60")
    dup = d("run", "-d", *NET, "--name", "taken", "busybox", "true")
    assert dup.code == 125
    assert (
        f'Conflict. The container name "/taken" is already in use by container "{cid}". You have to remove '
        "(or rename) that container to be able to reuse that name." in dup.err
    )
    rm = d("rm", "taken")
    assert rm.code == 1 and "container is running: stop the container before removing or force remove" in rm.err
    assert d("rm", "-f", "taken").out == "taken\n"


def test_kill_and_kill_of_a_stopped_container(d: Dockyard) -> None:
    cid = detached(d, "victim", "busybox", "sh", "-c", "trap 'exit 3' USR1; while :; do sleep 0.1; done")
    assert wait_for(lambda: d.inspect("victim", "{{.State.Running}}") == "true")
    time.sleep(0.2)  # the shell installs its trap
    assert d("kill", "-s", "USR1", "victim").out == "victim\n"
    assert d("wait", "victim").out == "3\n"
    again = d("kill", "victim")
    assert again.code == 1
    assert f"Cannot kill container: victim: Container {cid} is not running" in again.err


def test_restart_runs_it_again(d: Dockyard) -> None:
    detached(d, "again", "busybox", "sh", "-c", LOOP)
    first = d.inspect("again", "{{.State.Pid}} {{.State.StartedAt}}")
    assert d("restart", "-t", "1", "again").out == "again\n"
    second = d.inspect("again", "{{.State.Pid}} {{.State.StartedAt}} {{.State.Status}} {{.RestartCount}}")
    assert second.endswith(" running 0") and second.split()[:2] != first.split()


def test_pause_freezes_and_unpause_resumes(d: Dockyard) -> None:
    detached(d, "frozen", "busybox", "sh", "-c", "while :; do echo tick; sleep 0.05; done")
    pid = d.inspect("frozen", "{{.State.Pid}}")
    assert d("pause", "frozen").out == "frozen\n"
    assert d.inspect("frozen", "{{.State.Status}} {{.State.Paused}}") == "paused true"
    state = Path(f"/proc/{pid}/status").read_text().split("State:\t")[1][0]
    assert state in "DT"
    lines = len(d("logs", "frozen").out.splitlines())
    time.sleep(0.3)
    assert len(d("logs", "frozen").out.splitlines()) == lines
    assert "is already paused" in d("pause", "frozen").err
    assert d("unpause", "frozen").out == "frozen\n"
    assert wait_for(lambda: len(d("logs", "frozen").out.splitlines()) > lines)
    assert "is not paused" in d("unpause", "frozen").err


def test_logs_tail_since_until_timestamps(d: Dockyard) -> None:
    detached(d, "talker", "busybox", "sh", "-c", "for i in 1 2 3 4; do echo line$i; done; echo oops >&2")
    assert d("wait", "talker").out == "0\n"
    assert d("logs", "--tail", "2", "talker").out == "line4\n"
    assert d("logs", "--tail", "2", "talker").err == "oops\n"
    stamped = d("logs", "-t", "-n", "1", "talker").err
    assert stamped.endswith(" oops\n") and stamped[:4].isdigit() and stamped[19] == "." and stamped[29] == "Z"
    assert d("logs", "--since", "10m", "talker").out == "line1\nline2\nline3\nline4\n"
    assert d("logs", "--until", "10m", "talker").out == ""
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    assert d("logs", "--since", future, "talker").out == ""
    assert d("logs", "--since", str(int(time.time()) - 60), "talker").out.count("line") == 4
    bad = d("logs", "--since", "yesterday", "talker")
    assert bad.code == 125 and 'failed to parse value as time or duration: "yesterday"' in bad.err


def test_logs_follow_ends_when_the_container_exits(d: Dockyard) -> None:
    detached(d, "follow", "busybox", "sh", "-c", "echo a; sleep 1; echo b")
    result = d("logs", "-f", "follow", timeout=20)
    assert (result.code, result.out) == (0, "a\nb\n")


def test_log_rotation_keeps_at_most_max_file(d: Dockyard) -> None:
    cid = detached(d, "rotor", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "busybox", "sh", "-c",
                   "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done")  # fmt: skip
    d("wait", "rotor")
    files = sorted(p.name for p in (d.root / "containers" / cid).glob(f"{cid}-json.log*"))
    assert files == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
    for name in files:
        assert (d.root / "containers" / cid / name).stat().st_size < 1200
    lines = d("logs", "rotor").out.splitlines()
    assert lines[-1] == "line-299" and 0 < len(lines) < 300
    assert [int(x.split("-")[1]) for x in lines] == list(range(300 - len(lines), 300))
    assert json.loads(d.inspect("rotor", "{{json .HostConfig.LogConfig}}")) == {
        "Type": "json-file",
        "Config": {"max-file": "3", "max-size": "1k"},
    }


def test_log_driver_none(d: Dockyard) -> None:
    cid = detached(d, "quiet", "--log-driver", "none", "busybox", "echo", "hidden")
    d("wait", "quiet")
    logs = d("logs", "quiet")
    assert (logs.code, logs.err) == (1, "dockyard: Error response from daemon: configured logging driver does not "
                                         "support reading\n")  # fmt: skip
    assert (
        not (d.root / "containers" / cid / f"{cid}-json.log").exists()
        or not (d.root / "containers" / cid / f"{cid}-json.log").read_text()
    )


def test_interactive_stdin_is_closed_when_the_client_detaches(d: Dockyard) -> None:
    result = d("run", "-i", "--rm", *NET, "busybox", "sh", "-c", "cat; echo done", stdin="one\ntwo\n")
    assert (result.code, result.out) == (0, "one\ntwo\ndone\n")
    assert d("run", "--rm", *NET, "busybox", "sh", "-c", "cat; echo eof", stdin="ignored").out == "eof\n"


def test_stdin_that_the_container_stops_reading_does_not_lose_its_output(d: Dockyard) -> None:
    flood = "y\n" * 4_000_000  # far more than the pipes and the socket buffer hold
    result = d("run", "-i", "--rm", *NET, "busybox", "head", "-c", "10", stdin=flood)
    assert (result.code, result.out, result.err) == (0, "y\n" * 5, "")


def test_start_attach_and_create(d: Dockyard) -> None:
    created = d("create", *NET, "--name", "later", "busybox", "sh", "-c", "echo from-start; exit 4")
    assert created.code == 0 and len(created.out.strip()) == 64
    assert d.inspect("later", "{{.State.Status}}") == "created"
    attached = d("start", "-a", "later")
    assert (attached.code, attached.out) == (4, "from-start\n")
    assert d("start", "later").out == "later\n"
    assert d("wait", "later").out == "4\n"


def test_attach_to_a_stopped_container_fails(d: Dockyard) -> None:
    d("create", *NET, "--name", "idle", "busybox", "true")
    result = d("attach", "idle")
    assert (result.code, result.err) == (1, "dockyard: You cannot attach to a stopped container, start it first\n")


def test_attach_streams_output_until_exit(d: Dockyard) -> None:
    detached(d, "streamer", "busybox", "sh", "-c", "sleep 1; echo late; exit 5")
    result = d("attach", "streamer", timeout=20)
    assert (result.code, result.out) == (5, "late\n")


def test_run_it_echoes_input_detaches_and_reattaches(d: Dockyard) -> None:
    cli = PtyCli(d, "run", "-it", *NET, "--name", "shell", "busybox", "sh")
    cli.expect(b"# ")
    cli.send(b"echo hel''lo\r")
    cli.expect(b"hello")
    cli.send(b"stty size\r")
    cli.expect(b"24 80")
    cli.send(b"tty; ls /dev/pts\r")  # the pty is the container's own (newinstance devpts), as with runc
    cli.expect(b"/dev/pts/0")
    cli.expect(b"0     ptmx")
    cli.send(b"\x10\x11")  # ctrl-p ctrl-q
    assert cli.wait() == 0
    assert d.inspect("shell", "{{.State.Running}} {{.Config.Tty}} {{.Config.OpenStdin}}") == "true true true"
    again = PtyCli(d, "attach", "shell", rows=30, cols=100)
    again.send(b"stty size\r")
    again.expect(b"30 100")
    again.send(b"\x10\x11")
    assert again.wait() == 1
    assert b"read escape sequence" in again.buf
    final = PtyCli(d, "attach", "shell")
    final.send(b"exit 6\r")
    assert final.wait() == 6
    assert d.inspect("shell", "{{.State.Status}} {{.State.ExitCode}}") == "exited 6"


def test_init_runs_as_pid_1(d: Dockyard) -> None:
    script = "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$"
    result = d("run", "--rm", *NET, "--init", "busybox", "sh", "-c", script)
    assert result.code == 0, result.err
    first, pid = result.out.splitlines()
    assert (first, pid) == (f"/sbin/docker-init -- sh -c {script} ", "2")


def test_killed_monitor_is_repaired_by_the_next_command(d: Dockyard) -> None:
    cid = detached(d, "orphan", "busybox", "sleep", "60")
    pid = int(d.inspect("orphan", "{{.State.Pid}}"))
    monitors = [p for p in _holders_of(d.root / "containers" / cid / "monitor.lock")]
    assert len(monitors) == 1
    os.kill(monitors[0], signal.SIGKILL)
    assert wait_for(lambda: not Path(f"/proc/{monitors[0]}").exists())
    assert d.inspect("orphan", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}") == (
        "exited 137 monitor exited unexpectedly"
    )
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text())
    assert not (d.root / "run" / "runtime" / cid).exists()
    assert d("start", "orphan").code == 0
    assert d.inspect("orphan", "{{.State.Status}}") == "running"


def _holders_of(path: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if any(os.readlink(f"/proc/{entry}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{entry}/fd")):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def test_monitor_slims_down_and_keeps_serving(d: Dockyard) -> None:
    cid = detached(d, "slim", "busybox", "sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    (monitor,) = _holders_of(d.root / "containers" / cid / "monitor.lock")

    def slim() -> bool:
        return b"monitor_slim" in Path(f"/proc/{monitor}/cmdline").read_bytes()

    assert wait_for(slim, timeout=15)
    rss_kb = int(Path(f"/proc/{monitor}/status").read_text().split("VmRSS:")[1].split()[0])
    assert rss_kb < 30_000
    count = len(d("logs", "slim").out.splitlines())
    assert wait_for(lambda: len(d("logs", "slim").out.splitlines()) > count)
    assert d("stop", "-t", "1", "slim").code == 0
    assert d.inspect("slim", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    assert wait_for(lambda: not _holders_of(d.root / "containers" / cid / "monitor.lock"))


def test_oom_killed_is_recorded(d: Dockyard) -> None:
    result = d("run", *NET, "--name", "hog", "--memory", "8m", "busybox", "sh", "-c",
               "x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done")  # fmt: skip
    assert result.code == 137
    assert d.inspect("hog", "{{.State.ExitCode}} {{.State.OOMKilled}}") == "137 true"
