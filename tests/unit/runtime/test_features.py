"""The features document lists only what the runtime implements and uses runtime-spec field names."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import Unsupported
from dockyard.oci.runtime_spec import CAPABILITIES
from dockyard.runtime.features import features
from dockyard.runtime.mounts import UNSUPPORTED_OPTIONS, parse_mount_options
from dockyard.runtime.seccomp import OPERATORS, action_value


def test_shape_and_field_names() -> None:
    doc = features()
    assert list(doc) == ["ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux", "annotations"]
    assert doc["ociVersionMin"] == "1.0.0"
    assert doc["ociVersionMax"].startswith("1.")
    assert set(doc["linux"]) == {"namespaces", "capabilities", "cgroup", "seccomp", "apparmor", "selinux"}
    json.dumps(doc)


def test_hooks_namespaces_and_cgroups() -> None:
    doc = features()
    assert doc["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    assert doc["linux"]["namespaces"] == ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]
    assert doc["linux"]["cgroup"] == {"v1": True, "v2": True, "systemd": False, "systemdUser": False}
    assert doc["linux"]["apparmor"] == {"enabled": False}
    assert doc["linux"]["selinux"] == {"enabled": False}


def test_capabilities_stop_at_the_kernels_last() -> None:
    caps = features()["linux"]["capabilities"]
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    assert caps == list(CAPABILITIES[: last + 1])
    assert caps[0] == "CAP_CHOWN"


def test_mount_options_are_the_ones_the_parser_accepts() -> None:
    options = features()["mountOptions"]
    assert options == sorted(options)
    assert {"ro", "rw", "bind", "rbind", "nosuid", "noexec", "nodev", "rprivate"} <= set(options)
    assert "tmpcopyup" not in options
    for option in options:
        parse_mount_options([option])
    for unsupported in UNSUPPORTED_OPTIONS:
        assert unsupported not in options


def test_seccomp_actions_are_the_ones_the_filter_accepts() -> None:
    seccomp = features()["linux"]["seccomp"]
    if not seccomp["enabled"]:
        return
    for action in seccomp["actions"]:
        action_value(action, None, "linux.seccomp.defaultAction")
    with pytest.raises(Unsupported):
        action_value("SCMP_ACT_NOTIFY", None, "linux.seccomp.defaultAction")
    assert set(seccomp["operators"]) == set(OPERATORS)


def test_seccomp_lists_no_notify() -> None:
    seccomp = features()["linux"]["seccomp"]
    if seccomp["enabled"]:
        assert "SCMP_ACT_ERRNO" in seccomp["actions"]
        assert "SCMP_ACT_NOTIFY" not in seccomp["actions"]
        assert "SCMP_CMP_MASKED_EQ" in seccomp["operators"]
        assert "SCMP_ARCH_X86_64" in seccomp["archs"]
    else:
        assert list(seccomp) == ["enabled"]
