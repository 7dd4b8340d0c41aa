"""rlimits, oom_score_adj, sysctl validation and writes, the user switch and no_new_privs, without root."""

from __future__ import annotations

import errno
import resource
from pathlib import Path

import pytest

from dockyard.errors import SpecError, SyscallError
from dockyard.oci.runtime_spec import Namespace, Rlimit, User
from dockyard.runtime import process
from dockyard.runtime.linux import consts
from dockyard.runtime.linux.recording import Call, RecordingSyscalls

UNLIMITED = (1 << 64) - 1


class FakeSetrlimit:
    def __init__(self, fail: dict[int, OSError] | None = None) -> None:
        self.calls: list[tuple[int, tuple[int, int]]] = []
        self.fail = fail or {}

    def __call__(self, number: int, limits: tuple[int, int]) -> None:
        self.calls.append((number, limits))
        if number in self.fail:
            raise self.fail[number]


def test_rlimits_map_names_to_kernel_numbers_and_unlimited() -> None:
    fake = FakeSetrlimit()
    process.apply_rlimits(
        [
            Rlimit(type="RLIMIT_NOFILE", soft=1024, hard=4096),
            Rlimit(type="RLIMIT_CORE", soft=UNLIMITED, hard=UNLIMITED),
            Rlimit(type="RLIMIT_LOCKS", soft=7, hard=8),
            Rlimit(type="RLIMIT_RTTIME", soft=0, hard=0),
        ],
        setrlimit=fake,
    )
    assert fake.calls == [
        (7, (1024, 4096)),
        (4, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)),
        (10, (7, 8)),
        (15, (0, 0)),
    ]


def test_rlimit_numbers_agree_with_python_resource_module() -> None:
    for name, number in process.RLIMIT_NUMBERS.items():
        if hasattr(resource, name):
            assert getattr(resource, name) == number, name
    assert len(process.RLIMIT_NUMBERS) == 16


def test_rlimit_error_names_the_limit() -> None:
    fake = FakeSetrlimit(fail={7: PermissionError(errno.EPERM, "Operation not permitted")})
    with pytest.raises(SyscallError, match=r"^setrlimit `RLIMIT_NOFILE`: operation not permitted$"):
        process.apply_rlimits(
            [Rlimit(type="RLIMIT_CPU", soft=1, hard=2), Rlimit(type="RLIMIT_NOFILE", soft=1, hard=2)], fake
        )
    assert [n for n, _ in fake.calls] == [0, 7]


def test_rlimit_unknown_type_is_refused() -> None:
    # Rlimit validates its type only in Spec.from_json: built directly, it reaches the runtime's own check.
    fake = FakeSetrlimit()
    with pytest.raises(SpecError, match=r"^invalid config `process.rlimits`: unknown rlimit `RLIMIT_FOO`$"):
        process.apply_rlimits([Rlimit(type="RLIMIT_FOO", soft=1, hard=1)], fake)
    assert fake.calls == []


def test_rlimits_really_apply_to_this_process() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    try:
        process.apply_rlimits([Rlimit(type="RLIMIT_CORE", soft=0, hard=hard if hard >= 0 else UNLIMITED)])
        assert resource.getrlimit(resource.RLIMIT_CORE)[0] == 0
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def test_oom_score_adj_writes_proc_file(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "oom_score_adj").write_text("0")
    process.set_oom_score_adj(-500, 42, proc=str(tmp_path))
    assert (tmp_path / "42" / "oom_score_adj").read_text() == "-500"
    process.set_oom_score_adj(None, 42, proc=str(tmp_path))
    assert (tmp_path / "42" / "oom_score_adj").read_text() == "-500"


def test_oom_score_adj_error_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SyscallError, match=rf"^write `{tmp_path}/self/oom_score_adj`: no such file or directory$"):
        process.set_oom_score_adj(100, proc=str(tmp_path))


NS_ALL = [Namespace(type=t) for t in ("ipc", "network", "uts", "mount", "pid")]


@pytest.mark.parametrize(
    ("key", "needed"),
    [
        ("kernel.msgmax", "ipc"),
        ("kernel.sem", "ipc"),
        ("kernel.shmmax", "ipc"),
        ("kernel.shm_rmid_forced", "ipc"),
        ("fs.mqueue.msg_max", "ipc"),
        ("net.ipv4.ip_forward", "network"),
        ("net/ipv4/conf/eth0.100/forwarding", "network"),
        ("kernel.hostname", "uts"),
        ("kernel.domainname", "uts"),
    ],
)
def test_namespaced_sysctls_need_their_namespace(key: str, needed: str) -> None:
    process.validate_sysctl({key: "1"}, NS_ALL)
    others = [ns for ns in NS_ALL if ns.type != needed]
    with pytest.raises(SpecError, match=rf"^invalid config `linux.sysctl.{key}`: needs a {needed} namespace"):
        process.validate_sysctl({key: "1"}, others)


