"""Seccomp: the pure OCI → libseccomp translation, then real filters compiled (never loaded) with libseccomp."""

from __future__ import annotations

import ctypes
import errno
from typing import Any

import pytest

from dockyard.errors import SpecError, Unsupported
from dockyard.oci.runtime_spec import Seccomp, Spec
from dockyard.runtime import seccomp as sc
from dockyard.runtime.seccomp import ArgCmp, RulePlan


def _seccomp(data: dict[str, Any]) -> Seccomp:
    spec = Spec.from_json({"ociVersion": "1.1.0", "linux": {"seccomp": data}})
    assert spec.linux is not None and spec.linux.seccomp is not None
    return spec.linux.seccomp


def _libseccomp_present() -> bool:
    try:
        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return False
    return True


needs_libseccomp = pytest.mark.skipif(not _libseccomp_present(), reason="libseccomp.so.2 is not installed")


@pytest.mark.parametrize(
    ("action", "errno_ret", "value"),
    [
        ("SCMP_ACT_ALLOW", None, 0x7FFF0000),
        ("SCMP_ACT_KILL", None, 0),
        ("SCMP_ACT_KILL_THREAD", None, 0),
        ("SCMP_ACT_KILL_PROCESS", None, 0x80000000),
        ("SCMP_ACT_TRAP", None, 0x00030000),
        ("SCMP_ACT_LOG", None, 0x7FFC0000),
        ("SCMP_ACT_ERRNO", None, 0x00050000 | errno.EPERM),
        ("SCMP_ACT_ERRNO", errno.ENOSYS, 0x00050000 | errno.ENOSYS),
        ("SCMP_ACT_ERRNO", 0, 0x00050000),
        ("SCMP_ACT_TRACE", None, 0x7FF00000 | errno.EPERM),
        ("SCMP_ACT_TRACE", 7, 0x7FF00007),
        ("SCMP_ACT_ALLOW", 5, 0x7FFF0000),  # errnoRet is meaningless here and ignored, as in runc
    ],
)
def test_action_values(action: str, errno_ret: int | None, value: int) -> None:
    assert sc.action_value(action, errno_ret, "x") == value


def test_bad_actions() -> None:
    with pytest.raises(Unsupported, match=r"^seccomp action `SCMP_ACT_NOTIFY` at `p`: not supported"):
        sc.action_value("SCMP_ACT_NOTIFY", None, "p")
    with pytest.raises(SpecError, match=r"^invalid config `p`: unknown seccomp action `SCMP_ACT_NOPE`$"):
        sc.action_value("SCMP_ACT_NOPE", None, "p")
    with pytest.raises(SpecError, match=r"^invalid config `p`: errno 70000 is outside 0..4095$"):
        sc.action_value("SCMP_ACT_ERRNO", 70000, "p")


def test_plan_default_arches_and_flags() -> None:
    plan = sc.plan_filter(
        _seccomp(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 38,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
            }
        )
    )
    assert plan.default_action == 0x00050000 | 38
    assert plan.architectures == ("x86_64", "x86", "x32", "aarch64")
    assert plan.log and plan.spec_allow
    assert plan.rules == ()


def test_plan_names_args_and_runc_argument_grouping() -> None:
    plan = sc.plan_filter(
        _seccomp(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["mkdir", "rmdir"], "action": "SCMP_ACT_ERRNO"},
                    # different indexes: one rule, conditions AND'd
                    {
                        "names": ["socket"],
                        "action": "SCMP_ACT_KILL_PROCESS",
                        "args": [
                            {"index": 0, "value": 40, "op": "SCMP_CMP_EQ"},
                            {"index": 1, "value": 0xF, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"},
                        ],
                    },
                    # the same index twice: one rule per condition (OR), as runc does
                    {
                        "names": ["personality"],
                        "action": "SCMP_ACT_ERRNO",
                        "errnoRet": 22,
                        "args": [
                            {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                            {"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"},
                        ],
                    },
                ],
            }
        )
    )
    eperm = 0x00050000 | errno.EPERM
    assert plan.rules == (
        RulePlan("mkdir", eperm, (), "linux.seccomp.syscalls[0].names[0]"),
        RulePlan("rmdir", eperm, (), "linux.seccomp.syscalls[0].names[1]"),
        RulePlan(
            "socket", 0x80000000, (ArgCmp(0, 4, 40, 0), ArgCmp(1, 7, 0xF, 1)), "linux.seccomp.syscalls[1].names[0]"
        ),
        RulePlan("personality", 0x00050016, (ArgCmp(0, 4, 8, 0),), "linux.seccomp.syscalls[2].names[0]"),
        RulePlan("personality", 0x00050016, (ArgCmp(0, 4, 0xFFFFFFFF, 0),), "linux.seccomp.syscalls[2].names[0]"),
    )


