"""engine/spec_resources.py: the run_options HostConfig fields in the OCI spec, as Docker/moby put them."""

from __future__ import annotations

import os
import stat
from typing import Any

import pytest

from dockyard.engine.records import ContainerConfig, ContainerRecord, DeviceMapping, HostConfig, State, Ulimit
from dockyard.engine.spec import EtcFiles, HostInfo, build_spec
from dockyard.errors import Conflict, InvalidArgument, Unsupported
from dockyard.oci.runtime_spec import Cpu, Device, DeviceRule, Memory, Rlimit, Spec, User

CID = "0123456789ab" + "c" * 52
HOST = HostInfo(capabilities=("CAP_CHOWN",), arch="amd64", kernel=(6, 1), cgroup2=False)
FILES = EtcFiles(hostname="/c/hostname", hosts="/c/hosts", resolv_conf="/c/resolv.conf")


def record(cid: str = CID, state: State | None = None, **host: object) -> ContainerRecord:
    return ContainerRecord(
        id=cid, name="x", created="2026-01-01T00:00:00Z", image_id="sha256:" + "0" * 64, path="sh", args=(),
        config=ContainerConfig(image="busybox"), host_config=HostConfig(**host),  # type: ignore[arg-type]
        state=state or State(),
    )  # fmt: skip


def spec_of(rec: ContainerRecord, lookup: object = None) -> Spec:
    return build_spec(rec, rootfs="/nonexistent/rootfs", user=User(), files=FILES, host=HOST,
                      lookup=lookup)  # type: ignore[arg-type]  # fmt: skip


def test_ulimits_become_rlimits_and_oom_score_adj_the_process() -> None:
    spec = spec_of(record(ulimits=(Ulimit(name="nofile", soft=1024, hard=2048),), oom_score_adj=-500))
    assert spec.process is not None
    assert spec.process.rlimits == (Rlimit(type="RLIMIT_NOFILE", soft=1024, hard=2048),)
    assert spec.process.oom_score_adj == -500


def test_sysctls_merge_over_the_defaults() -> None:
    spec = spec_of(record(sysctls={"net.ipv4.ip_forward": "1", "net.ipv4.ping_group_range": "0 0"}))
    assert spec.linux is not None and spec.linux.sysctl is not None
    assert spec.linux.sysctl["net.ipv4.ip_forward"] == "1"
    assert spec.linux.sysctl["net.ipv4.ping_group_range"] == "0 0"  # the user's value wins
    assert spec.linux.sysctl["net.ipv4.ip_unprivileged_port_start"] == "0"


def test_memory_cpu_and_blkio_resources() -> None:
    hc: dict[str, Any] = {"memory": 64 << 20, "memory_swap": -1, "memory_reservation": 32 << 20,
          "memory_swappiness": 10, "oom_kill_disable": True, "cpu_shares": 512, "cpuset_cpus": "0",
          "cpuset_mems": "0", "cpu_period": 50000, "cpu_quota": 25000, "blkio_weight": 300}  # fmt: skip
    spec = spec_of(record(**hc))
    res = spec.linux.resources  # type: ignore[union-attr]
    assert res is not None
    assert res.memory == Memory(limit=64 << 20, swap=-1, reservation=32 << 20, swappiness=10, disable_oom_killer=True)
    assert res.cpu == Cpu(shares=512, cpus="0", mems="0", period=50000, quota=25000)
    assert res.block_io is not None and res.block_io.weight == 300


def test_reservation_alone_sets_only_the_soft_limit() -> None:
    res = spec_of(record(memory_reservation=1 << 20)).linux.resources  # type: ignore[union-attr]
    assert res is not None and res.memory == Memory(reservation=1 << 20)


def test_device_node_and_its_allow_rule() -> None:
    spec = spec_of(record(devices=(DeviceMapping(path_on_host="/dev/null", path_in_container="/dev/mynull",
                                                 cgroup_permissions="rw"),),
                          device_cgroup_rules=("c 10:* rwm",)))  # fmt: skip
    info = os.stat("/dev/null")
    assert spec.linux is not None and spec.linux.resources is not None
    assert spec.linux.devices == (Device(path="/dev/mynull", type="c", major=1, minor=3,
                                         file_mode=stat.S_IMODE(info.st_mode), uid=0, gid=0),)  # fmt: skip
    rules = spec.linux.resources.devices
    assert rules[0] == DeviceRule(allow=False, access="rwm")  # Docker's deny-all comes first
    assert rules[-2:] == (DeviceRule(allow=True, type="c", major=1, minor=3, access="rw"),
                          DeviceRule(allow=True, type="c", major=10, minor=None, access="rwm"))  # fmt: skip


