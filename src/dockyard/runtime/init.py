"""The child side of create and exec: ordered setup inside the new namespaces, then execve; never returns.

Runs in the process forked by spawn.py (create) or execution.py (exec). Order for create (runc's
nsexec + standard_init_linux, simplified because Python forks with a single thread):
 1. signals to default, stray fds close-on-exec; join the cgroup here only with a new cgroup namespace (it is
    rooted at the cgroup the process is in), else the parent adds the init while it works (see step 3);
 2. setns into namespaces given by path (user first), unshare a new user namespace and wait for the parent
    to write the id maps, unshare the other new namespaces; a new pid namespace is usually the parent's doing
    (this process is then its pid 1); with a user namespace or a joined pid namespace, fork: the grandchild is
    pid 1 and the intermediate exits after reporting its host pid;
 3. init (pid 1): wait for the parent's createRuntime hooks, setsid, the pty (sent over --console-socket),
    createContainer hooks, setup_rootfs (up to pivot_root), hostname, sysctl, finalize_rootfs, then the process
    settings (prepare_process) and "ready"; CgroupMade is awaited before a cgroup v1 mount, CgroupJoined before
    createContainer hooks and before "ready" (`_CgroupSync`);
 4. block opening exec.fifo for writing until `start` opens it for reading, startContainer hooks, seccomp, execve.
Deviation from runc: createContainer hooks run before the rootfs mounts (rootfs.setup_rootfs does everything up to
pivot_root in one call), still in the container's namespaces with the host's filesystem view.

Exit codes when execve itself fails after `start` (the only errors that cannot be reported to a runtime
process): 127 when the program does not exist, 126 when it cannot be executed, as shells and Docker do; the
message goes to the container's stderr as ``dockyard-runtime: exec `/bin/x`: permission denied``.
"""

from __future__ import annotations

import codecs
import errno
import fcntl
import os
import stat
import termios

from dockyard.errors import Forbidden, NotFound
from dockyard.oci.model import Model
from dockyard.oci.runtime_spec import Process, Spec
from dockyard.runtime import capabilities as caps
from dockyard.runtime import channel as ch
from dockyard.runtime import devices, jsonio, rootfs
from dockyard.runtime import namespaces as ns
from dockyard.runtime import process as proc
from dockyard.runtime.linux.syscalls import LinuxSyscalls, Syscalls
from dockyard.runtime.state import FIFO_NAME

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    import signal
    import socket
    from collections.abc import Sequence
    from typing import NoReturn

    from dockyard.runtime.cgroups import CgroupManager
    from dockyard.runtime.seccomp import SeccompFilter
else:
    import _signal as signal  # why: signal.py wraps these in IntEnums; enum costs ~3 ms of each runtime start

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXECUTE = 126


class InitConfig(Model):
    spec: Spec
    process: Process
    bundle: str
    state_dir: str
    plan: ns.NamespacePlan
    cgroup: CgroupManager
    console_socket: str | None = None
    preserve_fds: int = 0
    seccomp: SeccompFilter | None = None  # compiled by the parent (validation); loaded here
    join_cgroup: bool = False  # the child joins the cgroup itself, before unsharing (else the parent adds the init)


class ExecTarget(Model):
    path: str
    argv: tuple[str, ...]
    env: dict[str, str]


def child_main(cfg: InitConfig, chan: ch.Channel) -> NoReturn:
    """Entry point of the forked child of create; reports any error over `chan` and exits, never returns."""
    code = 1
    try:
        code = _bootstrap(cfg, chan)
    except BaseException as err:  # why: everything must reach the parent, nothing may unwind into it
        report_failure(chan, err)
    finally:
        os._exit(code)


def report_failure(chan: ch.Channel, err: BaseException) -> None:
    """Send the error to the parent; once the parent is gone (after "ready"), print it on the container's stderr."""
    failure = ch.Failure.from_exception(err)
    try:
        chan.send(failure)
    except BaseException:
        try:
            os.write(2, f"dockyard-runtime: {failure.message}\n".encode())
        except OSError:
            pass


