"""engine/spec.py: the config.json for a container is Docker's default spec, exactly."""

from __future__ import annotations

import pytest

from dockyard.engine import security_defaults as sec
from dockyard.engine.records import ContainerConfig, ContainerRecord, HostConfig
from dockyard.engine.spec import EtcFiles, HostInfo, build_spec, capabilities, merge_env, parse_security_opts
from dockyard.errors import InvalidArgument
from dockyard.oci.model import replace
from dockyard.oci.runtime_spec import CAPABILITIES, Spec, User

CID = "0123456789ab" + "c" * 52
ALL_BUT_SYS_RESOURCE = tuple(c for c in CAPABILITIES if c != "CAP_SYS_RESOURCE")
HOST = HostInfo(capabilities=ALL_BUT_SYS_RESOURCE, arch="amd64", kernel=(6, 1), cgroup2=False)
FILES = EtcFiles(hostname="/c/hostname", hosts="/c/hosts", resolv_conf="/c/resolv.conf")


def record(**host: object) -> ContainerRecord:
    config = ContainerConfig(image="busybox", cmd=("echo", "hello"), env=("PATH=/bin", "A=1"))
    return ContainerRecord(
        id=CID, name="x", created="2026-01-01T00:00:00Z", image_id="sha256:" + "0" * 64, path="echo",
        args=("hello",), config=config, host_config=HostConfig(**host),  # type: ignore[arg-type]
    )  # fmt: skip


def spec_of(rec: ContainerRecord, host: HostInfo = HOST) -> Spec:
    return build_spec(rec, rootfs="/b/rootfs", user=User(uid=0, gid=0, additional_gids=(0, 10)), files=FILES, host=host)


