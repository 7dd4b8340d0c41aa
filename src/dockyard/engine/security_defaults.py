"""Docker's security defaults as data: default capabilities, masked and read-only paths, the default seccomp profile.

Pure data and functions over it (the host architecture and kernel version are parameters, read from the host only
when not given). Imports only dockyard.oci and dockyard.errors. The syscall lists are interface data: a container
must see the same allowed and denied syscalls as under Docker (moby's profiles/seccomp default profile, 2025).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence

from dockyard.errors import InvalidArgument
from dockyard.oci.model import Model
from dockyard.oci.runtime_spec import Seccomp, SeccompArg, SyscallRule

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)  # fmt: skip

# Hidden behind /dev/null or an empty read-only tmpfs: they leak host hardware or kernel state. /proc/interrupts
# and powercap (energy counters: a side channel) came with Docker's 2025 advisories GHSA-6fw5-f8r9-fgfm and
# GHSA-jq35-85cj-fj4p; the per-cpu thermal_throttle directories are added by `host_masked_paths`.
DEFAULT_MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats", "/sys/devices/virtual/powercap",
    "/sys/firmware",
)  # fmt: skip
DEFAULT_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def host_masked_paths(cpu_root: str = "/sys/devices/system/cpu") -> tuple[str, ...]:
    """DEFAULT_MASKED_PATHS plus every existing `cpuN/thermal_throttle` directory, as Docker masks them."""
    extra = []
    try:
        entries = os.listdir(cpu_root)
    except OSError:
        entries = []
    for name in sorted(entries, key=lambda n: (len(n), n)):
        if re.fullmatch(r"cpu[0-9]+", name) and os.path.exists(os.path.join(cpu_root, name, "thermal_throttle")):
            extra.append(f"/sys/devices/system/cpu/{name}/thermal_throttle")
    return DEFAULT_MASKED_PATHS + tuple(extra)


# The unconditional allow list, grouped by what the calls touch. Names a kernel or libseccomp does not know are
# skipped by the runtime, so the list may run ahead of both.
_ALLOW_GROUPS = {
    "files": """
        access chdir chmod chown chown32 close close_range copy_file_range creat dup dup2 dup3 faccessat faccessat2
        fadvise64 fadvise64_64 fallocate fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64
        fdatasync flock fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futimesat getcwd
        getdents getdents64 lchown lchown32 link linkat _llseek lseek lstat lstat64 mkdir mkdirat mknod mknodat
        name_to_handle_at newfstatat open openat openat2 pread64 preadv preadv2 pwrite64 pwritev pwritev2 read
        readahead readlink readlinkat readv rename renameat renameat2 rmdir sendfile sendfile64 splice stat stat64
        statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs tee truncate truncate64 umask unlink
        unlinkat utime utimensat utimensat_time64 utimes vmsplice write writev cachestat ioctl
        listmount statmount
    """,
    "xattrs": """
        fgetxattr flistxattr fremovexattr fsetxattr getxattr getxattrat lgetxattr listxattr listxattrat llistxattr
        lremovexattr lsetxattr removexattr removexattrat setxattr setxattrat
    """,
    "waiting on descriptors": """
        epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
        eventfd eventfd2 fanotify_mark inotify_add_watch inotify_init inotify_init1 inotify_rm_watch pipe pipe2
        poll ppoll ppoll_time64 pselect6 pselect6_time64 select _newselect signalfd signalfd4
    """,
    "asynchronous io": """
        io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit ioprio_get ioprio_set
    """,
    "memory": """
        brk madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mlock mlock2 mlockall mmap mmap2
        mprotect mremap mseal msync munlock munlockall munmap pkey_alloc pkey_free pkey_mprotect remap_file_pages
    """,
    "processes and threads": """
        capget capset execve execveat exit exit_group fork futex futex_requeue futex_time64 futex_wait futex_waitv
        futex_wake get_robust_list get_thread_area getcpu getpgid getpgrp getpid getppid getpriority getrandom
        getrlimit getrusage getsid gettid landlock_add_rule landlock_create_ruleset landlock_restrict_self
        pidfd_open pidfd_send_signal prctl prlimit64 process_mrelease restart_syscall riscv_hwprobe rseq seccomp
        set_robust_list set_thread_area set_tid_address setpgid setpriority setrlimit setsid sysinfo times
        ugetrlimit uname uretprobe vfork wait4 waitid waitpid
    """,
    "scheduling": """
        sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr sched_getparam
        sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
        sched_setparam sched_setscheduler sched_yield
    """,
    "credentials": """
        getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getresgid getresgid32 getresuid
        getresuid32 getuid getuid32 setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
        setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setuid setuid32
    """,
    "signals": """
        alarm kill pause rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
        rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sigaltstack sigprocmask sigreturn tgkill tkill
    """,
    # adjtimex and clock_adjtime only read the clock without CAP_SYS_TIME: the kernel checks writes itself.
    "time": """
        adjtimex clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
        clock_nanosleep clock_nanosleep_time64 getitimer gettimeofday nanosleep setitimer time timer_create
        timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create
        timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64
    """,
    # socket(2) itself is conditional on the address family (see _RULES).
    "sockets": """
        accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom recvmmsg
        recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown socketcall socketpair
    """,
    "ipc": """
        ipc mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64
        mq_unlink msgctl msgget msgrcv msgsnd semctl semget semop semtimedop semtimedop_time64 shmat shmctl shmdt
        shmget
    """,
}
ALWAYS_ALLOWED = tuple(sorted({name for group in _ALLOW_GROUPS.values() for name in group.split()}))


class ProfileRule(Model):
    """A rule of the default profile and when it applies: to the container's bounding set, host arch, kernel."""

    names: tuple[str, ...]
    action: str = "SCMP_ACT_ALLOW"
    errno_ret: int | None = None
    args: tuple[SeccompArg, ...] = ()
    needs_caps: tuple[str, ...] = ()  # every one must be in the bounding set
    unless_caps: tuple[str, ...] = ()  # any one in the bounding set drops the rule
    arches: tuple[str, ...] = ()  # host architectures (Go's names) the rule is for; empty: all
    unless_arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None

    def applies(self, caps: frozenset[str], arch: str, kernel: tuple[int, int]) -> bool:
        if any(c not in caps for c in self.needs_caps) or any(c in caps for c in self.unless_caps):
            return False
        if (self.arches and arch not in self.arches) or arch in self.unless_arches:
            return False
        return self.min_kernel is None or kernel >= self.min_kernel


