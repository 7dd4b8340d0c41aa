"""The bundle variants of the differential suite: each changes runc's default spec in one way.

A variant edits the config (and may add files to the bundle), adds shell checks to the probe, and names
substrings runc's output must contain, so every variant is meaningful even with runc alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Config = dict[str, Any]
Mutator = Callable[[Config, Path], None]

ALL_DEFAULT_NS = ("pid", "network", "ipc", "uts", "mount")
SECCOMP_ARCHS = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    mutate: Mutator | None = None
    extra: str = ""
    exit_code: int = 0
    expect: tuple[str, ...] = ()
    # Compare the whole probe output (True) or only that both runtimes fail the same way (False).
    compare_output: bool = True
    args: tuple[str, ...] | None = None
    expect_exit: int | None = None
    # A regex (multiline) of lines where runc 1.1.5 departs from the spec: blanked in both outputs before the
    # comparison; `expect_ours` then checks dockyard-runtime's output alone.
    known_runc_gap: str | None = None
    expect_ours: tuple[str, ...] = ()
    # Substrings both runtimes' stderr must contain (for variants that fail before the probe runs).
    expect_stderr: tuple[str, ...] = ()


def _linux(config: Config) -> Config:
    linux: Config = config["linux"]
    return linux


def _resources(config: Config) -> Config:
    res: Config = _linux(config).setdefault("resources", {})
    return res


def drop_ns(kind: str) -> Mutator:
    def mutate(config: Config, bundle: Path) -> None:
        _linux(config)["namespaces"] = [ns for ns in _linux(config)["namespaces"] if ns["type"] != kind]
        if kind == "uts":
            # A hostname needs a uts namespace of its own (runtime-spec config.md#hostname).
            config.pop("hostname", None)

    return mutate


def add_ns(kind: str) -> Mutator:
    def mutate(config: Config, bundle: Path) -> None:
        _linux(config)["namespaces"].append({"type": kind})

    return mutate


def set_caps(names: list[str], *, ambient: list[str] | None = None, inheritable: list[str] | None = None) -> Mutator:
    def mutate(config: Config, bundle: Path) -> None:
        caps = {"bounding": list(names), "effective": list(names), "permitted": list(names)}
        if inheritable is not None:
            caps["inheritable"] = list(inheritable)
        caps["ambient"] = list(ambient or [])
        config["process"]["capabilities"] = caps

    return mutate


def chain(*mutators: Mutator) -> Mutator:
    def mutate(config: Config, bundle: Path) -> None:
        for m in mutators:
            m(config, bundle)

    return mutate


def root_rw(config: Config, bundle: Path) -> None:
    config["root"]["readonly"] = False


def userns(config: Config, bundle: Path) -> None:
    _linux(config)["namespaces"].append({"type": "user"})
    _linux(config)["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    _linux(config)["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def user_1000(config: Config, bundle: Path) -> None:
    config["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 2000]}


def umask_027(config: Config, bundle: Path) -> None:
    config["process"]["user"]["umask"] = 0o027


def cwd(path: str) -> Mutator:
    def mutate(config: Config, bundle: Path) -> None:
        config["process"]["cwd"] = path

    return mutate


def env(config: Config, bundle: Path) -> None:
    config["process"]["env"] += ["FOO=bar", "EMPTY=", "WITH_EQ=a=b=c", "PROBE_SPACE=two words"]


def nnp_false(config: Config, bundle: Path) -> None:
    config["process"]["noNewPrivileges"] = False


def rlimits(config: Config, bundle: Path) -> None:
    # No CAP_SYS_RESOURCE here: hard limits must stay at or below the host's (NOFILE 20000). NPROC counts every
    # process of the real uid on the host, so it must stay far above what root runs there.
    config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 4096, "hard": 8192},
        {"type": "RLIMIT_NPROC", "soft": 50000, "hard": 60000},
        {"type": "RLIMIT_CORE", "soft": 1024, "hard": 2048},
    ]


def oom_score(config: Config, bundle: Path) -> None:
    config["process"]["oomScoreAdj"] = 500


def sysctls(config: Config, bundle: Path) -> None:
    _linux(config)["sysctl"] = {"kernel.shm_rmid_forced": "1", "net.ipv4.ip_forward": "1"}


def hostname(config: Config, bundle: Path) -> None:
    config["hostname"] = "probe-host"


def domainname(config: Config, bundle: Path) -> None:
    config["domainname"] = "probe.example"


def tmpfs_mount(config: Config, bundle: Path) -> None:
    config["mounts"].append(
        {
            "destination": "/mnt/scratch",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700", "uid=1000"],
        }
    )


def bind_ro_dir(config: Config, bundle: Path) -> None:
    source = bundle / "host-data"
    source.mkdir()
    (source / "hello").write_text("hello from the host\n")
    config["mounts"].append(
        {"destination": "/mnt/data", "type": "bind", "source": str(source), "options": ["rbind", "ro"]}
    )


def bind_file(config: Config, bundle: Path) -> None:
    source = bundle / "host-file.conf"
    source.write_text("key=value\n")
    config["mounts"].append(
        {"destination": "/etc/probe.conf", "type": "bind", "source": str(source), "options": ["bind"]}
    )


def masked(config: Config, bundle: Path) -> None:
    etc = bundle / "rootfs" / "etc"
    (etc / "probe-secret").write_text("secret\n")
    (etc / "probe-dir").mkdir()
    (etc / "probe-dir" / "inner").write_text("inner\n")
    _linux(config)["maskedPaths"] += ["/etc/probe-secret", "/etc/probe-dir", "/etc/probe-missing"]


def readonly_path(config: Config, bundle: Path) -> None:
    (bundle / "rootfs" / "var" / "probe-ro").mkdir()
    config["root"]["readonly"] = False
    _linux(config)["readonlyPaths"] += ["/var/probe-ro"]


def memory(config: Config, bundle: Path) -> None:
    _resources(config)["memory"] = {"limit": 64 * 1024 * 1024, "swap": 128 * 1024 * 1024}


def pids(config: Config, bundle: Path) -> None:
    _resources(config)["pids"] = {"limit": 64}


def cpu(config: Config, bundle: Path) -> None:
    _resources(config)["cpu"] = {"shares": 512, "quota": 50000, "period": 100000}


def seccomp(rules: list[Config]) -> Mutator:
    def mutate(config: Config, bundle: Path) -> None:
        config["root"]["readonly"] = False
        _linux(config)["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": SECCOMP_ARCHS,
            "syscalls": rules,
        }

    return mutate


def fuse_device(config: Config, bundle: Path) -> None:
    _linux(config)["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 0, "gid": 1000}
    ]
    _resources(config)["devices"].append({"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"})


EQ = "SCMP_CMP_EQ"
VARIANTS: tuple[Variant, ...] = (
    Variant("default", expect=("uid=0(root) gid=0(root)", "\nrunc\n", "NoNewPrivs:\t1", "/ ro,", "pid 1")),
    Variant("root-rw", root_rw, expect=("touch /probe-root-file: ok", "mkdir /tmp/probe-dir: ok")),
    Variant("no-network-ns", drop_ns("network"), expect=("== netdev\n",)),
    Variant("no-uts-ns", drop_ns("uts")),
    Variant("no-ipc-ns", drop_ns("ipc")),
    Variant(
        "no-pid-ns-killed",
        drop_ns("pid"),
        extra="kill -9 $$",
        expect=("not pid 1",),
        expect_exit=137,
    ),
    Variant("cgroup-ns", add_ns("cgroup"), expect=("0::/\n",)),
    Variant(
        "user-ns",
        userns,
        expect=("         0     100000      65536",),
        # runc mounts /dev/mqueue before it switches its gid to the container's root, so the mqueue root
        # directory gets the overflow gid 65534 (mqueue_fill_super uses the caller's fsgid); 0 is as valid.
        known_runc_gap=r"^/dev/mqueue directory 1777 0:(0|65534) 0:0 $",
    ),
    Variant("user-1000", user_1000, expect=("uid=1000(user) gid=1000(user) groups=10(wheel),2000(extra)",)),
    Variant(
        "umask", umask_027, extra="touch /dev/shm/umask-probe; stat -c '%a' /dev/shm/umask-probe", expect=("0027",)
    ),
    Variant("cwd-tmp", cwd("/tmp"), expect=("== cwd\n/tmp\n",)),
    Variant("cwd-missing", cwd("/var/probe-cwd"), expect=("== cwd\n/var/probe-cwd\n",)),
    Variant("env", env, expect=("WITH_EQ=a=b=c", "EMPTY=\n", "PROBE_SPACE=two words")),
    Variant("caps-reduced", set_caps(["CAP_CHOWN"]), expect=("CapBnd:\t0000000000000001",)),
    Variant(
        "caps-extended",
        set_caps(["CAP_CHOWN", "CAP_KILL", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]),
        extra="mknod /dev/probe-null c 1 3 && echo mknod: ok",
        expect=("mknod: ok", "CapEff:\t0000000008281021"),
    ),
    Variant("caps-empty", set_caps([]), expect=("CapBnd:\t0000000000000000", "CapEff:\t0000000000000000")),
    Variant(
        "caps-ambient-user",
        chain(
            user_1000,
            set_caps(
                ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                ambient=["CAP_NET_BIND_SERVICE"],
                inheritable=["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            ),
        ),
        expect=("CapAmb:\t0000000000000400", "CapEff:\t0000000000000400"),
    ),
    Variant("nnp-false", nnp_false, expect=("NoNewPrivs:\t0",)),
    Variant("rlimits", rlimits, expect=("Max open files            4096                 8192",)),
    Variant("oom-score-adj", oom_score, expect=("== oom\n500\n",)),
    Variant("sysctl", sysctls, expect=("kernel/shm_rmid_forced: 1", "net/ipv4/ip_forward: 1")),
    Variant("hostname", hostname, expect=("== hostname\nprobe-host\n(none)\n", "kernel/hostname: probe-host")),
    Variant(
        "domainname",
        domainname,
        # runc 1.1.5 ignores `domainname` (support came in runc 1.2); the spec says to set it. Compare the rest,
        # and check the domain name on dockyard-runtime's side alone.
        known_runc_gap=r"^(kernel/domainname: )?(\(none\)|probe\.example)$",
        expect_ours=("== hostname\nrunc\nprobe.example\n", "kernel/domainname: probe.example"),
    ),
    Variant(
        "tmpfs-mount",
        tmpfs_mount,
        # Root without CAP_DAC_OVERRIDE cannot write into uid 1000's 0700 directory.
        extra="stat -c '%a %u' /mnt/scratch; touch /mnt/scratch/x 2>/dev/null && echo scratch: ok || echo scratch: no",
        expect=("/mnt/scratch rw,nosuid,nodev,noexec", "700 1000", "scratch: no"),
    ),
    Variant(
        "bind-ro-dir",
        bind_ro_dir,
        extra="cat /mnt/data/hello; touch /mnt/data/new 2>&1",
        expect=("hello from the host", "/mnt/data ro,", "Read-only file system"),
    ),
    Variant("bind-file", bind_file, extra="cat /etc/probe.conf", expect=("key=value",)),
    Variant(
        "masked-paths",
        masked,
        extra="cat /etc/probe-secret | wc -c; ls -A /etc/probe-dir | wc -l; ls /etc/probe-missing 2>&1",
        expect=("== extra\n0\n0\n",),
    ),
    Variant(
        "readonly-path",
        readonly_path,
        extra="touch /var/probe-ro/x 2>&1; touch /var/x && echo var: ok",
        expect=("/var/probe-ro ro,", "var: ok", "Read-only file system"),
    ),
    Variant("memory-limit", memory, expect=("memory.limit_in_bytes: 67108864", "memsw.limit_in_bytes: 134217728")),
    Variant("pids-limit", pids, expect=("pids/pids.max: 64",)),
    Variant("cpu", cpu, expect=("cpu.shares: 512", "cpu.cfs_quota_us: 50000", "cpu.cfs_period_us: 100000")),
    Variant(
        "seccomp-errno",
        seccomp([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]),
        expect=("'/tmp/probe-dir': Permission denied", "Seccomp:\t2"),
    ),
    Variant(
        "seccomp-args",
        # kill(2) is denied only for SIGUSR1 (EQ on arg 1) and SIGUSR2 (MASKED_EQ: arg1 & 0xff == 12); signal 0
        # still works. pid 1 has no handler for either, so an unfiltered kill would be harmless.
        seccomp(
            [
                {
                    "names": ["kill"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}],
                },
                {
                    "names": ["kill"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 1, "value": 0xFF, "valueTwo": 12, "op": "SCMP_CMP_MASKED_EQ"}],
                },
            ]
        ),
        extra="kill -USR1 $$ 2>&1; echo usr1: $?; kill -USR2 $$ 2>&1; echo usr2: $?; kill -0 $$ && echo sig0: ok",
        expect=("usr1: 1", "usr2: 1", "sig0: ok", "Operation not permitted", "mkdir /tmp/probe-dir: ok"),
    ),
    Variant("exit-code-3", exit_code=3, expect_exit=3, expect=("== subshell\nexit: 7\nkilled: 137",)),
    Variant(
        "missing-command", args=("/bin/no-such-command",), compare_output=False, expect_stderr=("/bin/no-such-command",)
    ),
    Variant(
        "device-fuse",
        fuse_device,
        extra="stat -c '%F %a %u:%g %t:%T' /dev/fuse; grep '^c 10:229' /sys/fs/cgroup/devices/devices.list",
        expect=("character special file 640 0:1000 a:e5", "c 10:229 rwm"),
    ),
)
