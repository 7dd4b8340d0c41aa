"""Process security for real: a forked child applies capabilities, user, rlimits, no_new_privs and seccomp, then
execs busybox, whose view of /proc/self and whose syscall results are read back through a file.

Each child runs in its own mount namespace, so even a filter that failed to deny `mount` leaks nothing.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.engine.security_defaults import DEFAULT_CAPABILITIES, default_seccomp_profile
from dockyard.oci.runtime_spec import Capabilities, Rlimit, Seccomp, Spec, User
from dockyard.runtime import capabilities as caps
from dockyard.runtime import process
from dockyard.runtime.linux import consts
from dockyard.runtime.linux.syscalls import LinuxSyscalls
from dockyard.runtime.seccomp import load_seccomp

pytestmark = pytest.mark.privileged

BUSYBOX = "/bin/busybox"


def require(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("DOCKYARD_REQUIRE_PRIVILEGED") == "1":
        pytest.fail(f"privileged test required (DOCKYARD_REQUIRE_PRIVILEGED=1) but {why}")
    pytest.skip(why)


@pytest.fixture(autouse=True)
def _host_features() -> None:
    require(os.path.exists(BUSYBOX), f"{BUSYBOX} is missing (apt-get install busybox-static)")
    try:
        import ctypes

        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        require(False, "libseccomp.so.2 is missing")


@dataclass
class Result:
    status: int
    out: str
    err: str

    def status_fields(self) -> dict[str, str]:
        fields = {}
        for line in self.out.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        return fields


def run_child(setup: Callable[[LinuxSyscalls], None], argv: list[str]) -> Result:
    """Fork; in the child make a private mount namespace, run `setup`, exec `argv`; collect its output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # child: never return into pytest
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys = LinuxSyscalls()
                sys.unshare(consts.CLONE_NEWNS)
                sys.mount(None, "/", None, consts.MS_REC | consts.MS_PRIVATE, None)
                setup(sys)
                os.execv(argv[0], argv)
            except BaseException:
                os.write(2, ("setup failed: " + traceback.format_exc()).encode())
            finally:
                os._exit(121)
        _, wait_status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return Result(os.waitstatus_to_exitcode(wait_status), out.read().decode(), err.read().decode())


def hexmask(names: tuple[str, ...]) -> str:
    return f"{caps.capability_mask(names):016x}"


def test_root_process_gets_exactly_docker_default_capabilities() -> None:
    wanted = Capabilities(bounding=DEFAULT_CAPABILITIES, effective=DEFAULT_CAPABILITIES, permitted=DEFAULT_CAPABILITIES)

    def setup(sys: LinuxSyscalls) -> None:
        caps.drop_bounding_set(wanted, sys)
        process.switch_user(User(), sys)
        caps.apply_capabilities(wanted, sys)

    result = run_child(setup, [BUSYBOX, "cat", "/proc/self/status"])
    assert result.status == 0, result.err
    fields = result.status_fields()
    assert fields["CapBnd"] == hexmask(DEFAULT_CAPABILITIES) == "00000000a80425fb"
    assert fields["CapEff"] == fields["CapPrm"] == hexmask(DEFAULT_CAPABILITIES)
    assert fields["CapInh"] == fields["CapAmb"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "0" and fields["Seccomp"] == "0"


def test_non_root_user_keeps_ambient_capabilities_across_exec() -> None:
    kept = ("CAP_CHOWN", "CAP_NET_BIND_SERVICE")
    wanted = Capabilities(bounding=DEFAULT_CAPABILITIES, effective=kept, permitted=kept, inheritable=kept, ambient=kept)
    user = User(uid=1000, gid=1001, additional_gids=(10, 20), umask=0o027)

    def setup(sys: LinuxSyscalls) -> None:
        caps.drop_bounding_set(wanted, sys)
        process.switch_user(user, sys)
        caps.apply_capabilities(wanted, sys)

    script = "cat /proc/self/status; echo ids=$(id -u),$(id -g),$(id -G); echo umask=$(umask)"
    result = run_child(setup, [BUSYBOX, "sh", "-c", script])
    assert result.status == 0, result.err
    fields = result.status_fields()
    # capabilities(7): a non-root process keeps across execve only its ambient set (permitted = effective = ambient).
    assert fields["CapInh"] == fields["CapPrm"] == fields["CapEff"] == fields["CapAmb"] == hexmask(kept)
    assert fields["CapBnd"] == hexmask(DEFAULT_CAPABILITIES)
    assert "ids=1000,1001,1001 10 20" in result.out
    assert "umask=0027" in result.out
    assert fields["Uid"].split() == ["1000"] * 4 and fields["Gid"].split() == ["1001"] * 4


def test_no_new_privs_and_a_filter_denying_mkdir() -> None:
    profile = Spec.from_json(
        {
            "ociVersion": "1.1.0",
            "linux": {
                "seccomp": {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
                }
            },
        }
    ).linux
    assert profile is not None
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp, "denied")

        def setup(sys: LinuxSyscalls) -> None:
            process.set_no_new_privileges(True, sys)
            load_seccomp(profile.seccomp)

        script = f"grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status; mkdir {target}"
        result = run_child(setup, [BUSYBOX, "sh", "-c", script])
        assert result.status == 1
        assert "Operation not permitted" in result.err
        assert not target.exists()
    fields = result.status_fields()
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2"
    assert fields["Seccomp_filters"] == "1"


