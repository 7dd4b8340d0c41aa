"""api/wire_resources.py: the docker CLI's HostConfig resource/namespace fields → the record, moby's checks."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.api.wire import create_request
from dockyard.engine.records import DeviceMapping, HostConfig, Ulimit
from dockyard.errors import InvalidArgument

# what docker CLI 28 sends for `docker run --ulimit nofile=10:20 --sysctl net.core.somaxconn=1 --device
# /dev/null:/dev/mynull:r --ipc shareable --pid host -m 64m --memory-swap -1 --memory-reservation 32m -c 512
# --cpuset-cpus 0 --shm-size 64m --group-add audio --oom-score-adj 100` (the relevant HostConfig fields)
DOCKER_CLI_HC: dict[str, Any] = {
    "Memory": 67108864, "MemorySwap": -1, "MemoryReservation": 33554432, "MemorySwappiness": -1,
    "OomKillDisable": False, "OomScoreAdj": 100, "CpuShares": 512, "CpusetCpus": "0", "CpusetMems": "",
    "CpuPeriod": 0, "CpuQuota": 0, "BlkioWeight": 0, "ShmSize": 67108864, "IpcMode": "shareable", "PidMode": "host",
    "UTSMode": "", "CgroupParent": "", "GroupAdd": ["audio"], "DeviceCgroupRules": None,
    "Ulimits": [{"Name": "nofile", "Hard": 20, "Soft": 10}], "Sysctls": {"net.core.somaxconn": "1"},
    "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "r"}],
}  # fmt: skip


def host_config(**fields: Any) -> HostConfig:
    return create_request({"Image": "busybox", "HostConfig": fields}).host_config


def test_docker_cli_fields_reach_the_record() -> None:
    hc = host_config(**DOCKER_CLI_HC)
    assert (hc.memory_swap, hc.memory_reservation, hc.memory_swappiness) == (-1, 32 << 20, -1)
    assert (hc.cpu_shares, hc.cpuset_cpus, hc.shm_size, hc.oom_score_adj) == (512, "0", 64 << 20, 100)
    assert (hc.ipc_mode, hc.pid_mode, hc.group_add) == ("shareable", "host", ("audio",))
    assert hc.ulimits == (Ulimit(name="nofile", soft=10, hard=20),)
    assert hc.sysctls == {"net.core.somaxconn": "1"}
    assert hc.devices == (DeviceMapping(path_on_host="/dev/null", path_in_container="/dev/mynull",
                                        cgroup_permissions="r"),)  # fmt: skip


def test_absent_fields_are_defaults() -> None:
    assert host_config() == HostConfig()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
        ({"ShmSize": -1}, "SHM size can not be less than 0"),
        ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
        ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        ({"IpcMode": "bogus"}, "invalid IPC mode: bogus"),
        ({"PidMode": "private"}, "invalid PID mode: private"),
        ({"UTSMode": "x"}, "invalid UTS mode: x"),
        (
            {"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}},
            "sysctl 'net.ipv4.ip_forward' is not allowed in host network namespace",
        ),
        ({"MemorySwap": 100 << 20}, "You should always set the Memory limit when using Memoryswap limit, see usage"),
        (
            {"Memory": 64 << 20, "MemorySwap": 32 << 20},
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            {"Memory": 64 << 20, "MemoryReservation": 128 << 20},
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
        ({"Ulimits": {"Name": "x"}}, "invalid field `Ulimits`: expected an array of objects"),
        ({"Sysctls": ["a"]}, "invalid field `Sysctls`: expected an object of strings"),
        ({"CpuShares": "1"}, "invalid field `CpuShares`: expected an integer"),
        ({"Runtime": "kata"}, "unknown or invalid runtime name: kata"),
        ({"CgroupnsMode": "x"}, "invalid cgroup namespace mode: x"),
        ({"UsernsMode": "remap"}, "invalid USER mode: remap"),
        ({"NanoCpus": 10**9, "CpuPeriod": 50000}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        ({"NanoCpus": 10**9, "CpuQuota": 50000}, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    ],
)
def test_mobys_checks(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        host_config(**fields)
    assert str(err.value) == message
