"""engine/seccomp_profile.py: Docker's profile format → OCI linux.seccomp, with moby's selection and messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.engine.seccomp_profile import load_profile
from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Seccomp

CAPS = ("CAP_CHOWN", "CAP_KILL")


def _load(
    profile: dict[str, Any], caps: tuple[str, ...] = CAPS, arch: str = "amd64", kernel: tuple[int, int] = (6, 1)
) -> Seccomp:
    loaded = load_profile(json.dumps(profile), caps, arch=arch, kernel=kernel)
    assert loaded is not None
    return loaded


def _names(profile: Seccomp) -> list[str]:
    return [name for rule in profile.syscalls for name in rule.names]


def test_rules_are_selected_by_caps_arch_and_kernel() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_KILL"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
            {"names": ["s390_only"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["old_ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8"}},
        ],
    }
    assert _names(_load(profile)) == ["read", "arch_prctl", "ptrace"]
    assert _names(_load(profile, caps=(*CAPS, "CAP_SYS_ADMIN"), arch="s390x", kernel=(4, 4))) == [
        "read", "mount", "s390_only", "old_ptrace"
    ]  # fmt: skip


def test_fields_are_carried_into_the_oci_filter() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        ],
    }  # fmt: skip
    loaded = _load(profile)
    assert (loaded.default_action, loaded.default_errno_ret) == ("SCMP_ACT_ERRNO", 1)
    assert loaded.architectures == ("SCMP_ARCH_X86_64",) and loaded.flags == ("SECCOMP_FILTER_FLAG_LOG",)
    mkdir, personality = loaded.syscalls
    assert (mkdir.names, mkdir.action, mkdir.errno_ret) == (("mkdir",), "SCMP_ACT_ERRNO", 13)
    assert [(a.index, a.value, a.value_two, a.op) for a in personality.args] == [(0, 8, 0, "SCMP_CMP_EQ")]


def test_arch_map_picks_the_hosts_native_entry() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
    }
    assert _load(profile).architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    assert _load(profile, arch="arm64").architectures == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")


def test_an_empty_profile_means_no_filter() -> None:
    assert load_profile("{}", CAPS, arch="amd64", kernel=(6, 1)) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"^Decoding seccomp profile failed: Expecting property name"),
        ("[1]", r"^Decoding seccomp profile failed: the profile is not a JSON object$"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{}]}',
         r"^both 'architectures' and 'archMap' are specified in the seccomp profile"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}',
         r"^syscalls.name and syscalls.names are mutually exclusive$"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", '
         '"includes": {"minKernel": "four"}}]}', r'^invalid kernel version "four"'),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", '
         '"errnoRet": -1}]}', r"`syscalls\[0\].errnoRet` is not an unsigned integer"),
        ('{"defaultAction": 3}', r"`defaultAction` is not a string"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"names": ["a"]}}', r"`syscalls` is not a list"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["read"]}', r"`?syscalls\[0\]`? is not an object"),
    ],
)  # fmt: skip
def test_bad_profiles_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        load_profile(text, CAPS, arch="amd64", kernel=(6, 1))
