"""--ipc modes and device permissions end to end, as Docker behaves: an --ipc container:<x> joiner shares the
donor's /dev/shm, the donor errors are moby's, and --device / --device-cgroup-rule grant exactly the given access."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, checked, make_root, shm_mounts, wait_for
from _harness import run_rm as run

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-ipc-devices"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    yield from checked(image_root, cgroups=True)


def test_joiner_shares_the_donors_dev_shm(d: Dockyard) -> None:
    donor = d("run", "-d", "--name", "donor", "--ipc", "shareable", "--shm-size", "16m", "busybox", "sh", "-c",
              "echo from-donor > /dev/shm/a; sleep 60")  # fmt: skip
    assert donor.code == 0, donor.err
    script = "for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /dev/shm/a ] && break; sleep 0.1; done; cat /dev/shm/a; " \
             "echo from-joiner > /dev/shm/b; df -k /dev/shm | tail -1"  # fmt: skip
    first, df = run(d, "--ipc", "container:donor", "busybox", "sh", "-c", script).splitlines()
    assert first == "from-donor" and df.split()[1] == "16384"
    assert d("exec", "donor", "cat", "/dev/shm/b").out == "from-joiner\n"
    assert len(shm_mounts(d.root)) == 1
    assert d("stop", "-t", "0", "donor").code == 0
    assert wait_for(lambda: shm_mounts(d.root) == [], 10)  # unmounted when the donor stops, as moby does


def test_joining_a_stopped_or_private_donor_is_refused(d: Dockyard) -> None:
    assert d("create", "--name", "stopped", "--ipc", "shareable", "busybox", "true").code == 0
    stopped_id = d.inspect("stopped", "{{.Id}}")
    refused = d("run", "--rm", "--ipc", "container:stopped", "busybox", "true")
    assert refused.code == 125
    assert f"can't join IPC of container stopped: container {stopped_id} is not running" in refused.err
    assert d("run", "-d", "--name", "private", "--ipc", "private", "busybox", "sleep", "60").code == 0
    refused = d("run", "--rm", "--ipc", "container:private", "busybox", "true")
    assert refused.code == 125
    assert ("can't join IPC of container private: non-shareable IPC (hint: use IpcMode:shareable for the donor "
            "container)") in refused.err  # fmt: skip


def test_ipc_modes_dev_shm(d: Dockyard) -> None:
    script = "awk '$2 == \"/dev/shm\" {print $3}' /proc/mounts | grep . || echo no-shm; readlink /proc/self/ns/ipc"
    assert run(d, "--ipc", "none", "busybox", "sh", "-c", script).splitlines()[0] == "no-shm"
    private, private_ns = run(d, "--ipc", "private", "busybox", "sh", "-c", script).splitlines()
    shareable, shareable_ns = run(d, "--ipc", "shareable", "busybox", "sh", "-c", script).splitlines()
    assert (private, shareable) == ("tmpfs", "tmpfs")
    host_ns = os.readlink("/proc/self/ns/ipc")
    assert host_ns not in (private_ns, shareable_ns)  # (two containers run one after the other may get one inode)
    assert run(d, "--ipc", "host", "busybox", "sh", "-c", script).splitlines()[1] == host_ns


def test_read_only_device_cannot_be_written(d: Dockyard) -> None:
    # why loop-control: a device outside the always-allowed list, where opening it is harmless
    script = "head -c0 /dev/xlc && echo read-ok; echo x > /dev/xlc || echo write-refused"
    out = d("run", "--rm", "--device", "/dev/loop-control:/dev/xlc:r", "busybox", "sh", "-c", script)
    assert out.out == "read-ok\nwrite-refused\n"
    assert "can't create /dev/xlc: Operation not permitted" in out.err
    opened = d("run", "--rm", "--device", "/dev/loop-control:/dev/xlc:rw", "busybox", "sh", "-c", script)
    assert "Operation not permitted" not in opened.err  # rw: the open succeeds (the device refuses the write)


def test_device_cgroup_rule_permissions(d: Dockyard) -> None:
    script = "mknod /tmp/lc c 10 237 && head -c0 /tmp/lc && echo read-ok; echo x > /tmp/lc || echo write-refused"
    out = d("run", "--rm", "--device-cgroup-rule", "c 10:237 r", "busybox", "sh", "-c", script)
    assert out.out == "read-ok\nwrite-refused\n"
    assert "can't create /tmp/lc: Operation not permitted" in out.err


def test_dev_null_stays_writable_as_with_docker(d: Dockyard) -> None:
    # Docker's default rules allow c 1:3 rwm and runc appends it again: a narrower --device on /dev/null is moot
    out = run(d, "--device", "/dev/null:/dev/xnull:r", "busybox", "sh", "-c", "echo x > /dev/xnull && echo ok")
    assert out == "ok\n"