def test_default_mounts_are_dockers_in_order() -> None:
    mounts = [(m.destination, m.type, m.source, m.options) for m in spec_of(record()).mounts]
    assert mounts == [
        ("/proc", "proc", "proc", ("nosuid", "noexec", "nodev")),
        ("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
        ("/dev/pts", "devpts", "devpts", ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
        ("/sys", "sysfs", "sysfs", ("nosuid", "noexec", "nodev", "ro")),
        ("/sys/fs/cgroup", "cgroup", "cgroup", ("ro", "nosuid", "noexec", "nodev")),
        ("/dev/mqueue", "mqueue", "mqueue", ("nosuid", "noexec", "nodev")),
        ("/dev/shm", "tmpfs", "shm", ("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
        ("/etc/resolv.conf", "bind", "/c/resolv.conf", ("rbind", "rprivate")),
        ("/etc/hostname", "bind", "/c/hostname", ("rbind", "rprivate")),
        ("/etc/hosts", "bind", "/c/hosts", ("rbind", "rprivate")),
    ]


def test_default_capabilities_bounding_effective_permitted_only() -> None:
    caps = spec_of(record()).process.capabilities  # type: ignore[union-attr]
    assert caps is not None
    assert caps.bounding == caps.effective == caps.permitted == sec.DEFAULT_CAPABILITIES
    assert len(caps.bounding) == 14
    assert caps.inheritable == () and caps.ambient == ()


def test_process_defaults() -> None:
    process = spec_of(record()).process
    assert process is not None
    assert process.args == ("echo", "hello")
    assert process.cwd == "/"
    assert process.env == ("PATH=/bin", f"HOSTNAME={CID[:12]}", "A=1")
    assert process.no_new_privileges is False
    assert process.oom_score_adj == 0
    assert process.rlimits == ()
    assert process.terminal is False
    assert process.user.additional_gids == (0, 10)


def test_linux_defaults() -> None:
    spec = spec_of(record())
    linux = spec.linux
    assert linux is not None
    assert spec.hostname == CID[:12]
    assert [ns.type for ns in linux.namespaces] == ["mount", "network", "uts", "pid", "ipc"]
    assert all(ns.path is None for ns in linux.namespaces)
    assert linux.cgroups_path == f"/dockyard/{CID}"
    assert linux.masked_paths == sec.DEFAULT_MASKED_PATHS
    assert "/proc/kcore" in linux.masked_paths
    assert linux.readonly_paths == ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
    assert linux.seccomp is not None and linux.seccomp.default_action == "SCMP_ACT_ERRNO"
    assert linux.sysctl == {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}
    assert linux.resources is not None
    rules = [(d.allow, d.type, d.major, d.minor, d.access) for d in linux.resources.devices]
    assert rules[0] == (False, None, None, None, "rwm")
    assert (True, "c", 1, 3, "rwm") in rules and (False, "c", 10, 229, "rwm") in rules
    assert linux.resources.memory is None and linux.resources.pids is None and linux.resources.cpu is None
    assert spec.root is not None and spec.root.path == "/b/rootfs" and spec.root.readonly is False


def test_cgroup_namespace_only_on_cgroup_v2() -> None:
    spec = spec_of(record(), replace(HOST, cgroup2=True))
    assert spec.linux is not None and spec.linux.namespace("cgroup") is not None


def test_spec_round_trips_through_the_validating_model() -> None:
    spec = spec_of(record(memory=64 << 20, nano_cpus=1_500_000_000, pids_limit=10, read_only=True))
    again = Spec.from_json(spec.to_json())
    assert again == spec
    res = again.linux.resources  # type: ignore[union-attr]
    assert res is not None and res.memory is not None and res.cpu is not None and res.pids is not None
    assert (res.memory.limit, res.memory.swap) == (64 << 20, 128 << 20)
    assert (res.cpu.quota, res.cpu.period) == (150_000, 100_000)
    assert res.pids.limit == 10
    assert again.root is not None and again.root.readonly


def test_cpus_and_cpu_shares_together_make_one_cpu_entry() -> None:
    both = spec_of(record(nano_cpus=500_000_000, cpu_shares=256)).linux.resources.cpu  # type: ignore[union-attr]
    assert both is not None and (both.shares, both.quota, both.period) == (256, 50_000, 100_000)
    shares = spec_of(record(cpu_shares=512)).linux.resources.cpu  # type: ignore[union-attr]
    assert shares is not None and (shares.shares, shares.quota, shares.period) == (512, None, None)


def test_privileged_gets_every_engine_capability_and_no_confinement() -> None:
    spec = spec_of(record(privileged=True))
    assert spec.process is not None and spec.process.capabilities is not None
    assert spec.process.capabilities.bounding == ALL_BUT_SYS_RESOURCE
    assert spec.linux is not None
    assert spec.linux.seccomp is None and spec.linux.masked_paths == () and spec.linux.readonly_paths == ()
    sysfs = next(m for m in spec.mounts if m.destination == "/sys")
    assert "ro" not in sysfs.options


def test_cap_add_and_drop_follow_docker() -> None:
    base = sec.DEFAULT_CAPABILITIES
    assert capabilities(HostConfig(cap_add=("net_admin",)), HOST.capabilities) == (*base, "CAP_NET_ADMIN")
    assert "CAP_CHOWN" not in capabilities(HostConfig(cap_drop=("chown",)), HOST.capabilities)
    assert capabilities(HostConfig(cap_drop=("ALL",), cap_add=("CAP_KILL",)), HOST.capabilities) == ("CAP_KILL",)
    everything = capabilities(HostConfig(cap_add=("ALL",), cap_drop=("MKNOD",)), HOST.capabilities)
    assert "CAP_SYS_ADMIN" in everything and "CAP_MKNOD" not in everything


def test_unknown_capability_is_refused_with_dockers_message() -> None:
    with pytest.raises(InvalidArgument, match=r'^invalid CapAdd: unknown capability: "CAP_FOO"$'):
        capabilities(HostConfig(cap_add=("foo",)), HOST.capabilities)


def test_security_opts() -> None:
    assert parse_security_opts(("no-new-privileges",)).no_new_privileges
    assert parse_security_opts(("no-new-privileges:true",)).no_new_privileges
    assert parse_security_opts(("seccomp=unconfined",)).seccomp_unconfined
    spec = spec_of(record(security_opt=("seccomp=unconfined", "no-new-privileges")))
    assert spec.linux is not None and spec.linux.seccomp is None
    assert spec.process is not None and spec.process.no_new_privileges
    with pytest.raises(InvalidArgument, match=r'^invalid --security-opt 2: "bogus"$'):
        parse_security_opts(("bogus",))
    assert parse_security_opts(("seccomp=builtin",)) == parse_security_opts(())
    profile = '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}'
    assert parse_security_opts((f"seccomp={profile}",)).seccomp_profile == profile
    custom = spec_of(record(security_opt=(f"seccomp={profile}",)))
    assert custom.linux is not None and custom.linux.seccomp is not None
    assert custom.linux.seccomp.default_action == "SCMP_ACT_ALLOW"
    assert [r.names for r in custom.linux.seccomp.syscalls] == [("mkdir",)]
    privileged = spec_of(record(security_opt=(f"seccomp={profile}",), privileged=True))
    assert privileged.linux is not None and privileged.linux.seccomp is None
    with pytest.raises(InvalidArgument, match=r"^Decoding seccomp profile failed: Expecting value"):
        parse_security_opts(("seccomp=/x.json",))  # a path the client did not read: moby cannot decode it


def test_env_merge_replaces_keys_and_appends_the_rest() -> None:
    assert merge_env(["PATH=/a", "HOSTNAME=h"], ("PATH=/b", "X=1", "X=2")) == ("PATH=/b", "HOSTNAME=h", "X=2")


def test_hostname_and_tty_env() -> None:
    rec = record()
    rec = replace(rec, config=replace(rec.config, hostname="box", tty=True))
    spec = spec_of(rec)
    assert spec.hostname == "box"
    assert spec.process is not None and spec.process.env[:3] == ("PATH=/bin", "HOSTNAME=box", "TERM=xterm")
