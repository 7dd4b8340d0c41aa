"""Docker's defaults: capabilities, masked paths, and the default seccomp profile checked against Docker's own JSON.

The reference is the default.json Debian ships in golang-github-docker-docker-dev (Docker 20.10). Our profile
follows the current Docker profile, so the comparison applies the documented changes Docker made since 20.10;
set DOCKYARD_MOBY_SECCOMP_JSON to a current moby default.json to compare with no changes at all.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dockyard.engine import security_defaults as sd
from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Linux, Seccomp, Spec

DEBIAN_PROFILE = "usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json"
REQUIRE = os.environ.get("DOCKYARD_REQUIRE_PRIVILEGED") == "1"

# A rule as compared: (action, errnoRet, ((index, op, value, valueTwo), ...)); a name maps to its set of rules.
Summary = dict[str, set[tuple[str, int | None, tuple[tuple[int, str, int, int], ...]]]]
ALLOW: tuple[str, None, tuple[()]] = ("SCMP_ACT_ALLOW", None, ())

# What Docker changed in its default profile after 20.10, for an amd64 host:
# syscalls now allowed without conditions (new kernel calls; name_to_handle_at, no longer CAP_SYS_ADMIN only;
# process_vm_readv/writev, which joined ptrace's kernel >= 4.8 rule),
ADDED_SINCE_20_10 = frozenset(
    """cachestat fchmodat2 futex_requeue futex_wait futex_wake getxattrat listmount listxattrat map_shadow_stack mseal
    name_to_handle_at pkey_alloc pkey_free pkey_mprotect removexattrat riscv_hwprobe setxattrat statmount uretprobe
    process_vm_readv process_vm_writev""".split()  # noqa: SIM905
)
# syscalls added under a capability,
ADDED_WITH_CAP = {
    "CAP_SYS_ADMIN": ("lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr"),
    "CAP_SYS_TIME": ("clock_settime64",),
    "CAP_SYS_NICE": ("set_mempolicy_home_node",),
    "CAP_BPF": ("bpf",),
    "CAP_PERFMON": ("perf_event_open",),
}
# io_uring, denied since Docker 25 (a steady source of kernel exploits),
REMOVED_SINCE_20_10 = frozenset({"io_uring_enter", "io_uring_register", "io_uring_setup"})
# and socket(2), now refused for AF_ALG (38) and AF_VSOCK (40).
SOCKET_RULES = {
    ("SCMP_ACT_ALLOW", None, ((0, "SCMP_CMP_LT", 38, 0),)),
    ("SCMP_ACT_ALLOW", None, ((0, "SCMP_CMP_EQ", 39, 0),)),
    ("SCMP_ACT_ALLOW", None, ((0, "SCMP_CMP_GT", 40, 0),)),
}

PRIVILEGED_ISH = (*sd.DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN")
EVERY_CAP = (
    *sd.DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME", "CAP_SYS_NICE", "CAP_BPF",
    "CAP_PERFMON", "CAP_SYS_BOOT", "CAP_SYS_MODULE", "CAP_SYS_PACCT", "CAP_SYS_RAWIO", "CAP_SYS_TTY_CONFIG",
    "CAP_SYSLOG", "CAP_DAC_READ_SEARCH",
)  # fmt: skip


def _missing(why: str) -> None:
    if REQUIRE:
        pytest.fail(f"DOCKYARD_REQUIRE_PRIVILEGED=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def debian_profile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Docker 20.10's default.json: from the installed Debian package, else extracted from a downloaded .deb."""
    path = Path("/") / DEBIAN_PROFILE
    if not path.exists():
        debs = glob.glob("/var/cache/apt/archives/golang-github-docker-docker-dev_*.deb")
        debs += glob.glob("/tmp/golang-github-docker-docker-dev_*.deb")
        if not debs:
            _missing("Docker's default.json is not here (apt-get install golang-github-docker-docker-dev)")
        target = tmp_path_factory.mktemp("dockerdev")
        subprocess.run(["dpkg", "-x", sorted(debs)[-1], str(target)], check=True, capture_output=True)
        path = target / DEBIAN_PROFILE
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _docker_applies(rule: dict[str, Any], caps: tuple[str, ...], arch: str) -> bool:
    """Docker's own selection (includes/excludes) for a host with kernel >= 4.8."""
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if arch in (exc.get("arches") or []) or any(c in caps for c in exc.get("caps") or []):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    return all(c in caps for c in inc.get("caps") or [])


def summarize_docker(profile: dict[str, Any], caps: tuple[str, ...], arch: str = "amd64") -> Summary:
    out: Summary = {}
    for rule in profile["syscalls"]:
        if not _docker_applies(rule, caps, arch):
            continue
        args = tuple((a["index"], a["op"], a["value"], a.get("valueTwo", 0)) for a in rule.get("args") or [])
        for name in rule["names"]:
            out.setdefault(name, set()).add((rule["action"], rule.get("errnoRet"), args))
    return out


