"""The config.json model: round trip and errors that name the JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dockyard.errors import SpecError
from dockyard.oci.runtime_spec import Spec

BASE: dict[str, Any] = {
    "ociVersion": "1.0.2",
    "root": {"path": "rootfs", "readonly": True},
    "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]},
    "hostname": "box",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {
        "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}],
        "maskedPaths": ["/proc/kcore"],
        "resources": {"memory": {"limit": 1048576}, "pids": {"limit": 10}},
    },
}


def test_round_trip_keeps_every_field() -> None:
    spec = Spec.from_json(BASE)
    assert spec.process is not None and spec.process.args == ("sh",)
    assert spec.linux is not None and spec.linux.resources is not None
    assert spec.linux.resources.memory is not None and spec.linux.resources.memory.limit == 1048576
    assert Spec.from_json(spec.to_json()) == spec
    assert spec.to_json()["linux"]["maskedPaths"] == ["/proc/kcore"]


@pytest.mark.parametrize(
    ("mutate", "path", "reason"),
    [
        (lambda d: d["process"].update(args="sh"), "process.args", "expected an array, got a string"),
        (lambda d: d["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[3].type", "unknown"),
        (lambda d: d["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[3].type", "duplicate"),
        (lambda d: d["process"].update(cwd="tmp"), "process.cwd", "not an absolute path"),
        (lambda d: d["mounts"][0].update(destination="proc"), "mounts[0].destination", "not an absolute path"),
        (
            lambda d: d["process"].update(capabilities={"bounding": ["CAP_FLY"]}),
            "process.capabilities.bounding[0]",
            "unknown capability `CAP_FLY`",
        ),
        (
            lambda d: d["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]),
            "process.rlimits[0]",
            "exceeds hard limit",
        ),
        (
            lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_MAYBE"}),
            "linux.seccomp.defaultAction",
            "unknown seccomp action",
        ),
        (lambda d: d["process"]["user"].update(uid="root"), "process.user.uid", "expected an integer"),
        (lambda d: d.pop("ociVersion"), "ociVersion", "required field is missing"),
        (lambda d: d["linux"].update(namespaces=[{"type": "pid"}]), "hostname", "uts namespace"),
    ],
)
def test_bad_fields_name_their_path(mutate: Any, path: str, reason: str) -> None:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(SpecError) as info:
        Spec.from_json(data)
    assert info.value.path == path
    assert reason in str(info.value)
    assert str(info.value).startswith(f"invalid config `{path}`")
