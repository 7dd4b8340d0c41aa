"""`dockyard run` end to end as a user runs it: the CLI in a subprocess, a real runtime, busybox inside.

The runtime is DOCKYARD_E2E_RUNTIME (default `dockyard-runtime`; `runc` for a differential run). Each test uses
a private data root and checks that nothing is left behind: records, mounts, cgroups, runtime state.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, make_root, wait_for

pytestmark = pytest.mark.privileged

CGROUP_PARENT = Path("/sys/fs/cgroup/memory/dockyard")


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-e2e"))


@pytest.fixture
def dockyard(image_root: Path) -> Iterator[Dockyard]:
    before = set(os.listdir(CGROUP_PARENT)) if CGROUP_PARENT.is_dir() else set()
    d = Dockyard(image_root)
    yield d
    for line in d("ps", "-aq", "--no-trunc").out.split():
        d("rm", "-f", line)

    def new_cgroups() -> set[str]:
        after = set(os.listdir(CGROUP_PARENT)) if CGROUP_PARENT.is_dir() else set()
        return {n for n in after - before if re.fullmatch(r"[0-9a-f]{64}", n)}

    # The parent is shared by every data root on the host: another suite's container may be alive right now.
    # A leaked cgroup of ours stays forever; theirs goes away when their container does.
    assert wait_for(lambda: not new_cgroups(), timeout=15), f"container cgroups left behind: {new_cgroups()}"
    assert d.leftovers() == []


def test_run_rm_echo_hello_leaves_nothing(dockyard: Dockyard) -> None:
    result = dockyard("run", "--rm", "busybox", "echo", "hello")
    assert (result.code, result.out, result.err) == (0, "hello\n", "")
    assert dockyard.leftovers() == []
    assert dockyard("ps", "-aq").out == ""


def test_the_container_process_gets_stdio_and_nothing_else(dockyard: Dockyard) -> None:
    # as `docker run --rm busybox ls /proc/self/fd`: fd 3 is ls's own directory; no engine or runtime fd leaks
    result = dockyard("run", "--rm", "--network", "none", "busybox", "ls", "/proc/self/fd")
    assert (result.code, result.out.split()) == (0, ["0", "1", "2", "3"])


def test_exit_code_propagates(dockyard: Dockyard) -> None:
    result = dockyard("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.code, result.out, result.err) == (3, "out\n", "err\n")


def test_command_not_found_is_127(dockyard: Dockyard) -> None:
    result = dockyard("run", "--rm", "busybox", "nosuchcmd")
    assert result.code == 127
    assert result.err.startswith("dockyard: Error response from daemon: OCI runtime create failed: ")
    assert "nosuchcmd" in result.err and "not found" in result.err


def test_missing_image_is_125(dockyard: Dockyard) -> None:
    result = dockyard("run", "--rm", "nosuch")
    assert result.code == 125
    assert result.err.splitlines()[0] == "dockyard: Error response from daemon: No such image: nosuch:latest"


def test_detached_logs_and_force_remove(dockyard: Dockyard) -> None:
    started = dockyard("run", "-d", "--name", "sleeper", "busybox", "sh", "-c", "echo ready; exec sleep 60")
    assert started.code == 0 and re.fullmatch(r"[0-9a-f]{64}\n", started.out)
    cid = started.out.strip()
    for _ in range(200):
        if dockyard("logs", "sleeper").out == "ready\n":
            break
        time.sleep(0.02)
    assert dockyard("logs", "sleeper").out == "ready\n"
    ps = dockyard("ps")
    assert cid[:12] in ps.out and "Up " in ps.out and "sleeper" in ps.out
    assert (Path(dockyard.root) / "containers" / cid / f"{cid}-json.log").read_text().startswith('{"log":"ready\\n"')
    removed = dockyard("rm", "-f", "sleeper")
    assert (removed.code, removed.out) == (0, "sleeper\n")
    assert dockyard.leftovers() == []


def test_detached_auto_remove(dockyard: Dockyard) -> None:
    assert dockyard("run", "-d", "--rm", "busybox", "true").code == 0
    for _ in range(250):
        if not dockyard.leftovers():
            break
        time.sleep(0.02)
    assert dockyard.leftovers() == []


def test_hostname_is_the_short_id(dockyard: Dockyard) -> None:
    result = dockyard("run", "busybox", "sh", "-c", "hostname; cat /etc/hostname")
    cid = dockyard("ps", "-aq", "--no-trunc").out.strip()
    assert len(cid) == 64 and result.out == f"{cid[:12]}\n{cid[:12]}\n"
    inspected = dockyard("inspect", cid)
    assert '"ExitCode": 0' in inspected.out and '"Status": "exited"' in inspected.out


def test_default_security_settings(dockyard: Dockyard) -> None:
    result = dockyard(
        "run", "--rm", "busybox", "grep", "-E", "^(CapEff|CapBnd|Seccomp|NoNewPrivs):", "/proc/self/status"
    )
    fields = dict(line.split(":\t") for line in result.out.splitlines())
    assert fields == {"CapEff": "00000000a80425fb", "CapBnd": "00000000a80425fb", "NoNewPrivs": "0", "Seccomp": "2"}


def test_masked_paths_and_private_dev(dockyard: Dockyard) -> None:
    # /proc/kcore is masked too, but this machine's kernel has none: check the masked paths that exist here.
    script = (
        "cat /proc/keys /proc/timer_list | wc -c; ls /sys/firmware | wc -l; [ -e /proc/kcore ] && wc -c < /proc/kcore"
    )
    script += "; echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || echo ro; ls /dev"
    result = dockyard("run", "--rm", "busybox", "sh", "-c", script)
    lines = result.out.split()
    assert lines[:2] == ["0", "0"]
    if os.path.exists("/proc/kcore"):
        assert lines.pop(2) == "0"
    assert lines[2] == "ro"
    devices = set(lines[3:])
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue"} <= devices
    assert not devices & {"vda", "sda", "kmsg", "mem"}


def test_env_workdir_user_and_read_only(dockyard: Dockyard) -> None:
    result = dockyard("run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "nobody", "--read-only", "busybox",
                      "sh", "-c", "echo $A $(pwd) $(id -u); touch /x 2>/dev/null || echo ro")  # fmt: skip
    assert (result.code, result.out) == (0, "1 /tmp 65534\nro\n")