def summarize_ours(profile: Seccomp) -> Summary:
    out: Summary = {}
    for rule in profile.syscalls:
        args = tuple((a.index, a.op, a.value, a.value_two) for a in rule.args)
        for name in rule.names:
            out.setdefault(name, set()).add((rule.action, rule.errno_ret, args))
    return out


def expected_from_20_10(profile: dict[str, Any], caps: tuple[str, ...]) -> Summary:
    expected = summarize_docker(profile, caps)
    for name in REMOVED_SINCE_20_10:
        assert expected.pop(name) == {ALLOW}, name
    assert expected["socket"] == {ALLOW}
    expected["socket"] = set(SOCKET_RULES)
    added = set(ADDED_SINCE_20_10)
    for cap, names in ADDED_WITH_CAP.items():
        if cap in caps:
            added.update(names)
    for name in added:
        expected.setdefault(name, set()).add(ALLOW)
    return expected


@pytest.mark.parametrize(
    "caps", [sd.DEFAULT_CAPABILITIES, PRIVILEGED_ISH, EVERY_CAP], ids=["default", "sysadmin", "all"]
)
def test_profile_matches_docker_20_10_plus_documented_changes(
    debian_profile: dict[str, Any], caps: tuple[str, ...]
) -> None:
    assert debian_profile["defaultAction"] == "SCMP_ACT_ERRNO"
    ours = summarize_ours(sd.default_seccomp_profile(caps, arch="amd64", kernel=(6, 1)))
    expected = expected_from_20_10(debian_profile, caps)
    assert sorted(set(ours) - set(expected)) == []
    assert sorted(set(expected) - set(ours)) == []
    assert {n: r for n, r in ours.items() if expected[n] != r} == {}


def test_the_comparison_catches_a_difference(debian_profile: dict[str, Any]) -> None:
    ours = summarize_ours(sd.default_seccomp_profile(sd.DEFAULT_CAPABILITIES, arch="amd64", kernel=(6, 1)))
    with_sys_admin = expected_from_20_10(debian_profile, PRIVILEGED_ISH)
    assert set(with_sys_admin) - set(ours) >= {"mount", "unshare", "setns"}


@pytest.mark.parametrize(
    "caps", [sd.DEFAULT_CAPABILITIES, PRIVILEGED_ISH, EVERY_CAP], ids=["default", "sysadmin", "all"]
)
@pytest.mark.parametrize("arch", ["amd64", "arm64", "s390x"])
def test_profile_equals_a_current_moby_profile_exactly(caps: tuple[str, ...], arch: str) -> None:
    path = os.environ.get("DOCKYARD_MOBY_SECCOMP_JSON")
    if not path:
        pytest.skip("set DOCKYARD_MOBY_SECCOMP_JSON to a current moby profiles/seccomp/default.json")
    moby = json.loads(Path(path).read_text())
    ours = sd.default_seccomp_profile(caps, arch=arch, kernel=(6, 1))
    assert summarize_ours(ours) == summarize_docker(moby, caps, arch)
    assert ours.default_errno_ret == moby.get("defaultErrnoRet", errno.EPERM)
    arch_map = {a["architecture"]: (a["architecture"], *(a["subArchitectures"] or ())) for a in moby["archMap"]}
    assert ours.architectures == arch_map[sd.ARCH_MAP[arch][0]]


def test_profile_shape_for_default_caps() -> None:
    profile = sd.default_seccomp_profile(sd.DEFAULT_CAPABILITIES, arch="amd64", kernel=(6, 1))
    assert profile.default_action == "SCMP_ACT_ERRNO" and profile.default_errno_ret == errno.EPERM
    assert profile.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    summary = summarize_ours(profile)
    for denied in ("mount", "umount2", "unshare", "setns", "reboot", "init_module", "bpf", "io_uring_setup", "kcmp"):
        assert denied not in summary, denied
    assert summary["chroot"] == {ALLOW}  # CAP_SYS_CHROOT is a default capability
    assert summary["clone"] == {("SCMP_ACT_ALLOW", None, ((0, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0),))}
    assert summary["clone3"] == {("SCMP_ACT_ERRNO", errno.ENOSYS, ())}
    assert summary["personality"] == {
        ("SCMP_ACT_ALLOW", None, ((0, "SCMP_CMP_EQ", v, 0),)) for v in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF)
    }
    assert summary["arch_prctl"] == summary["modify_ldt"] == {ALLOW}
    assert "arm_fadvise64_64" not in summary


def test_sys_admin_unlocks_namespaces_and_plain_clone() -> None:
    summary = summarize_ours(sd.default_seccomp_profile(PRIVILEGED_ISH, arch="amd64", kernel=(6, 1)))
    assert summary["clone"] == summary["clone3"] == summary["mount"] == summary["unshare"] == {ALLOW}


