"""`exec`: run a new process inside a running container (runc exec); never touches the container's init.

The process is built from the container's own process spec (config.json saved at create time) with the
command line's overrides, or read whole from --process, so it gets the container's capabilities, rlimits,
no_new_privs and seccomp filter unless overridden, as with runc. The child joins the container's cgroup, then
its namespaces through /proc/<init>/ns/* (user first, then mount, then the rest); a pid namespace only applies
to children, so the child forks once more and the grandchild runs the program. Without --detach the runtime
(a child subreaper, so it inherits that grandchild) waits and exits with the process's status.
"""

from __future__ import annotations

import os
import sys

from dockyard.errors import InvalidArgument, SpecError
from dockyard.oci.jsonmodel import decode
from dockyard.oci.model import Model, replace
from dockyard.oci.runtime_spec import CAPABILITIES, Capabilities, Process, Spec, User
from dockyard.runtime import channel as ch
from dockyard.runtime import container as ct
from dockyard.runtime import init, jsonio
from dockyard.runtime import namespaces as ns
from dockyard.runtime import state as st
from dockyard.runtime.cgroups import warmup
from dockyard.runtime.linux.consts import PR_SET_CHILD_SUBREAPER
from dockyard.runtime.linux.syscalls import LinuxSyscalls

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    import signal
    from typing import NoReturn

    from dockyard.runtime.cgroups import CgroupManager
    from dockyard.runtime.cliargs import Args
    from dockyard.runtime.seccomp import SeccompFilter
else:
    import _signal as signal  # why: signal.py wraps these in IntEnums; enum costs ~3 ms of each runtime start


class ExecPlan(Model):
    process: Process
    join: tuple[tuple[str, str], ...]
    cgroup: CgroupManager
    seccomp: SeccompFilter | None
    console_socket: str | None
    preserve_fds: int


def exec_command(args: Args) -> int:
    container = ct.Container.load(args.root, args.id)
    status = container.status()
    if not (args.ignore_paused and status == st.PAUSED):
        ct.can_exec(status)
    helper = warmup.start()  # the new process joins the container's cgroup: start the kernel's wait now
    try:
        pid = _spawn_from_args(container, args)
    finally:
        warmup.reap(helper)
    if args.pid_file:
        st.write_atomic(os.path.abspath(args.pid_file), str(pid).encode(), 0o644)
    if args.detach:
        return 0
    from dockyard.runtime.lifecycle import FORWARDED_SIGNALS, wait_exit

    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, forward)
    return wait_exit(pid)


def _spawn_from_args(container: ct.Container, args: Args) -> int:
    spec = _saved_spec(container)
    process = build_process(spec, args)
    if process.terminal and args.console_socket is None:
        raise InvalidArgument("exec --tty: a terminal needs --console-socket")
    seccomp = None
    if spec.linux is not None and spec.linux.seccomp is not None:
        from dockyard.runtime.seccomp import compile_seccomp

        seccomp = compile_seccomp(spec.linux.seccomp)
    plan = ExecPlan(
        process=process,
        join=ns.exec_join_plan(container.state.pid),
        cgroup=container.cgroup(),
        seccomp=seccomp,
        console_socket=os.path.abspath(args.console_socket) if args.console_socket else None,
        preserve_fds=args.preserve_fds,
    )
    if not args.detach:
        LinuxSyscalls().prctl(PR_SET_CHILD_SUBREAPER, 1)
    return spawn_exec(plan)


def _saved_spec(container: ct.Container) -> Spec:
    try:
        with open(container.config_path(), "rb") as f:
            return Spec.from_json(jsonio.loads(f.read()))
    except (OSError, ValueError) as err:
        raise InvalidArgument(f"exec in container `{container.id}`: cannot read its saved config: {err}") from err


def build_process(spec: Spec, args: Args) -> Process:
    """The process to run: --process's JSON, or the container's process with the command line's overrides."""
    if args.process:
        try:
            with open(args.process, "rb") as f:
                data = jsonio.loads(f.read())
        except (OSError, ValueError) as err:
            raise InvalidArgument(f"exec --process `{args.process}`: {err}") from err
        process = decode(Process, data, "process")
        if not process.args:
            raise SpecError("process.args", "must not be empty")
        return process
    if not args.argv:
        raise InvalidArgument("exec: no command given (arguments or --process are required)")
    base = spec.process or Process(cwd="/")
    env = init.env_dict(base.env)
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    user = parse_user(args.user, base.user) if args.user else base.user
    if args.additional_gids:
        user = replace(user, additional_gids=tuple(args.additional_gids))
    return replace(
        base,
        args=tuple(args.argv),
        env=tuple(f"{k}={v}" for k, v in env.items()),
        cwd=args.cwd or base.cwd,
        terminal=args.tty,
        user=user,
        no_new_privileges=base.no_new_privileges or args.no_new_privs,
        capabilities=add_capabilities(base.capabilities, args.cap),
    )