def _docker_init(profile: Seccomp) -> Callable[[LinuxSyscalls], None]:
    wanted = Capabilities(bounding=DEFAULT_CAPABILITIES, effective=DEFAULT_CAPABILITIES, permitted=DEFAULT_CAPABILITIES)

    def setup(sys: LinuxSyscalls) -> None:
        # Without no_new_privs the filter needs CAP_SYS_ADMIN to load, so it goes in first (runc's order);
        # the init's own calls that follow must then pass Docker's filter.
        load_seccomp(profile)
        caps.drop_bounding_set(wanted, sys)
        process.switch_user(User(), sys)
        caps.apply_capabilities(wanted, sys)
        process.set_no_new_privileges(False, sys)

    return setup


def test_docker_default_profile_runs_the_init_steps_and_true() -> None:
    setup = _docker_init(default_seccomp_profile(DEFAULT_CAPABILITIES))
    ok = run_child(setup, [BUSYBOX, "true"])
    assert (ok.status, ok.err) == (0, "")
    status = run_child(setup, [BUSYBOX, "grep", "-E", "^(Seccomp|NoNewPrivs|CapEff):", "/proc/self/status"])
    assert status.status_fields() == {"Seccomp": "2", "NoNewPrivs": "0", "CapEff": "00000000a80425fb"}


def test_docker_default_profile_denies_unshare_and_mount_even_to_full_capabilities() -> None:
    # The child keeps every capability, so only the filter can refuse; the control run shows the command works.
    profile = default_seccomp_profile(DEFAULT_CAPABILITIES)

    def filtered(sys: LinuxSyscalls) -> None:
        load_seccomp(profile)

    def unfiltered(sys: LinuxSyscalls) -> None:
        pass

    unshare = [BUSYBOX, "unshare", "-n", BUSYBOX, "true"]
    assert run_child(unfiltered, unshare).status == 0
    denied = run_child(filtered, unshare)
    assert denied.status != 0
    assert "Operation not permitted" in denied.err
    with tempfile.TemporaryDirectory() as tmp:
        mount = [BUSYBOX, "sh", "-c", f"mount -t tmpfs tmpfs {tmp} && grep -c ' {tmp} ' /proc/self/mounts"]
        control = run_child(unfiltered, mount)
        assert (control.status, control.out.strip()) == (0, "1"), control.err
        denied = run_child(filtered, mount)
        assert denied.status != 0
        assert "mount: permission denied" in denied.err  # busybox's words for EPERM
        assert not os.path.ismount(tmp)


def test_docker_profile_with_sys_admin_allows_unshare() -> None:
    with_admin = (*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN")
    profile = default_seccomp_profile(with_admin)

    def setup(sys: LinuxSyscalls) -> None:
        load_seccomp(profile)
        wanted = Capabilities(bounding=with_admin, effective=with_admin, permitted=with_admin)
        caps.drop_bounding_set(wanted, sys)
        caps.apply_capabilities(wanted, sys)

    result = run_child(setup, [BUSYBOX, "unshare", "-n", BUSYBOX, "true"])
    assert (result.status, result.err) == (0, "")


def test_rlimits_and_oom_score_adj_are_visible_in_proc() -> None:
    limits = [Rlimit(type="RLIMIT_NOFILE", soft=123, hard=456), Rlimit(type="RLIMIT_CORE", soft=0, hard=0)]

    def setup(sys: LinuxSyscalls) -> None:
        process.apply_rlimits(limits)
        process.set_oom_score_adj(321)

    result = run_child(setup, [BUSYBOX, "sh", "-c", "cat /proc/self/limits; echo oom=$(cat /proc/self/oom_score_adj)"])
    assert result.status == 0, result.err
    lines = {line[:26].strip(): line[26:].split() for line in result.out.splitlines()}
    assert lines["Max open files"][:2] == ["123", "456"]
    assert lines["Max core file size"][:2] == ["0", "0"]
    assert "oom=321" in result.out


def test_sysctls_are_written_inside_new_namespaces() -> None:
    values = {"kernel.shmmax": "123456789", "kernel.domainname": "dockyard.test", "net.ipv4.ip_forward": "1"}

    def setup(sys: LinuxSyscalls) -> None:
        sys.unshare(consts.CLONE_NEWIPC | consts.CLONE_NEWUTS | consts.CLONE_NEWNET)
        process.apply_sysctl(values, ["ipc", "uts", "network"])

    script = "cat /proc/sys/kernel/shmmax /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward"
    result = run_child(setup, [BUSYBOX, "sh", "-c", script])
    assert result.status == 0, result.err
    assert result.out.split() == ["123456789", "dockyard.test", "1"]
    assert Path("/proc/sys/kernel/domainname").read_text().strip() != "dockyard.test"


def test_setup_failure_is_reported_not_executed() -> None:
    def setup(sys: LinuxSyscalls) -> None:
        process.apply_sysctl({"kernel.panic": "1"}, ["ipc", "uts", "network"])

    result = run_child(setup, [BUSYBOX, "true"])
    assert result.status == 121
    assert "invalid config `linux.sysctl.kernel.panic`: not in a separate kernel namespace" in result.err
