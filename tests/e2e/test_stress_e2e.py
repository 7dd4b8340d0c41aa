"""Stress: 200 create/start/stop/rm cycles through the Engine API in one client process, then 20 concurrent
CLIs; afterwards no mount, cgroup, runtime state, monitor process or file descriptor may be left."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _harness import CLI, Dockyard, container_cgroups, make_root

pytestmark = pytest.mark.privileged

CYCLES = 200
CONCURRENT = 20
SCRIPT = """
import json, os, sys
from dockyard.client.client import CreateOptions, from_env
from dockyard.client import lifecycle

client = from_env()
ids = []
client.remove_container(client.create_container(CreateOptions(image="busybox", cmd=("true",), network="none")))
fds_before = len(os.listdir("/proc/self/fd"))
for i in range(int(sys.argv[1])):
    cid = client.create_container(CreateOptions(image="busybox", cmd=("sleep", "30"), network="none"))
    ids.append(cid)
    client.start_container(cid)
    lifecycle.stop(client, cid, timeout=0)
    code = lifecycle.wait(client, cid).status_code
    client.remove_container(cid)
    assert code == 137, code
fds_after = len(os.listdir("/proc/self/fd"))
print(json.dumps({"ids": ids, "fds": [fds_before, fds_after]}))
"""


def test_cycles_and_concurrent_clis_leave_nothing(tmp_path: Path) -> None:
    d = Dockyard(make_root(tmp_path))
    before = container_cgroups()
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(CYCLES)], env=d.env, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert len(set(report["ids"])) == CYCLES
    assert report["fds"][1] == report["fds"][0], "file descriptors leaked"
    assert {c for c in container_cgroups() - before if c.rsplit("/", 1)[1] in set(report["ids"])} == set()
    assert d.leftovers() == []

    clis = [
        subprocess.Popen([*CLI, "run", "--rm", "--network", "none", "--name", f"c{i}", "busybox", "sh", "-c",
                          f"echo {i}"], env=d.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(CONCURRENT)
    ]  # fmt: skip
    results = [(p.wait(timeout=120), p.stdout.read() if p.stdout else "", p.stderr.read() if p.stderr else "")
               for p in clis]  # fmt: skip
    for i, (code, out, err) in enumerate(results):
        assert (code, out, err) == (0, f"{i}\n", ""), (i, err)
    assert d("ps", "-aq").out == ""
    assert d.leftovers() == []
