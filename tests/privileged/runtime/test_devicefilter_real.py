"""runtime/devicefilter against the kernel: the program passes the verifier, attaches to a cgroup v2 directory
(this hybrid host's /sys/fs/cgroup/unified, or the unified root) and the kernel enforces its verdicts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.oci.runtime_spec import DeviceRule
from dockyard.runtime.devicefilter import attach
from privileged_gate import require

pytestmark = pytest.mark.privileged

CHECKS = (("/dev/null", os.O_RDONLY), ("/dev/null", os.O_WRONLY), ("/dev/zero", os.O_RDWR), ("/dev/full", os.O_RDONLY))


def v2_root() -> str | None:
    """Where a cgroup2 file system is mounted (by /proc/self/mountinfo), or None."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    return None


@pytest.fixture
def cgroup() -> Iterator[str]:
    root = v2_root()
    require(root is not None, "no cgroup v2 hierarchy is mounted")
    assert root is not None
    path = os.path.join(root, f"dockyard-test-devfilter-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    try:
        yield path
    finally:
        os.rmdir(path)


def opens_in(cgroup: str) -> list[str]:
    """Fork a child into `cgroup`; which of CHECKS it may open (ok, or the error)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            with open(os.path.join(cgroup, "cgroup.procs"), "w", encoding="ascii") as f:
                f.write(str(os.getpid()))
            out = []
            for path, flags in CHECKS:
                try:
                    os.close(os.open(path, flags))
                    out.append("ok")
                except OSError as err:
                    out.append(err.strerror or "")
            os.write(write, ",".join(out).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read().decode()
    os.waitpid(pid, 0)
    return data.split(",")


def test_the_kernel_enforces_the_filter(cgroup: str) -> None:
    attach(cgroup, (DeviceRule(allow=False, access="rwm"), DeviceRule(allow=True, type="c", major=1, minor=3,
                    access="r"), DeviceRule(allow=True, type="c", major=1, minor=5, access="rwm")))  # fmt: skip
    denied = "Operation not permitted"
    assert opens_in(cgroup) == ["ok", denied, "ok", denied]


def test_a_directory_that_is_no_cgroup_is_refused_with_the_call_and_the_path(tmp_path: Path) -> None:
    from dockyard.errors import SyscallError

    with pytest.raises(SyscallError) as err:
        attach(str(tmp_path), (DeviceRule(allow=True, access="rwm"),))
    assert str(err.value) == f"bpf(BPF_PROG_ATTACH) `{tmp_path}`: bad file descriptor"