def reset_process(preserve_fds: int) -> None:
    """Undo what CPython did to this process: ignored SIGPIPE/SIGXFSZ and its SIGINT handler would survive execve
    (signal(7)); fds the caller passed beyond stdio (+ preserve_fds) must not leak into the container (runc)."""
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCHLD):  # fmt: skip
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    keep = 3 + preserve_fds
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def _bootstrap(cfg: InitConfig, chan: ch.Channel) -> int:
    sys = LinuxSyscalls()
    preload(cfg.process, cfg.spec)
    reset_process(cfg.preserve_fds)
    if cfg.join_cgroup:
        cfg.cgroup.add_process(os.getpid())
    # why: an O_PATH handle on the state dir survives pivot_root and the user-namespace switch; exec.fifo is
    # opened relative to it later (runc keeps an fd on the fifo for the same reason)
    dirfd = os.open(cfg.state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    ns.join_all(ns.open_join_fds(cfg.plan.join), sys)
    linux = cfg.spec.linux
    if cfg.plan.new_user and linux is not None:
        ns.unshare_user(sys)
        chan.send(ch.UsernsReady())
        chan.expect(ch.UsernsMapped, "map user namespace")
        if ns.maps_root(linux.uid_mappings) and ns.maps_root(linux.gid_mappings):
            # why: become the namespace's root so files we create are owned by it (runc's nsexec does this)
            sys.setresgid(0)
            sys.setresuid(0)
    if cfg.plan.unshare_flags:
        sys.unshare(cfg.plan.unshare_flags)
    if cfg.plan.needs_fork:
        pid = os.fork()
        if pid:
            chan.send(ch.InitPid(pid))
            return 0
    else:
        chan.send(ch.InitPid(os.getpid()))
    return _init(cfg, chan, dirfd, sys)


def preload(process: Process, spec: Spec | None) -> None:
    """Import now what later steps import lazily: after setns(mnt) or pivot_root this package is out of reach."""
    # why: codecs are imported on first use (the locale's by a text-mode open(), ascii by /proc writers)
    with open("/proc/self/stat", encoding=None):
        pass
    codecs.lookup("ascii")
    if process.terminal:
        __import__("dockyard.runtime.console")
    if spec is not None and spec.hooks is not None:
        __import__("dockyard.runtime.hooks")


def _init(cfg: InitConfig, chan: ch.Channel, dirfd: int, sys: Syscalls) -> int:
    spec = cfg.spec
    state = jsonio.loads(chan.expect(ch.Proceed, "wait for createRuntime hooks").state)
    cgroup = _CgroupSync(chan, cfg.cgroup)
    os.setsid()
    # why: like runc, the pty comes from the container's own devpts (newinstance), opened after pivot_root, so
    # `tty` says /dev/pts/0 and the host's devpts is never touched; the console socket is a host path, so it is
    # connected before. Without a /dev/pts mount there is no devpts of its own: the host's serves, as before.
    own_devpts = any(os.path.normpath(m.destination) == "/dev/pts" for m in spec.mounts)
    console_path = None
    console_sock: str | socket.socket | None = cfg.console_socket
    if cfg.process.terminal and own_devpts and cfg.console_socket is not None:
        from dockyard.runtime.console import connect_console

        console_sock = connect_console(cfg.console_socket)
    elif cfg.process.terminal:
        console_path = setup_terminal(cfg.process, cfg.console_socket)
    if spec.hooks is not None and spec.hooks.create_container:
        from dockyard.runtime.hooks import run_hooks

        cgroup.joined()
        run_hooks(spec.hooks.create_container, state, "createContainer")
    rootfs.setup_rootfs(spec, cfg.bundle, sys, console_path=console_path, cgroup_view=cgroup.view)
    if cfg.process.terminal and console_path is None:
        devices.mount_console("/", setup_terminal(cfg.process, console_sock), sys)
    _make_cwd(cfg.process.cwd)
    if spec.hostname:
        sys.sethostname(spec.hostname)
    if spec.domainname:
        sys.setdomainname(spec.domainname)
    linux = spec.linux
    if linux is not None and linux.sysctl:
        proc.apply_sysctl(linux.sysctl, linux.namespaces)
    rootfs.finalize_rootfs(spec, sys)
    target = prepare_process(cfg.process, sys, cfg.seccomp)
    cgroup.joined()
    chan.send(ch.Ready())
    chan.close()
    fifo = os.open(FIFO_NAME, os.O_WRONLY | os.O_CLOEXEC, dir_fd=dirfd)  # blocks until `start` opens it
    os.write(fifo, b"0")
    os.close(fifo)
    os.close(dirfd)
    if spec.hooks is not None and spec.hooks.start_container:
        from dockyard.runtime.hooks import run_hooks

        run_hooks(spec.hooks.start_container, state, "startContainer")
    execute(target, cfg.process, cfg.seccomp)


class _CgroupSync:
    """The init's side of CgroupMade and CgroupJoined (channel.py): each awaited once, in that order.

    why: the parent's first write to cgroup.procs waits for an RCU grace period in the kernel (cgroups/warmup.py;
    runc pays it too), and the parent makes the cgroup while the init sets up its namespaces. The init does its
    whole rootfs meanwhile: a cgroup v1 mount binds the container's cgroup directories, which only have to exist
    (CgroupMade; the manager says which ones the init will be in). Membership itself matters only for
    createContainer hooks (their processes must be confined) and before "ready" (nothing of the container runs
    before `start`): those wait for CgroupJoined.
    """

    def __init__(self, chan: ch.Channel, manager: CgroupManager) -> None:
        self._chan, self._manager = chan, manager
        self._made = self._joined = False

    def made(self) -> None:
        if not self._made:
            self._chan.expect(ch.CgroupMade, "wait for the container's cgroup")
            self._made = True

    def joined(self) -> None:
        self.made()
        if not self._joined:
            self._chan.expect(ch.CgroupJoined, "wait for the container's cgroup")
            self._joined = True

    def view(self, proc_cgroup: str) -> str:
        """/proc/self/cgroup as it will read once the parent has moved this process into the container's cgroup."""
        self.made()
        return self._manager.membership(proc_cgroup)


def setup_terminal(process: Process, console_socket: str | socket.socket | None) -> str:
    """Open a pty, send its master over the console socket, make the slave our controlling tty and stdio.

    The pty comes from the devpts mounted at /dev/pts when this runs (the host's, before setup_rootfs);
    setup_rootfs binds the slave onto the container's /dev/console.
    """
    from dockyard.runtime import console

    master, slave_path = console.open_pty()
    try:
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        if process.console_size is not None:
            console.set_winsize(slave, process.console_size.height, process.console_size.width)
        if console_socket is None:
            raise NotFound("terminal: no console socket to send the pty master to")
        console.send_console_master(console_socket, master)
    finally:
        os.close(master)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    return slave_path


def _make_cwd(cwd: str) -> None:
    # why: runc creates process.cwd inside the rootfs before it may turn read-only
    try:
        os.makedirs(cwd, mode=0o755, exist_ok=True)
    except OSError:
        pass


def prepare_process(process: Process, sys: Syscalls, seccomp: SeccompFilter | None) -> ExecTarget:
    """rlimits, oom_score_adj, bounding set, user, capabilities, no_new_privs, cwd, and the resolved program.

    Seccomp is loaded here when noNewPrivileges is off: after the user switch an unprivileged process may not
    load a filter without no_new_privs (seccomp(2)), so runc loads it before finalizeNamespace in that case.
    """
    proc.apply_rlimits(process.rlimits)
    if process.oom_score_adj is not None:
        proc.set_oom_score_adj(process.oom_score_adj)
    caps.drop_bounding_set(process.capabilities, sys)
    if seccomp is not None and not process.no_new_privileges:
        seccomp.load()
    chdir_ok = _try_chdir(process.cwd)
    proc.switch_user(process.user, sys, setgroups_allowed=_setgroups_allowed())
    caps.apply_capabilities(process.capabilities, sys)
    proc.set_no_new_privileges(process.no_new_privileges, sys)
    if not chdir_ok:
        try:
            os.chdir(process.cwd)
        except OSError as err:
            raise Forbidden(f"chdir to cwd (`{process.cwd}`) set in config.json failed: {_reason(err)}") from err
    env = env_dict(process.env)
    if "HOME" not in env:
        env["HOME"] = home_of(process.user.uid)
    path = lookup_program(process.args[0], env.get("PATH", DEFAULT_PATH))
    return ExecTarget(path=path, argv=process.args, env=env)


def _try_chdir(cwd: str) -> bool:
    try:
        os.chdir(cwd)
    except OSError:
        return False
    return True


def _setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True


def _reason(err: OSError) -> str:
    return (err.strerror or str(err)).lower()


def env_dict(env: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def home_of(uid: int, passwd: str = "/etc/passwd") -> str:
    """HOME from the container's /etc/passwd for `uid`, or "/" (runc sets HOME the same way when unset)."""
    try:
        with open(passwd, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def lookup_program(name: str, search_path: str) -> str:
    """Resolve argv[0] like Go's exec.LookPath, with runc's error texts (Docker maps them to 126/127)."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as err:
            raise NotFound(f'exec: "{name}": stat {name}: {_reason(err)}') from err
        if stat.S_ISDIR(st.st_mode) or not os.access(name, os.X_OK):
            raise Forbidden(f'exec: "{name}": permission denied')
        return name
    for directory in search_path.split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111 and os.access(candidate, os.X_OK):
            return candidate
    raise NotFound(f'exec: "{name}": executable file not found in $PATH')


def execute(target: ExecTarget, process: Process, seccomp: SeccompFilter | None) -> NoReturn:
    """Load seccomp (when not loaded earlier) and execve; on failure print runc-style and exit 126/127."""
    if seccomp is not None and process.no_new_privileges:
        seccomp.load()
    try:
        os.execve(target.path, list(target.argv), target.env)
    except OSError as err:
        code = EXIT_NOT_FOUND if err.errno in (errno.ENOENT, errno.ENOTDIR) else EXIT_CANNOT_EXECUTE
        os.write(2, f"dockyard-runtime: exec `{target.path}`: {_reason(err)}\n".encode())
        os._exit(code)
