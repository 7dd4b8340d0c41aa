"""What a container started by dockyard-runtime sees: pid 1, hostname, ids, capabilities, seccomp, mounts,
cgroup limits (memory, pids, OOM), a read-only root, masked paths, user and network namespaces."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable

import pytest
from runtime_bundle import Bundle, Runtime, cgroup_dirs, make_bundle_fixture, runtime_fixture  # noqa: F401

import privileged_gate

pytestmark = pytest.mark.privileged
MakeBundle = Callable[..., Bundle]


def _run(runtime: Runtime, bundle: Bundle) -> subprocess.CompletedProcess[str]:
    return runtime("run", "--bundle", bundle.path, runtime.new_id())


def test_identity_inside_the_container(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(
        "sh", "-c", "echo $$; hostname; id; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"
    )
    bundle.config["hostname"] = "iso-box"
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
    bundle.write()
    result = _run(runtime, bundle)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "1"
    assert lines[1] == "iso-box"
    assert lines[2] == "uid=1000 gid=1000 groups=10,20"
    status = dict(line.split(":\t") for line in lines[3:])
    # runc's default set: CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10); a non-root user keeps
    # only its bounding set (no ambient caps here), as with runc
    assert status["CapBnd"] == "0000000020000420"
    assert status["CapEff"] == "0000000000000000"
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "0"


def test_root_keeps_the_configured_capabilities(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("grep", "-E", "^Cap(Eff|Prm|Bnd)", "/proc/self/status")
    result = _run(runtime, bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["CapPrm:", "0000000020000420", "CapEff:", "0000000020000420",
                                     "CapBnd:", "0000000020000420"]  # fmt: skip


def test_seccomp_filter_is_loaded_and_enforced(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sh", "-c", "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x || echo refused")
    bundle.config["root"]["readonly"] = False
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    bundle.write()
    result = _run(runtime, bundle)
    assert result.returncode == 0, result.stderr
    assert "Seccomp:\t2" in result.stdout
    assert "refused" in result.stdout


def test_mount_table(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("cat", "/proc/self/mountinfo")
    result = _run(runtime, bundle)
    assert result.returncode == 0, result.stderr
    mounts = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        sep = fields.index("-")
        mounts[fields[4]] = (fields[5].split(","), fields[sep + 1])
    assert mounts["/"][1] != "tmpfs" and "ro" in mounts["/"][0], "root.readonly is true in runc's spec"
    assert mounts["/proc"][1] == "proc"
    assert mounts["/dev"][1] == "tmpfs"
    assert mounts["/dev/pts"][1] == "devpts"
    assert mounts["/dev/shm"][1] == "tmpfs"
    assert mounts["/dev/mqueue"][1] == "mqueue"
    assert mounts["/sys"][1] == "sysfs" and "ro" in mounts["/sys"][0]
    masked = _masked_file(bundle)
    assert masked in mounts, "masked paths are covered by a mount"


def _masked_file(bundle: Bundle) -> str:
    """A masked path of runc's spec that is a file on this kernel (/proc/kcore is missing on some VMs)."""
    present = [p for p in bundle.config["linux"]["maskedPaths"] if os.path.isfile(p)]
    privileged_gate.require(bool(present), "needs one of the masked /proc files on the host")
    return str(present[0])


def test_readonly_root_and_masked_paths(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle()
    masked = _masked_file(bundle)
    bundle.set_args("sh", "-c", f"touch /newfile 2>&1; echo masked=$(wc -c < {masked})")
    result = _run(runtime, bundle)
    assert "Read-only file system" in result.stdout
    assert "masked=0" in result.stdout
    assert not os.path.exists(os.path.join(bundle.rootfs, "newfile"))


def test_cgroup_limits_visible_on_the_host(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    cid = runtime.new_id()
    bundle.config["linux"]["cgroupsPath"] = f"/dockyard-test/{cid}"
    bundle.config["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 17}}
    bundle.write()
    runtime("run", "--detach", "--bundle", bundle.path, cid, check=True)
    pid = runtime.state(cid)["pid"]
    dirs = cgroup_dirs(f"dockyard-test/{cid}")
    memory = next((d for d in dirs if "/memory/" in d), None)
    pids = next((d for d in dirs if "/pids/" in d), None)
    privileged_gate.require(memory is not None and pids is not None, "needs cgroup v1 memory and pids hierarchies")
    assert memory is not None and pids is not None
    with open(os.path.join(memory, "memory.limit_in_bytes")) as f:
        assert int(f.read()) == 64 << 20
    with open(os.path.join(pids, "pids.max")) as f:
        assert f.read().strip() == "17"
    with open(os.path.join(pids, "cgroup.procs")) as f:
        assert str(pid) in f.read().split()
    runtime("delete", "--force", cid, check=True)
    assert cgroup_dirs(f"dockyard-test/{cid}") == []


def test_oom_kill_past_memory_limit(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1")
    bundle.config["linux"]["resources"] = {"memory": {"limit": 16 << 20, "swap": 16 << 20}}
    bundle.write()
    result = _run(runtime, bundle)
    assert result.returncode == 137, result.stderr


def test_forks_refused_past_pids_limit(runtime: Runtime, make_bundle: MakeBundle) -> None:
    script = "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done 2>&1; kill $(jobs -p) 2>/dev/null; echo done"
    bundle = make_bundle("sh", "-c", script)
    bundle.config["linux"]["resources"] = {"pids": {"limit": 4}}
    bundle.write()
    result = _run(runtime, bundle)
    assert "can't fork" in result.stdout + result.stderr


def test_user_namespace_maps_root(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sleep", "100")
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.write()
    cid = runtime.new_id()
    runtime("run", "--detach", "--bundle", bundle.path, cid, check=True)
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/uid_map") as f:
        assert f.read().split() == ["0", "100000", "65536"]
    with open(f"/proc/{pid}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert uids == ["100000"] * 4
    inside = runtime("exec", cid, "id", check=True).stdout
    assert inside.startswith("uid=0(root) gid=0(root)")


def test_join_network_namespace_by_path(runtime: Runtime, make_bundle: MakeBundle) -> None:
    ip = subprocess.run(["sh", "-c", "command -v ip"], capture_output=True, text=True).stdout.strip()
    privileged_gate.require(bool(ip), "needs iproute2 (`ip netns`)")
    name = f"dyrt-{uuid.uuid4().hex[:8]}"
    subprocess.run([ip, "netns", "add", name], check=True)
    try:
        path = f"/var/run/netns/{name}"
        bundle = make_bundle("readlink", "/proc/self/ns/net")
        for ns in bundle.config["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = path
        bundle.write()
        result = _run(runtime, bundle)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"net:[{os.stat(path).st_ino}]"
    finally:
        subprocess.run([ip, "netns", "delete", name], check=False)