def _eq(index: int, value: int) -> SeccompArg:
    return SeccompArg(index=index, value=value, op="SCMP_CMP_EQ")


# clone(2) flags that create namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET): without
# CAP_SYS_ADMIN, clone is allowed only when (flags & mask) == 0.
CLONE_NAMESPACE_MASK = 0x7E020000
# socket(2) families refused without any capability: AF_ALG (38, kernel crypto API) and AF_VSOCK (40, host
# sockets). The three rules allow < 38, == 39 and > 40.
_AF_ALG, _AF_VSOCK = 38, 40
_S390 = ("s390", "s390x")
# Namespaces, mounts, tracing and kernel-wide state: only with CAP_SYS_ADMIN.
_SYS_ADMIN_SYSCALLS = (
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
    "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount", "mount_setattr", "move_mount",
    "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog",
    "umount", "umount2", "unshare",
)  # fmt: skip

_RULES = (
    ProfileRule(names=ALWAYS_ALLOWED),
    # Before 4.8 a tracer could change a syscall after seccomp had checked it (seccomp(2)): ptrace escaped.
    ProfileRule(names=("process_vm_readv", "process_vm_writev", "ptrace"), min_kernel=(4, 8)),
    ProfileRule(names=("socket",), args=(SeccompArg(index=0, value=_AF_ALG, op="SCMP_CMP_LT"),)),
    ProfileRule(names=("socket",), args=(_eq(0, _AF_ALG + 1),)),
    ProfileRule(names=("socket",), args=(SeccompArg(index=0, value=_AF_VSOCK, op="SCMP_CMP_GT"),)),
    # personality(2): only the execution domains programs really ask for: PER_LINUX, UNAME26, PER_LINUX32,
    # PER_LINUX32|UNAME26, and 0xffffffff (the query).
    *(ProfileRule(names=("personality",), args=(_eq(0, v),)) for v in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)),
    ProfileRule(names=("sync_file_range2", "swapcontext"), arches=("ppc64le",)),
    ProfileRule(
        names=("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"),
        arches=("arm", "arm64"),
    ),
    ProfileRule(names=("arch_prctl",), arches=("amd64", "x32")),
    ProfileRule(names=("modify_ldt",), arches=("amd64", "x32", "x86")),
    ProfileRule(names=("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"), arches=_S390),
    ProfileRule(names=("riscv_flush_icache",), arches=("riscv64",)),
    ProfileRule(names=("open_by_handle_at",), needs_caps=("CAP_DAC_READ_SEARCH",)),
    ProfileRule(names=_SYS_ADMIN_SYSCALLS, needs_caps=("CAP_SYS_ADMIN",)),
    ProfileRule(
        names=("clone",),
        args=(SeccompArg(index=0, value=CLONE_NAMESPACE_MASK, op="SCMP_CMP_MASKED_EQ"),),
        unless_caps=("CAP_SYS_ADMIN",),
        unless_arches=_S390,
    ),
    # s390 passes clone's flags as the second argument.
    ProfileRule(
        names=("clone",),
        args=(SeccompArg(index=1, value=CLONE_NAMESPACE_MASK, op="SCMP_CMP_MASKED_EQ"),),
        unless_caps=("CAP_SYS_ADMIN",),
        arches=_S390,
    ),
    # clone3 passes its flags in a struct seccomp cannot read: ENOSYS makes glibc fall back to clone.
    ProfileRule(names=("clone3",), action="SCMP_ACT_ERRNO", errno_ret=errno.ENOSYS, unless_caps=("CAP_SYS_ADMIN",)),
    ProfileRule(names=("reboot",), needs_caps=("CAP_SYS_BOOT",)),
    ProfileRule(names=("chroot",), needs_caps=("CAP_SYS_CHROOT",)),
    ProfileRule(names=("delete_module", "init_module", "finit_module"), needs_caps=("CAP_SYS_MODULE",)),
    ProfileRule(names=("acct",), needs_caps=("CAP_SYS_PACCT",)),
    ProfileRule(
        names=("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"),
        needs_caps=("CAP_SYS_PTRACE",),
    ),
    ProfileRule(names=("iopl", "ioperm"), needs_caps=("CAP_SYS_RAWIO",)),
    ProfileRule(names=("settimeofday", "stime", "clock_settime", "clock_settime64"), needs_caps=("CAP_SYS_TIME",)),
    ProfileRule(names=("vhangup",), needs_caps=("CAP_SYS_TTY_CONFIG",)),
    ProfileRule(
        names=("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"), needs_caps=("CAP_SYS_NICE",)
    ),
    ProfileRule(names=("syslog",), needs_caps=("CAP_SYSLOG",)),
    ProfileRule(names=("bpf",), needs_caps=("CAP_BPF",)),
    ProfileRule(names=("perf_event_open",), needs_caps=("CAP_PERFMON",)),
)

