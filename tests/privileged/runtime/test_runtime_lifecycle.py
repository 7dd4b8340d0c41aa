"""dockyard-runtime lifecycle against real busybox containers: create/start/state/kill/delete, run, exec, pause,
ps, list, hooks and the console socket."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable

import pytest
from runtime_bundle import RUNTIME, Bundle, Runtime, cgroup_dirs, make_bundle_fixture, runtime_fixture  # noqa: F401

from dockyard.runtime.console import recv_console_master

pytestmark = pytest.mark.privileged
MakeBundle = Callable[..., Bundle]


def test_create_start_kill_delete(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    cid = runtime.new_id()
    runtime("create", "--bundle", bundle.path, cid, check=True)
    state = runtime.state(cid)
    assert state["status"] == "created"
    assert state["id"] == cid and state["bundle"] == bundle.path and state["rootfs"] == bundle.rootfs
    pid = state["pid"]
    assert pid > 0 and os.path.exists(f"/proc/{pid}")
    assert stat.S_ISFIFO(os.stat(os.path.join(runtime.root, cid, "exec.fifo")).st_mode)
    runtime("start", cid, check=True)
    assert runtime.status(cid) == "running"
    again = runtime("start", cid)
    assert again.returncode == 1 and "cannot start an already running container" in again.stderr
    refused = runtime("delete", cid)
    assert refused.returncode == 1
    assert f"cannot delete container `{cid}` that is not stopped: running" in refused.stderr
    runtime("kill", cid, "KILL", check=True)
    assert runtime.wait_status(cid, "stopped") == "stopped"
    assert runtime.state(cid)["pid"] == 0
    dead = runtime("kill", cid)
    assert dead.returncode == 1 and "container not running" in dead.stderr
    stopped = runtime("start", cid)
    assert "cannot start a container that has stopped" in stopped.stderr
    runtime("delete", cid, check=True)
    assert not os.path.exists(os.path.join(runtime.root, cid))
    missing = runtime("state", cid)
    assert missing.returncode == 1 and f"container `{cid}` does not exist" in missing.stderr


def test_create_twice_is_a_conflict(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    cid = runtime.new_id()
    runtime("create", "--bundle", bundle.path, cid, check=True)
    second = runtime("create", "--bundle", bundle.path, cid)
    assert second.returncode == 1 and f"container `{cid}` already exists" in second.stderr
    assert runtime.status(cid) == "created"


def test_delete_created_container_and_pid_file(runtime: Runtime, make_bundle: MakeBundle, tmp_path: object) -> None:
    bundle = make_bundle("sleep", "100")
    cid = runtime.new_id()
    pid_file = os.path.join(bundle.path, "init.pid")
    runtime("create", "--bundle", bundle.path, "--pid-file", pid_file, cid, check=True)
    with open(pid_file) as f:
        pid = int(f.read())
    assert pid == runtime.state(cid)["pid"]
    runtime("delete", cid, check=True)
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert _gone(pid)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.parametrize(("script", "code"), [("exit 0", 0), ("exit 3", 3), ("echo out; exit 42", 42)])
def test_run_returns_exit_code(runtime: Runtime, make_bundle: MakeBundle, script: str, code: int) -> None:
    bundle = make_bundle("sh", "-c", script)
    cid = runtime.new_id()
    result = runtime("run", "--bundle", bundle.path, cid)
    assert result.returncode == code, result.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid)), "run without --detach deletes the container"


def test_run_killed_container_returns_128_plus_signal(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    cid = runtime.new_id()
    proc = subprocess.Popen(
        [*RUNTIME, "--root", runtime.root, "run", "--bundle", bundle.path, cid],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert runtime.wait_status(cid, "running") == "running"
        runtime("kill", cid, "KILL", check=True)
        assert proc.wait(timeout=30) == 128 + signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()


def test_run_without_pid_namespace_terminated(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    ns = bundle.config["linux"]["namespaces"]
    bundle.config["linux"]["namespaces"] = [n for n in ns if n["type"] != "pid"]
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "--detach", "--bundle", bundle.path, cid, check=True)
    assert runtime.status(cid) == "running"
    runtime("kill", cid, "TERM", check=True)
    assert runtime.wait_status(cid, "stopped") == "stopped"


@pytest.mark.parametrize("phase", ["createRuntime", "poststart"])
def test_the_init_is_pid_1_and_host_hooks_stay_in_the_host_pid_namespace(
    runtime: Runtime, make_bundle: MakeBundle, phase: str
) -> None:
    # the runtime unshares the container's pid namespace itself for the init's fork (no intermediate process):
    # hooks it runs afterwards (createRuntime before Proceed, poststart in a foreground `run`) must not land in it
    bundle = make_bundle("sh", "-c", "echo $$ > /pid1")
    script = os.path.join(bundle.path, "hook.sh")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\nreadlink /proc/self/ns/pid > {bundle.path}/hook-ns\n")
    os.chmod(script, 0o755)
    bundle.config["hooks"] = {phase: [{"path": script}]}
    bundle.config["root"]["readonly"] = False
    bundle.write()
    result = runtime("run", "--bundle", bundle.path, runtime.new_id())
    assert result.returncode == 0, result.stderr
    with open(os.path.join(bundle.path, "hook-ns")) as f:
        assert f.read().strip() == os.readlink("/proc/self/ns/pid")
    with open(os.path.join(bundle.rootfs, "pid1")) as f:
        assert f.read().strip() == "1"


def test_exec_joins_the_container(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    bundle.config["hostname"] = "exec-box"
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "--detach", "--bundle", bundle.path, cid, check=True)
    out = runtime("exec", cid, "sh", "-c", "echo $$; hostname; cat /proc/1/cmdline", check=True).stdout.split("\n")
    assert out[1] == "exec-box"
    assert int(out[0]) > 1, "exec'd process lives in the container's pid namespace"
    assert out[2].startswith("sleep")
    code = runtime("exec", "--env", "X=7", "--user", "65534:65534", cid, "sh", "-c", 'id -u; exit "$X"')
    assert code.returncode == 7 and code.stdout.strip() == "65534"
    missing = runtime("exec", cid, "nosuch")
    assert missing.returncode == 1
    assert 'exec: "nosuch": executable file not found in $PATH' in missing.stderr


def test_pause_resume_ps_list(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    cid = runtime.new_id()
    runtime("run", "--detach", "--bundle", bundle.path, cid, check=True)
    pid = runtime.state(cid)["pid"]
    assert json.loads(runtime("ps", "--format", "json", cid, check=True).stdout) == [pid]
    table = runtime("ps", cid, check=True).stdout.splitlines()
    assert "PID" in table[0].split() and any(str(pid) in line.split() for line in table[1:])
    runtime("pause", cid, check=True)
    assert runtime.status(cid) == "paused"
    freezer = [d for d in cgroup_dirs(f"dockyard/{cid}") if "/freezer/" in d]
    if freezer:
        with open(os.path.join(freezer[0], "freezer.state")) as f:
            assert f.read().strip() == "FROZEN"
    listed = json.loads(runtime("list", "--format", "json", check=True).stdout)
    assert [(c["id"], c["status"]) for c in listed] == [(cid, "paused")]
    assert runtime("list", "-q", check=True).stdout.split() == [cid]
    runtime("resume", cid, check=True)
    assert runtime.status(cid) == "running"
    again = runtime("resume", cid)
    assert again.returncode == 1 and "container not paused" in again.stderr


def test_hooks_receive_state_and_poststop_runs_on_delete(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("true")
    out = os.path.join(bundle.path, "hooks")
    os.mkdir(out)
    script = os.path.join(bundle.path, "hook.sh")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\ncat > {out}/$1.json\n")
    os.chmod(script, 0o755)
    # startContainer runs inside the container, after pivot_root: its hook lives in the rootfs
    with open(os.path.join(bundle.rootfs, "hook.sh"), "w") as f:
        f.write("#!/bin/sh\ncat > /startContainer.json\n")
    os.chmod(os.path.join(bundle.rootfs, "hook.sh"), 0o755)
    host_phases = ("prestart", "createRuntime", "createContainer", "poststart", "poststop")
    hooks = {p: [{"path": script, "args": ["hook.sh", p]}] for p in host_phases}
    hooks["startContainer"] = [{"path": "/hook.sh"}]
    bundle.config["hooks"] = hooks
    bundle.config["root"]["readonly"] = False
    bundle.write()
    cid = runtime.new_id()
    runtime("create", "--bundle", bundle.path, cid, check=True)
    for phase in ("prestart", "createRuntime", "createContainer"):
        with open(os.path.join(out, f"{phase}.json")) as f:
            state = json.load(f)
        assert state["id"] == cid and state["status"] == "creating" and state["bundle"] == bundle.path
        assert state["pid"] == runtime.state(cid)["pid"]
    runtime("start", cid, check=True)
    assert os.path.exists(os.path.join(out, "poststart.json"))
    assert runtime.wait_status(cid, "stopped") == "stopped"
    with open(os.path.join(bundle.rootfs, "startContainer.json")) as f:
        assert json.load(f)["id"] == cid
    assert not os.path.exists(os.path.join(out, "poststop.json"))
    runtime("delete", cid, check=True)
    with open(os.path.join(out, "poststop.json")) as f:
        assert json.load(f)["status"] == "stopped"


def test_failing_create_runtime_hook_fails_create(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("true")
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    bundle.write()
    cid = runtime.new_id()
    result = runtime("create", "--bundle", bundle.path, cid)
    assert result.returncode == 1 and "hook createRuntime `/bin/false`: exit status 1" in result.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_console_socket_receives_the_pty(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sh", "-c", "tty; echo hello-from-tty")
    bundle.config["process"]["terminal"] = True
    bundle.write()
    sock_path = os.path.join(bundle.path, "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    server.settimeout(30)
    cid = runtime.new_id()
    proc = subprocess.Popen(
        [*RUNTIME, "--root", runtime.root, "create", "--bundle", bundle.path,
         "--console-socket", sock_path, cid],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while not select.select([server], [], [], 0.1)[0]:
            if proc.poll() is not None:
                pytest.fail(f"create exited ({proc.returncode}) before connecting: {proc.stderr.read()}")  # type: ignore[union-attr]
        conn, _ = server.accept()
        master = recv_console_master(conn)
        conn.close()
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        runtime("start", cid, check=True)
        output = _read_all(master)
    finally:
        os.close(master)
    assert "hello-from-tty" in output
    assert "/dev/console" in output or "/dev/pts/" in output


def _read_all(fd: int) -> str:
    chunks = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO once the slave side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def test_kill_all_reaches_every_process(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    cid = runtime.new_id()
    runtime("run", "--detach", "--bundle", bundle.path, cid, check=True)
    runtime("exec", "--detach", cid, "sleep", "200", check=True)
    pids = json.loads(runtime("ps", "--format", "json", cid, check=True).stdout)
    assert len(pids) == 2
    runtime("kill", "--all", cid, "KILL", check=True)
    assert runtime.wait_status(cid, "stopped") == "stopped"
    assert all(_gone(pid) for pid in pids)


def test_run_forwards_signals_to_the_container(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
    cid = runtime.new_id()
    proc = subprocess.Popen(
        [*RUNTIME, "--root", runtime.root, "run", "--bundle", bundle.path, cid],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert runtime.wait_status(cid, "running") == "running"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 7
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not os.path.exists(os.path.join(runtime.root, cid))