@pytest.mark.parametrize("key", ["kernel.panic", "vm.swappiness", "kernel.msg", "fs.file-max", "kernel.shmfoo"])
def test_host_sysctls_are_refused_naming_the_key(key: str) -> None:
    with pytest.raises(SpecError, match=rf"^invalid config `linux.sysctl.{key}`: not in a separate kernel namespace$"):
        process.validate_sysctl({key: "1"}, NS_ALL)


@pytest.mark.parametrize("key", ["", "net..ipv4", "net/../../etc/passwd", "/net/ipv4", "net.ipv4."])
def test_malformed_sysctl_names_are_refused(key: str) -> None:
    with pytest.raises(SpecError, match="not a valid sysctl name"):
        process.validate_sysctl({key: "1"}, NS_ALL)


def test_namespace_types_may_be_plain_strings() -> None:
    process.validate_sysctl({"net.core.somaxconn": "1024"}, ["network"])


def test_apply_sysctl_writes_all_or_nothing(tmp_path: Path) -> None:
    for rel in ("net/ipv4/ip_forward", "kernel/shmmax", "net/ipv4/conf/eth0.100/forwarding"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("0")
    values = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536", "net/ipv4/conf/eth0.100/forwarding": "1"}
    process.apply_sysctl(values, NS_ALL, proc_sys=str(tmp_path))
    assert (tmp_path / "net/ipv4/ip_forward").read_text() == "1"
    assert (tmp_path / "kernel/shmmax").read_text() == "65536"
    assert (tmp_path / "net/ipv4/conf/eth0.100/forwarding").read_text() == "1"
    with pytest.raises(SpecError, match="kernel.panic"):
        process.apply_sysctl({"net.ipv4.ip_forward": "0", "kernel.panic": "1"}, NS_ALL, proc_sys=str(tmp_path))
    assert (tmp_path / "net/ipv4/ip_forward").read_text() == "1"


def test_apply_sysctl_write_error_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(SyscallError, match=r"^write sysctl `net.ipv4.nope`: no such file or directory$"):
        process.apply_sysctl({"net.ipv4.nope": "1"}, NS_ALL, proc_sys=str(tmp_path))


def test_apply_sysctl_none_is_a_no_op() -> None:
    process.apply_sysctl(None, [])
    process.apply_sysctl({}, [])


class UmaskRecorder:
    def __init__(self) -> None:
        self.values: list[int] = []

    def __call__(self, mask: int) -> int:
        self.values.append(mask)
        return 0o022


def test_switch_user_sequence() -> None:
    sys = RecordingSyscalls()
    umasks = UmaskRecorder()
    user = User(uid=1000, gid=1001, additional_gids=(10, 20), umask=0o077)
    process.switch_user(user, sys, umask=umasks)
    assert sys.calls == [
        Call("prctl", (consts.PR_SET_KEEPCAPS, 1, 0, 0, 0)),
        Call("setgroups", ([10, 20],)),
        Call("setresgid", (1001,)),
        Call("setresuid", (1000,)),
        Call("prctl", (consts.PR_SET_KEEPCAPS, 0, 0, 0, 0)),
    ]
    assert umasks.values == [0o077]


def test_switch_user_root_defaults_clear_groups_and_umask_0022() -> None:
    sys = RecordingSyscalls()
    umasks = UmaskRecorder()
    process.switch_user(User(), sys, umask=umasks)
    assert [c.name for c in sys.calls] == ["prctl", "setgroups", "setresgid", "setresuid", "prctl"]
    assert sys.named("setgroups") == [Call("setgroups", ([],))]
    assert umasks.values == [0o022]


def test_switch_user_without_setgroups_in_a_rootless_user_namespace() -> None:
    sys = RecordingSyscalls()
    process.switch_user(User(uid=1, gid=1, additional_gids=(5,)), sys, setgroups_allowed=False, umask=lambda m: 0)
    assert "setgroups" not in [c.name for c in sys.calls]


def test_switch_user_failure_stops_before_uid_change() -> None:
    sys = RecordingSyscalls(fail={"setresgid": errno.EPERM})
    with pytest.raises(SyscallError, match=r"^setresgid `1001`: operation not permitted$"):
        process.switch_user(User(uid=1000, gid=1001), sys, umask=lambda m: 0)
    assert sys.named("setresuid") == []


def test_no_new_privileges() -> None:
    sys = RecordingSyscalls()
    process.set_no_new_privileges(False, sys)
    assert sys.calls == []
    process.set_no_new_privileges(True, sys)
    assert sys.calls == [Call("prctl", (consts.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))]
