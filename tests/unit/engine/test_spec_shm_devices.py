"""The /dev/shm of each --ipc mode in the spec (shareable and container:<x> bind a host-side tmpfs, as moby binds
its ShmPath) and the device rules of --device/--device-cgroup-rule with permissions narrower than rwm."""

from __future__ import annotations

import os

import pytest
from test_spec_resources import record, spec_of

from dockyard.engine.records import DeviceMapping, State
from dockyard.errors import Conflict, InvalidArgument
from dockyard.oci.runtime_spec import Device, DeviceRule, Linux, Mount, Resources, Spec
from dockyard.runtime.bundle import cgroup_resources

DONOR = "d" * 64
BUNDLES = "/nonexistent"  # spec_of's rootfs is /nonexistent/rootfs: bundles are its siblings


def shm(spec: Spec) -> list[Mount]:
    return [m for m in spec.mounts if m.destination == "/dev/shm"]


def test_private_has_its_own_tmpfs_shareable_binds_its_host_side_shm() -> None:
    for mode in ("", "private"):
        assert [m.type for m in shm(spec_of(record(ipc_mode=mode)))] == ["tmpfs"]
    assert shm(spec_of(record(ipc_mode="shareable"))) == [
        Mount(destination="/dev/shm", type="bind", source="/nonexistent/shm", options=("rbind", "rprivate"))
    ]
    assert shm(spec_of(record(ipc_mode="none"))) == []
    assert [m.source for m in shm(spec_of(record(ipc_mode="host")))] == ["/dev/shm"]


def test_container_mode_binds_the_donors_shm() -> None:
    donor = record(DONOR, State(status="running", pid=4242), ipc_mode="shareable")
    spec = spec_of(record(ipc_mode="container:db"), lookup=lambda ref: donor)
    assert [m.source for m in shm(spec)] == [os.path.join(os.path.dirname(BUNDLES), DONOR, "shm")]
    host_donor = record(DONOR, State(status="running", pid=4242), ipc_mode="host")
    assert [m.source for m in shm(spec_of(record(ipc_mode="container:db"), lookup=lambda ref: host_donor))] == [
        "/dev/shm"
    ]


@pytest.mark.parametrize(
    ("donor", "error", "message"),
    [
        (record(DONOR, ipc_mode="shareable"), Conflict,
         f"can't join IPC of container db: container {DONOR} is not running"),
        (record(DONOR, State(status="running", pid=7), ipc_mode="private"), InvalidArgument,
         "can't join IPC of container db: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"),
    ],
)  # fmt: skip
def test_donor_errors_are_mobys(donor: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        spec_of(record(ipc_mode="container:db"), lookup=lambda ref: donor)
    assert str(info.value) == message


def test_device_permissions_reach_the_spec_unwidened() -> None:
    spec = spec_of(record(devices=(DeviceMapping(path_on_host="/dev/null", path_in_container="/dev/y",
                                                 cgroup_permissions="r"),),
                          device_cgroup_rules=("c 10:237 rw",)))  # fmt: skip
    assert spec.linux is not None and spec.linux.resources is not None
    assert spec.linux.resources.devices[-2:] == (
        DeviceRule(allow=True, type="c", major=1, minor=3, access="r"),
        DeviceRule(allow=True, type="c", major=10, minor=237, access="rw"),
    )


def test_runtime_adds_no_rwm_rule_for_a_device_node() -> None:
    # runc 1.1: a linux.devices entry gets no cgroup rule of its own; only the always-allowed list follows
    spec = Spec(
        oci_version="1.0.2",
        linux=Linux(devices=(Device(path="/dev/xk", type="c", major=10, minor=237),),
                    resources=Resources(devices=(DeviceRule(allow=False, access="rwm"),
                                                 DeviceRule(allow=True, type="c", major=10, minor=237, access="r")))),
    )  # fmt: skip
    applied = cgroup_resources(spec).devices
    assert [r for r in applied if (r.major, r.minor) == (10, 237)] == [
        DeviceRule(allow=True, type="c", major=10, minor=237, access="r")
    ]
    assert applied[-1] == DeviceRule(allow=True, type="c", major=10, minor=200, access="rwm")