def test_missing_device_is_dockers_error() -> None:
    with pytest.raises(InvalidArgument) as err:
        spec_of(record(devices=(DeviceMapping(path_on_host="/dev/nosuch", path_in_container="/dev/x"),)))
    assert str(err.value) == ('error gathering device information while adding custom device "/dev/nosuch": '
                              "no such file or directory")  # fmt: skip


def _namespaces(spec: Spec) -> dict[str, str | None]:
    assert spec.linux is not None
    return {n.type: n.path for n in spec.linux.namespaces}


def test_host_ipc_pid_uts_leave_the_namespace_out_and_share_dev_shm() -> None:
    spec = spec_of(record(ipc_mode="host", pid_mode="host", uts_mode="host"))
    assert set(_namespaces(spec)) == {"mount", "network"}
    shm = [m for m in spec.mounts if m.destination == "/dev/shm"]
    assert [(m.type, m.source) for m in shm] == [("bind", "/dev/shm")]


def test_container_modes_join_the_donors_init() -> None:
    donor = record("d" * 64, State(status="running", pid=4242), ipc_mode="shareable")
    spec = spec_of(record(ipc_mode="container:db", pid_mode="container:db"), lookup=lambda ref: donor)
    assert _namespaces(spec)["ipc"] == "/proc/4242/ns/ipc"
    assert _namespaces(spec)["pid"] == "/proc/4242/ns/pid"
    assert _namespaces(spec)["uts"] is None


def test_container_mode_errors_are_mobys() -> None:
    stopped = record("d" * 64, ipc_mode="shareable")
    with pytest.raises(Conflict, match=f"^can't join IPC of container db: container {'d' * 64} is not running$"):
        spec_of(record(ipc_mode="container:db"), lookup=lambda ref: stopped)
    private = record("d" * 64, State(status="running", pid=1), ipc_mode="private")
    with pytest.raises(InvalidArgument, match=r"^can't join IPC of container db: non-shareable IPC \(hint: use"):
        spec_of(record(ipc_mode="container:db"), lookup=lambda ref: private)
    assert spec_of(record(pid_mode="container:db"), lookup=lambda ref: private)
    with pytest.raises(Unsupported):
        spec_of(record(pid_mode="container:db"))


def test_shm_size_and_ipc_none() -> None:
    shm = [m for m in spec_of(record(shm_size=32 << 20)).mounts if m.destination == "/dev/shm"]
    assert shm[0].options[-1] == "size=32768k"
    assert not [m for m in spec_of(record(ipc_mode="none")).mounts if m.destination == "/dev/shm"]


def test_group_add_numbers_and_names(tmp_path: object) -> None:
    from dockyard.engine import spec_resources

    assert spec_resources.additional_gids(HostConfig(group_add=("1234", "audio")), "audio:x:29:\n") == (1234, 29)
    with pytest.raises(InvalidArgument, match="Unable to find group nosuch: no matching entries in group file"):
        spec_resources.additional_gids(HostConfig(group_add=("nosuch",)), "audio:x:29:\n")
    spec = spec_of(record(group_add=("1234",)))
    assert spec.process is not None and spec.process.user.additional_gids == (1234,)


def test_cgroup_parent() -> None:
    spec = spec_of(record(cgroup_parent="/mine/"))
    assert spec.linux is not None and spec.linux.cgroups_path == f"/mine/{CID}"


def test_cgroupns_mode_and_annotations() -> None:
    assert "cgroup" not in _namespaces(spec_of(record()))  # Docker's default on cgroup v1: the host's
    assert "cgroup" in _namespaces(spec_of(record(cgroupns_mode="private")))
    spec = spec_of(record(annotations={"a.b": "c"}))
    assert spec.annotations == {"a.b": "c"}
