"""The resource, limit, device and namespace flags of `run` end to end: the container's real state (limits,
cgroup files, sysctls, device nodes, namespaces, /dev/shm, groups, env) checked from inside and from the host."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, checked, make_root
from _harness import run_rm as run

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-run-options"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    yield from checked(image_root, cgroups=True)


def test_ulimit_sysctl_oom_score_adj(d: Dockyard) -> None:
    out = run(d, "--ulimit", "nofile=1024:2048", "--sysctl", "net.ipv4.ip_forward=1", "--oom-score-adj", "100",
              "busybox", "sh", "-c", "grep 'open files' /proc/self/limits; cat /proc/sys/net/ipv4/ip_forward "
              "/proc/self/oom_score_adj")  # fmt: skip
    lines = out.splitlines()
    assert lines[0].split()[3:5] == ["1024", "2048"]
    assert lines[1:] == ["1", "100"]


def test_cgroup_files_from_inside(d: Dockyard) -> None:
    out = run(d, "-m", "64m", "--memory-reservation", "20m", "--cpu-shares", "512", "--cpuset-cpus", "0", "busybox",
              "cat", "/sys/fs/cgroup/cpu/cpu.shares", "/sys/fs/cgroup/cpuset/cpuset.cpus",
              "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes")  # fmt: skip
    assert out.split() == ["512", "0", str(20 << 20)]


def test_device_node_read_through(d: Dockyard) -> None:
    out = run(d, "--device", "/dev/null:/dev/mynull:rw", "busybox", "sh", "-c",
              "stat -c '%t:%T %F' /dev/mynull; head -c 5 /dev/mynull | wc -c; echo x>/dev/mynull&&echo ok")  # fmt: skip
    assert out.split("\n")[:3] == ["1:3 character special file", "0", "ok"]


def test_device_not_mapped_is_denied_mapped_is_allowed(d: Dockyard) -> None:
    # why mknod: without --device the node does not exist; the cgroup must still refuse the one made inside
    script = "mknod /tmp/lc c 10 237 && head -c0 /tmp/lc && echo open-ok"
    denied = d("run", "--rm", "busybox", "sh", "-c", script)
    assert denied.code != 0 and "Operation not permitted" in denied.err
    assert run(d, "--device", "/dev/loop-control:/dev/lc", "busybox", "sh", "-c", script) == "open-ok\n"


def test_ipc_and_pid_host(d: Dockyard) -> None:
    out = run(d, "--ipc", "host", "--pid", "host", "busybox", "sh", "-c",
              "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; ps -o pid | grep -cx ' *1'")  # fmt: skip
    ipc, pid, _ = out.split()
    assert ipc == os.readlink("/proc/self/ns/ipc") and pid == os.readlink("/proc/self/ns/pid")
    ps = run(d, "--pid", "host", "busybox", "ps", "-o", "pid")
    assert len(ps.split()) > 10  # the host's processes are visible


def test_ipc_and_pid_of_another_container(d: Dockyard) -> None:
    assert d("run", "-d", "--name", "donor", "--ipc", "shareable", "busybox", "sleep", "60").code == 0
    assert d("run", "-d", "--name", "private", "busybox", "sleep", "60").code == 0
    pid = d.inspect("donor", "{{.State.Pid}}")
    out = run(d, "--ipc", "container:donor", "--pid", "container:donor", "busybox", "sh", "-c",
              "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; ps -o comm")  # fmt: skip
    ipc, pidns, *ps = out.split()
    assert ipc == os.readlink(f"/proc/{pid}/ns/ipc") and pidns == os.readlink(f"/proc/{pid}/ns/pid")
    assert "sleep" in ps
    refused = d("run", "--rm", "--ipc", "container:private", "busybox", "true")
    assert refused.code == 125
    assert "non-shareable IPC (hint: use IpcMode:shareable for the donor container)" in refused.err


def test_shm_size_and_group_add(d: Dockyard) -> None:
    out = run(d, "--shm-size", "32m", "--group-add", "1234", "--group-add", "audio", "busybox", "sh", "-c",
              "df -k /dev/shm | tail -1; id -G")  # fmt: skip
    shm, groups = out.splitlines()
    assert shm.split()[1] == "32768"
    assert {"1234", "29"} <= set(groups.split())  # audio is 29 in busybox's /etc/group


def test_env_file(d: Dockyard, tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text("# a comment\n\nA=1\n  B=two words\nFROM_HOST\nNOT_SET_ANYWHERE\n")
    d.env["FROM_HOST"] = "host-value"
    out = run(d, "--env-file", str(env), "-e", "A=flag", "busybox", "env")
    assert {"A=flag", "B=two words", "FROM_HOST=host-value"} <= set(out.splitlines())
    assert not [line for line in out.splitlines() if line.startswith("NOT_SET_ANYWHERE")]


def test_inspect_shows_dockers_fields(d: Dockyard) -> None:
    assert d("create", "--name", "cc", "--ulimit", "nofile=10:20", "--ipc", "shareable", "--shm-size", "1g",
             "--memory-swap", "-1", "-m", "64m", "busybox").code == 0  # fmt: skip
    hc = json.loads(d("inspect", "cc").out)[0]["HostConfig"]
    assert hc["Ulimits"] == [{"Name": "nofile", "Hard": 20, "Soft": 10}]
    assert (hc["IpcMode"], hc["ShmSize"], hc["MemorySwap"], hc["Memory"]) == ("shareable", 1 << 30, -1, 64 << 20)


def test_sysctl_net_refused_with_host_network(d: Dockyard) -> None:
    result = d("run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true")
    assert result.code == 125
    assert "sysctl 'net.ipv4.ip_forward' is not allowed in host network namespace" in result.err


def test_update_writes_the_live_cgroup(d: Dockyard) -> None:
    cid = d("run", "-d", "-m", "64m", "busybox", "sleep", "60").out.strip()
    result = d("update", "--cpuset-cpus", "0", "--memory-reservation", "10m", "--cpu-period", "50000",
               "--cpu-quota", "25000", cid)  # fmt: skip
    assert result.code == 0, result.err
    out = d("exec", cid, "cat", "/sys/fs/cgroup/cpuset/cpuset.cpus", "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
            "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us").out  # fmt: skip
    assert out.split() == ["0", str(10 << 20), "50000", "25000"]
    template = "{{.HostConfig.CpusetCpus}} {{.HostConfig.MemoryReservation}} {{.HostConfig.CpuQuota}}"
    assert d.inspect(cid, template) == f"0 {10 << 20} 25000"


def test_cgroupns_private(d: Dockyard) -> None:
    out = run(d, "--cgroupns", "private", "busybox", "readlink", "/proc/self/ns/cgroup")
    assert out.strip() != os.readlink("/proc/self/ns/cgroup")
    assert run(d, "busybox", "readlink", "/proc/self/ns/cgroup").strip() == os.readlink("/proc/self/ns/cgroup")


def test_info_verb(d: Dockyard) -> None:
    result = d("info", "--format", "{{.Driver}} {{.DockerRootDir}}")
    assert result.code == 0, result.err
    assert result.out == f"overlay2 {d.root}\n"


def test_cidfile_written_refused_when_present_and_removed_on_failure(d: Dockyard, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    cid = d("create", "--cidfile", str(cidfile), "busybox", "true").out.strip()
    assert len(cid) == 64 and cidfile.read_text() == cid
    again = d("create", "--cidfile", str(cidfile), "busybox", "true")
    assert again.code == 125
    assert f"container ID file found, make sure the other container isn't running or delete {cidfile}" in again.err
    cidfile.unlink()
    missing = d("run", "--cidfile", str(cidfile), "no-such-image", "true")
    assert missing.code == 125 and not cidfile.exists()


def test_security_opt_seccomp_profile_file(d: Dockyard, tmp_path: Path) -> None:
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }, indent=2))  # fmt: skip
    denied = d("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "mkdir", "/tmp/x")
    assert denied.code == 1 and "Permission denied" in denied.err  # EACCES from the profile, not EPERM
    assert run(d, "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c", "touch /tmp/y && echo ok") == "ok\n"
    # the default profile still refuses unshare; the custom one allows everything it does not name
    assert d("run", "--rm", "busybox", "unshare", "-U", "true").code != 0
    assert run(d, "--security-opt", f"seccomp={profile}", "busybox", "unshare", "-U", "true") == ""
    cid = d("create", "--security-opt", f"seccomp={profile}", "busybox", "true").out.strip()
    try:
        opts = json.loads(d("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", cid).out)
        assert opts == ["seccomp=" + json.dumps(json.loads(profile.read_text()), separators=(",", ":"))]
    finally:
        d("rm", cid)


def test_security_opt_seccomp_bad_input(d: Dockyard, tmp_path: Path) -> None:
    missing = d("run", "--rm", "--security-opt", f"seccomp={tmp_path}/none.json", "busybox", "true")
    assert missing.code == 125
    assert (
        f"opening seccomp profile ({tmp_path}/none.json) failed: open {tmp_path}/none.json: no such file" in missing.err
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    bad = d("run", "--rm", "--security-opt", f"seccomp={broken}", "busybox", "true")
    assert bad.code == 125 and f"compacting json for seccomp profile ({broken}) failed" in bad.err
    both = tmp_path / "both.json"
    both.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{}]}')
    refused = d("run", "--rm", "--security-opt", f"seccomp={both}", "busybox", "true")
    assert refused.code == 125 and "both 'architectures' and 'archMap' are specified" in refused.err