def test_plan_skips_rules_equal_to_the_default_action() -> None:
    plan = sc.plan_filter(
        _seccomp(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
                    {"names": ["umount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                    {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                ],
            }
        )
    )
    assert [r.syscall for r in plan.rules] == ["clone3", "read"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
            r"^invalid config `linux.seccomp.architectures\[0\]`: unknown architecture `SCMP_ARCH_VAX`$",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]},
            r"^invalid config `linux.seccomp.flags\[0\]`: unsupported seccomp flag `SECCOMP_FILTER_FLAG_NEW_LISTENER`$",
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000},
            r"^invalid config `linux.seccomp.defaultAction`: errno 5000 is outside 0..4095$",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}]},
            r"^invalid config `linux.seccomp.syscalls\[0\].names\[1\]`: empty syscall name$",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["a"], "action": "SCMP_ACT_ERRNO"},
                    {"names": ["b"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1},
                ],
            },
            r"^invalid config `linux.seccomp.syscalls\[1\].action`: errno -1 is outside 0..4095$",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["a"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": -3, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
            r"^invalid config `linux.seccomp.syscalls\[0\].args\[0\]`: -3 does not fit in 64 bits$",
        ),
    ],
)
def test_plan_errors_name_the_json_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        sc.plan_filter(_seccomp(data))


def test_notify_is_unsupported_even_in_a_rule() -> None:
    data = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["open"], "action": "SCMP_ACT_NOTIFY"}]}
    with pytest.raises(Unsupported, match=r"`SCMP_ACT_NOTIFY` at `linux.seccomp.syscalls\[0\].action`"):
        sc.plan_filter(_seccomp(data))
    with pytest.raises(Unsupported, match="SCMP_ACT_NOTIFY"):
        sc.plan_filter(_seccomp({"defaultAction": "SCMP_ACT_NOTIFY"}))


def _bpf(data: dict[str, Any]) -> tuple[bytes, tuple[str, ...]]:
    with sc.compile_seccomp(_seccomp(data)) as flt:
        return flt.export_bpf(), flt.skipped


@needs_libseccomp
def test_compile_produces_bpf_and_rules_grow_it() -> None:
    base = {"defaultAction": "SCMP_ACT_ALLOW"}
    empty, _ = _bpf(base)
    rules, skipped = _bpf(base | {"syscalls": [{"names": ["mkdir", "mkdirat", "unshare"], "action": "SCMP_ACT_ERRNO"}]})
    assert len(empty) % 8 == 0 and len(rules) % 8 == 0  # struct sock_filter is 8 bytes
    assert len(rules) > len(empty) > 0
    assert skipped == ()


@needs_libseccomp
def test_compile_adds_compat_architectures() -> None:
    rule = {"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}], "defaultAction": "SCMP_ACT_ALLOW"}
    native, _ = _bpf(rule)
    compat, _ = _bpf(rule | {"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]})
    assert len(compat) > len(native)


@needs_libseccomp
def test_compile_skips_syscalls_libseccomp_does_not_know() -> None:
    data = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "frobnicate", "frobnicate"], "action": "SCMP_ACT_ERRNO"}],
    }
    _, skipped = _bpf(data)
    assert skipped == ("frobnicate",)


@needs_libseccomp
def test_compile_with_args_flags_and_every_action() -> None:
    actions = [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
        "SCMP_ACT_ERRNO",
    ]
    names = ["chroot", "acct", "reboot", "swapon", "swapoff", "syslog", "vhangup"]
    data = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": [n], "action": a} for n, a in zip(names, actions, strict=True)]
        + [
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
            }
        ],
    }
    bpf, skipped = _bpf(data)
    assert bpf and skipped == ()


@needs_libseccomp
def test_compile_reports_libseccomp_rule_errors_with_the_path() -> None:
    # Two conditions on one argument in one rule: libseccomp says EINVAL (the reason runc splits such rules).
    bad = RulePlan("mkdir", 0x00050001, (ArgCmp(0, 4, 1, 0), ArgCmp(0, 4, 2, 0)), "linux.seccomp.syscalls[3].names[1]")
    plan = sc.FilterPlan(default_action=0x7FFF0000, architectures=(), log=False, spec_allow=False, rules=(bad,))
    message = r"^invalid config `linux.seccomp.syscalls\[3\].names\[1\]`: seccomp rule for `mkdir`: invalid argument$"
    with pytest.raises(SpecError, match=message):
        sc.compile_plan(plan)


@needs_libseccomp
def test_compile_refuses_an_action_the_library_rejects() -> None:
    plan = sc.FilterPlan(default_action=0x12345678, architectures=(), log=False, spec_allow=False, rules=())
    with pytest.raises(Unsupported, match=r"^seccomp default action 0x12345678: not supported by libseccomp$"):
        sc.compile_plan(plan)


@needs_libseccomp
def test_compile_refuses_architectures_libseccomp_lacks() -> None:
    # LOONGARCH64 is a valid OCI name that libseccomp 2.5.4 does not know.
    if sc._libseccomp().arch_resolve_name("loongarch64"):
        pytest.skip("this libseccomp knows loongarch64")
    data = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_LOONGARCH64"]}
    with pytest.raises(
        SpecError,
        match=r"^invalid config `linux.seccomp.architectures\[1\]`: `loongarch64` is not supported by libseccomp$",
    ):
        sc.compile_seccomp(_seccomp(data))


@needs_libseccomp
def test_released_filter_cannot_be_used() -> None:
    flt = sc.compile_seccomp(_seccomp({"defaultAction": "SCMP_ACT_ALLOW"}))
    flt.close()
    flt.close()
    with pytest.raises(Exception, match="already released"):
        flt.export_bpf()


def test_load_none_is_a_no_op() -> None:
    sc.load_seccomp(None)