# The seccomp architectures a filter covers on each host: the native ABI and the compat ABIs it can run.
ARCH_MAP = {
    "amd64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "arm64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
    "s390x": ("SCMP_ARCH_S390X", "SCMP_ARCH_S390"),
    "riscv64": ("SCMP_ARCH_RISCV64",),
}
_MACHINE_TO_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "x86",
    "i686": "x86",
    "s390x": "s390x",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
}


def host_arch(machine: str | None = None) -> str:
    """The host architecture under Go's name as the profile's rules use it (`amd64`, `arm64`, …)."""
    machine = os.uname().machine if machine is None else machine  # platform.machine() without its import
    return _MACHINE_TO_ARCH.get(machine, machine)


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of a kernel release string such as `6.1.0-18-amd64` (default: the running kernel)."""
    release = os.uname().release if release is None else release
    match = re.match(r"(\d+)\.(\d+)", release)
    if match is None:
        raise InvalidArgument(f"kernel release `{release}`: not a version")
    return int(match.group(1)), int(match.group(2))


def default_seccomp_profile(
    capabilities: Sequence[str], *, arch: str | None = None, kernel: tuple[int, int] | None = None
) -> Seccomp:
    """Docker's default profile for a container whose bounding set is `capabilities`.

    Unlisted syscalls fail with EPERM. `arch` is the host architecture (Go's name, default: this host) and
    `kernel` the host kernel (major, minor), both of which select rules as Docker does.
    """
    host = host_arch() if arch is None else arch
    version = kernel_version() if kernel is None else kernel
    caps = frozenset(capabilities)
    rules = tuple(
        SyscallRule(names=rule.names, action=rule.action, errno_ret=rule.errno_ret, args=rule.args)
        for rule in _RULES
        if rule.applies(caps, host, version)
    )
    return Seccomp(
        default_action="SCMP_ACT_ERRNO",
        default_errno_ret=errno.EPERM,
        architectures=ARCH_MAP.get(host, ()),
        syscalls=rules,
    )