def parse_user(text: str, base: User) -> User:
    """`uid` or `uid:gid`, numeric (runc also resolves names in the container's /etc/passwd; we do not)."""
    uid_text, _, gid_text = text.partition(":")
    try:
        uid = int(uid_text)
        gid = int(gid_text) if gid_text else 0
    except ValueError as err:
        raise InvalidArgument(f"exec --user `{text}`: expected uid[:gid] as numbers") from err
    if uid < 0 or gid < 0:
        raise InvalidArgument(f"exec --user `{text}`: ids must be non-negative")
    return replace(base, uid=uid, gid=gid, username=None)


def add_capabilities(caps: Capabilities | None, extra: list[str]) -> Capabilities | None:
    """runc exec --cap adds each capability to the bounding, effective, permitted and ambient sets."""
    if not extra:
        return caps
    for name in extra:
        if name not in CAPABILITIES:
            raise InvalidArgument(f"exec --cap `{name}`: unknown capability")
    caps = caps or Capabilities()

    def merged(current: tuple[str, ...]) -> tuple[str, ...]:
        return current + tuple(n for n in extra if n not in current)

    return replace(
        caps,
        bounding=merged(caps.bounding),
        effective=merged(caps.effective),
        permitted=merged(caps.permitted),
        inheritable=merged(caps.inheritable),
        ambient=merged(caps.ambient),
    )


def spawn_exec(plan: ExecPlan) -> int:
    """Fork the exec child, sync until it has exec'd; returns the host pid of the process."""
    init.preload(plan.process, None)
    parent, child_end = ch.pair()
    fds = ns.open_join_fds(plan.join)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        parent.close()
        _child(plan, fds, child_end)
    ns.close_fds(fds)
    child_end.close()
    try:
        msg = parent.recv()
        if isinstance(msg, ch.Failure):
            raise msg.to_error()
        if not isinstance(msg, ch.InitPid):
            raise ch.ChannelClosed("exec: the process exited before it was ready")
        pid = msg.pid
        if pid != child:
            os.waitpid(child, 0)  # the intermediate exits right after its fork
        parent.send(ch.Proceed(""))
        parent.expect(ch.Ready, "exec")
        failure = parent.recv()  # EOF: execve succeeded and closed the close-on-exec channel
        if isinstance(failure, ch.Failure):
            raise failure.to_error()
    except BaseException:
        try:
            os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            pass
        raise
    finally:
        parent.close()
    return pid


def _child(plan: ExecPlan, fds: list[tuple[str, int]], chan: ch.Channel) -> NoReturn:
    code = 1
    try:
        code = _child_steps(plan, fds, chan)
    except BaseException as err:  # why: report everything, never unwind into the parent's code
        init.report_failure(chan, err)
    finally:
        os._exit(code)


def _child_steps(plan: ExecPlan, fds: list[tuple[str, int]], chan: ch.Channel) -> int:
    sys_calls = LinuxSyscalls()
    init.reset_process(plan.preserve_fds)
    plan.cgroup.add_process(os.getpid())
    # why: the console socket is a host path, out of reach once we are in the container's mount namespace
    console_sock = None
    if plan.process.terminal and plan.console_socket is not None:
        from dockyard.runtime.console import connect_console

        console_sock = connect_console(plan.console_socket)
    ns.join_all(fds, sys_calls)
    if any(kind == "pid" for kind, _ in plan.join):
        pid = os.fork()
        if pid:
            chan.send(ch.InitPid(pid))
            return 0
    else:
        chan.send(ch.InitPid(os.getpid()))
    # why: the grandchild must not speak before the intermediate's InitPid is on the wire
    chan.expect(ch.Proceed, "exec: wait for the runtime")
    process = plan.process
    if process.terminal:
        os.setsid()
        init.setup_terminal(process, console_sock)
    target = init.prepare_process(process, sys_calls, plan.seccomp)
    chan.send(ch.Ready())
    init.execute(target, process, plan.seccomp)