def test_arch_and_kernel_select_rules() -> None:
    arm = sd.default_seccomp_profile(sd.DEFAULT_CAPABILITIES, arch="arm64", kernel=(6, 1))
    assert arm.architectures == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")
    arm_summary = summarize_ours(arm)
    assert "arm_fadvise64_64" in arm_summary and "arch_prctl" not in arm_summary
    s390 = summarize_ours(sd.default_seccomp_profile(sd.DEFAULT_CAPABILITIES, arch="s390x", kernel=(6, 1)))
    assert s390["clone"] == {("SCMP_ACT_ALLOW", None, ((1, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0),))}
    old = summarize_ours(sd.default_seccomp_profile(sd.DEFAULT_CAPABILITIES, arch="amd64", kernel=(4, 4)))
    assert "ptrace" not in old
    assert "ptrace" in summarize_ours(sd.default_seccomp_profile(sd.DEFAULT_CAPABILITIES, arch="amd64", kernel=(4, 8)))
    assert sd.default_seccomp_profile((), arch="ppc64le", kernel=(6, 1)).architectures == ()


def test_profile_round_trips_through_the_oci_model() -> None:
    profile = sd.default_seccomp_profile(sd.DEFAULT_CAPABILITIES, arch="amd64", kernel=(6, 1))
    data = Spec(oci_version="1.1.0", linux=Linux(seccomp=profile)).to_json()
    assert data["linux"]["seccomp"]["defaultErrnoRet"] == 1
    spec = Spec.from_json(json.loads(json.dumps(data)))
    assert spec.linux is not None and spec.linux.seccomp == profile


def test_profile_compiles_with_libseccomp() -> None:
    from dockyard.runtime.seccomp import compile_seccomp

    try:
        flt = compile_seccomp(sd.default_seccomp_profile(EVERY_CAP))
    except Exception as err:  # only a missing library may skip
        if "libseccomp" in str(err) and "load" in str(err):
            pytest.skip(str(err))
        raise
    with flt:
        assert len(flt.export_bpf()) > 1000
        assert not {"mkdir", "socket", "clone", "mount", "personality", "execve"} & set(flt.skipped)


def test_default_capabilities_and_paths() -> None:
    assert len(sd.DEFAULT_CAPABILITIES) == len(set(sd.DEFAULT_CAPABILITIES)) == 14
    assert "CAP_SYS_ADMIN" not in sd.DEFAULT_CAPABILITIES and "CAP_NET_RAW" in sd.DEFAULT_CAPABILITIES
    assert sd.DEFAULT_READONLY_PATHS == ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
    assert {"/proc/kcore", "/proc/keys", "/sys/firmware", "/sys/devices/virtual/powercap", "/proc/interrupts"} <= set(
        sd.DEFAULT_MASKED_PATHS
    )
    assert len(sd.DEFAULT_MASKED_PATHS) == 12


def test_host_masked_paths_adds_thermal_throttle(tmp_path: Path) -> None:
    for cpu in ("cpu0", "cpu1", "cpu10", "cpufreq", "cpu2"):
        (tmp_path / cpu).mkdir()
    for cpu in ("cpu0", "cpu10", "cpufreq"):
        (tmp_path / cpu / "thermal_throttle").mkdir()
    extra = sd.host_masked_paths(str(tmp_path))[len(sd.DEFAULT_MASKED_PATHS) :]
    assert extra == (
        "/sys/devices/system/cpu/cpu0/thermal_throttle",
        "/sys/devices/system/cpu/cpu10/thermal_throttle",
    )
    assert sd.host_masked_paths(str(tmp_path / "missing")) == sd.DEFAULT_MASKED_PATHS


def test_kernel_version_and_host_arch() -> None:
    assert sd.kernel_version("6.1.0-18-amd64") == (6, 1)
    assert sd.kernel_version("4.19.0") == (4, 19)
    with pytest.raises(InvalidArgument, match=r"^kernel release `banana`: not a version$"):
        sd.kernel_version("banana")
    assert sd.host_arch("x86_64") == "amd64"
    assert sd.host_arch("aarch64") == "arm64"
    assert sd.host_arch("mips") == "mips"
    assert sd.kernel_version() >= (3, 0)


@pytest.mark.parametrize(
    "caps", [sd.DEFAULT_CAPABILITIES, PRIVILEGED_ISH, EVERY_CAP], ids=["default", "sysadmin", "all"]
)
@pytest.mark.parametrize("arch", ["amd64", "arm64", "s390x"])
def test_dockers_own_default_json_as_a_custom_profile_selects_what_docker_selects(
    debian_profile: dict[str, Any], caps: tuple[str, ...], arch: str
) -> None:
    from dockyard.engine.seccomp_profile import load_profile

    loaded = load_profile(json.dumps(debian_profile), caps, arch=arch, kernel=(6, 1))
    assert loaded is not None
    assert summarize_ours(loaded) == summarize_docker(debian_profile, caps, arch)
    arch_map = {
        a["architecture"]: (a["architecture"], *(a["subArchitectures"] or ())) for a in debian_profile["archMap"]
    }
    assert loaded.architectures == arch_map[sd.ARCH_MAP[arch][0]]
    assert (loaded.default_action, loaded.default_errno_ret) == (
        "SCMP_ACT_ERRNO",
        debian_profile.get("defaultErrnoRet"),
    )
