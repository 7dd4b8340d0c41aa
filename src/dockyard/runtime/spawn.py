"""The parent side of create and start: validate the bundle, record state, make the cgroup, fork the init, sync.

Order (for start-up speed, measured in docs/benchmarks.md): the cgroup's directories exist before the warm-up
helper starts the kernel's wait for cgroup migrations (cgroups/warmup.py); the init is forked without being in
the cgroup, gets Proceed, and sets up its rootfs while this process adds it to the cgroup, then CgroupJoined.
Exceptions: with a cgroup namespace the child joins itself before unsharing (the namespace is rooted where it
is); with prestart/createRuntime hooks the init joins before they run (hooks look it up). Nothing of the
container runs before `start`, and the init reports "ready" only once it is in its cgroup.

Contract with callers (the engine's monitor): the monitor makes itself PR_SET_CHILD_SUBREAPER and runs
`dockyard-runtime create`; the runtime exits once the init is ready, so the init (or, with a pid namespace, the
grandchild that is pid 1) is re-parented to the monitor, which reaps it and reads its exit status. The init
inherits create's stdin/stdout/stderr unless process.terminal is set (runc's detached pass-through mode).

Nothing is left behind when create fails: bad input is refused before the state directory exists; any later
failure kills the child, destroys the cgroup and removes the state directory. A runtime killed mid-create
leaves a state file (phase `creating`, with the init pid and cgroup recorded as soon as known) that
`delete --force` cleans, and the child exits when its channel closes.

Test hook: DOCKYARD_RUNTIME_TEST_PAUSE_AT=<stage> makes create SIGSTOP itself at `state-dir` (state file
written), `cgroup` (cgroup created) or `child` (init forked and recorded), so a test can SIGKILL it there.
"""

from __future__ import annotations

import os
import select
import sys

from dockyard import tracing
from dockyard.errors import Conflict, DockyardError, InternalError, InvalidArgument
from dockyard.oci.model import Model
from dockyard.oci.runtime_spec import Spec
from dockyard.runtime import channel as ch
from dockyard.runtime import container as ct
from dockyard.runtime import jsonio
from dockyard.runtime import namespaces as ns
from dockyard.runtime import state as st
from dockyard.runtime.bundle import Bundle, cgroup_resources, load_bundle
from dockyard.runtime.cgroups import warmup

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    import signal
    from typing import Any

    from dockyard.runtime.cgroups import CgroupManager
else:
    import _signal as signal  # why: signal.py wraps these in IntEnums; enum costs ~3 ms of each runtime start

PAUSE_ENV = "DOCKYARD_RUNTIME_TEST_PAUSE_AT"
WAIT_GONE_SECONDS = 10.0


class CreateOptions(Model):
    root: str
    id: str
    bundle: str
    pid_file: str | None = None
    console_socket: str | None = None
    preserve_fds: int = 0
    detach: bool = True  # false for a foreground `run`: it becomes a child subreaper (to wait for the init)


def _pause_at(stage: str) -> None:
    if os.environ.get(PAUSE_ENV) == stage:
        os.kill(os.getpid(), signal.SIGSTOP)


def _check_console(spec: Spec, opts: CreateOptions) -> None:
    terminal = spec.process is not None and spec.process.terminal
    if terminal and opts.console_socket is None:
        # why: runc proxies a foreground `run`'s tty itself; we always hand the pty master to the caller
        raise InvalidArgument("cannot allocate tty without a console socket: pass --console-socket")
    if not terminal and opts.console_socket is not None:
        raise InvalidArgument("cannot use console socket if dockyard-runtime will not allocate tty")


def create(opts: CreateOptions) -> st.State:
    """Create the container up to a waiting init; returns its final state (phase created)."""
    bundle = load_bundle(opts.bundle, seccomp_cache=seccomp_cache_dir(opts.root))
    _check_console(bundle.spec, opts)
    st.validate_id(opts.id)
    directory = st.make_container_dir(opts.root, opts.id)
    me = st.read_proc_info(os.getpid())
    state = st.State(
        id=opts.id,
        bundle=bundle.path,
        rootfs=bundle.rootfs,
        created=st.now_rfc3339(),
        creator_pid=os.getpid(),
        creator_start=me.start_time if me else 0,
        cgroups_path=bundle.spec.linux.cgroups_path if bundle.spec.linux else None,
        annotations=bundle.spec.annotations,
    )
    manager: CgroupManager | None = None
    helper: int | None = None
    try:
        tracing.mark("runtime: bundle loaded")
        st.save(opts.root, state)
        st.write_atomic(os.path.join(directory, st.CONFIG_FILE), bundle.raw)
        os.mkfifo(os.path.join(directory, st.FIFO_NAME), 0o622)
        os.chmod(os.path.join(directory, st.FIFO_NAME), 0o622)
        _pause_at("state-dir")
        manager, helper = _make_cgroup(bundle.spec, opts.id)
        _pause_at("cgroup")
        state = _spawn(opts, bundle, manager, state, directory)
    except BaseException as err:
        _abort(opts.root, opts.id, manager)  # reaps every child, the warm-up helper too
        if isinstance(err, DockyardError | KeyboardInterrupt | SystemExit):
            raise
        if isinstance(err, OSError):
            raise InternalError(f"create container `{opts.id}`: {(err.strerror or str(err)).lower()}") from err
        raise
    warmup.reap(helper)
    if opts.pid_file:
        st.write_atomic(os.path.abspath(opts.pid_file), str(state.pid).encode(), 0o644)
    return state


def seccomp_cache_dir(root: str) -> str:
    """Beside the state root, not in it: everything in the root is a container's state."""
    return os.path.normpath(root) + ".cache"


def _make_cgroup(spec: Spec, container_id: str) -> tuple[CgroupManager, int | None]:
    """Create and configure the container's cgroup; also the pid of the warm-up helper, to reap."""
    from dockyard.runtime.cgroups import open_manager

    linux = spec.linux
    manager = open_manager(linux.cgroups_path if linux else None, container_id)
    manager.create()
    # why: started once the directories exist: mkdir waits on cgroup_mutex, which the helper holds while the
    # kernel waits (cgroups/warmup.py); writing limits does not, nor does anything until the init joins
    helper = warmup.start()
    manager.apply(cgroup_resources(spec))
    tracing.mark("runtime: cgroups made")
    return manager, helper


def _spawn(opts: CreateOptions, bundle: Bundle, manager: CgroupManager, state: st.State, directory: str) -> st.State:
    from dockyard.runtime import init
    from dockyard.runtime.linux.consts import PR_SET_CHILD_SUBREAPER
    from dockyard.runtime.linux.syscalls import LinuxSyscalls

    spec = bundle.spec
    assert spec.process is not None and spec.linux is not None
    plan = ns.plan_namespaces(spec.linux)
    cfg = init.InitConfig(
        spec=spec,
        process=spec.process,
        bundle=bundle.path,
        state_dir=directory,
        plan=plan,
        cgroup=manager,
        console_socket=os.path.abspath(opts.console_socket) if opts.console_socket else None,
        preserve_fds=opts.preserve_fds,
        seccomp=bundle.seccomp,
        # why: a cgroup namespace is rooted at its creator's cgroup: that child must join before it unshares
        join_cgroup=plan.has("cgroup"),
    )
    if not opts.detach:
        # why: with a pid namespace the init is our grandchild; a foreground `run` waits for it, and as a
        # subreaper inherits it when the intermediate exits (runc's `run` does the same)
        LinuxSyscalls().prctl(PR_SET_CHILD_SUBREAPER, 1)
    parent, child_end = ch.pair()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        parent.close()
        init.child_main(cfg, child_end)
    child_end.close()
    try:
        state = _record_pid(opts.root, state, child)
        _pause_at("child")
        msg = parent.recv()
        if isinstance(msg, ch.UsernsReady):
            ns.write_id_maps(child, spec.linux.uid_mappings, spec.linux.gid_mappings)
            parent.send(ch.UsernsMapped())
            msg = parent.recv()
        init_pid = _expect_pid(msg)
        tracing.mark("runtime: init pid")
        if init_pid != child:
            os.waitpid(child, 0)  # the intermediate exits right after reporting its child
            state = _record_pid(opts.root, state, init_pid)
        _start_init(spec, state, manager, parent, joined=cfg.join_cgroup)
        tracing.mark("runtime: init joined")
        parent.expect(ch.Ready, "wait for container init")
        tracing.mark("runtime: init ready")
    except ch.ChannelClosed:
        _raise_reported_failure(parent)
        raise
    finally:
        parent.close()
    state = state.with_changes(phase=st.CREATED, creator_pid=0, creator_start=0)
    st.save(opts.root, state)
    return state


def _expect_pid(msg: ch.Message | None) -> int:
    if isinstance(msg, ch.InitPid):
        return msg.pid
    if isinstance(msg, ch.Failure):
        raise msg.to_error()
    raise ch.ChannelClosed("wait for container init pid: container init exited before it was ready")


def _record_pid(root: str, state: st.State, pid: int) -> st.State:
    info = st.read_proc_info(pid)
    state = state.with_changes(pid=pid, pid_start=info.start_time if info else 0)
    st.save(root, state)
    return state


def _start_init(spec: Spec, state: st.State, manager: CgroupManager, chan: ch.Channel, *, joined: bool) -> None:
    """Runtime hooks, Proceed, and the init into the cgroup (unless its parent joined already), then CgroupJoined.

    Without prestart/createRuntime hooks the init gets Proceed first and sets up its rootfs while this process
    waits in the kernel for the cgroup.procs write (see init._cgroup_waiter); hooks see the init in its cgroup.
    """
    hooks = _has_runtime_hooks(spec)
    if hooks and not joined:
        _add_init(manager, state.pid, chan)
    _run_runtime_hooks(spec, state)
    chan.send(ch.Proceed(jsonio.dumps(st.oci_state(state, st.CREATING, spec.oci_version))))
    if not hooks and not joined:
        _add_init(manager, state.pid, chan)
    chan.send(ch.CgroupJoined())


def _add_init(manager: CgroupManager, pid: int, chan: ch.Channel) -> None:
    try:
        manager.add_process(pid)
    except DockyardError:
        _raise_reported_failure(chan)  # an init that failed meanwhile says why better than a refused write
        raise


def _raise_reported_failure(chan: ch.Channel) -> None:
    """Raise the Failure the init has already sent, if any (without waiting)."""
    ready, _, _ = select.select([chan], [], [], 0)
    msg = chan.recv() if ready else None
    if isinstance(msg, ch.Failure):
        raise msg.to_error() from None


def _has_runtime_hooks(spec: Spec) -> bool:
    return spec.hooks is not None and bool(spec.hooks.prestart or spec.hooks.create_runtime)


def _run_runtime_hooks(spec: Spec, state: st.State) -> None:
    hooks = spec.hooks
    if hooks is None or not _has_runtime_hooks(spec):
        return
    from dockyard.runtime.hooks import run_hooks

    body = st.oci_state(state, st.CREATING, spec.oci_version)
    run_hooks(hooks.prestart, body, "prestart")
    run_hooks(hooks.create_runtime, body, "createRuntime")


def _abort(root: str, container_id: str, manager: CgroupManager | None) -> None:
    """Undo a failed create: kill what was started, reap our children, destroy the cgroup, remove the state dir."""
    try:
        pid = st.load(root, container_id).pid
    except DockyardError:
        pid = 0
    if pid:
        _kill_quietly(pid, signal.SIGKILL)
    _reap_children()
    try:
        if manager is not None:
            destroy_cgroup(manager)
    finally:
        st.remove(root, container_id)


def _reap_children() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _kill_quietly(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_gone(pids: list[int], timeout: float = WAIT_GONE_SECONDS) -> bool:
    """Wait until every pid has exited (a pidfd turns readable on exit, even for a zombie or a non-child)."""
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
        finally:
            os.close(fd)
        if not ready:
            return False
    return True


def destroy_cgroup(manager: CgroupManager) -> None:
    """SIGKILL everything in the cgroup (thawing it so the signal lands), wait for it, remove the cgroup."""
    if not manager.exists():
        return
    pids = manager.pids()
    if pids:
        manager.kill_all(signal.SIGKILL)
        manager.thaw()
        wait_gone(list(pids))
    manager.destroy()


def start(container: ct.Container) -> None:
    """Release the init waiting on exec.fifo (runc's start): read its byte, remove the fifo, poststart hooks."""
    ct.can_start(container.status())
    pid = container.state.pid
    try:
        fifo = os.open(container.fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as err:
        raise Conflict("cannot start an already running container") from err
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        os.close(fifo)
        raise Conflict("cannot start a container that has stopped") from None
    try:
        # why: the pidfd catches an init that dies before opening the fifo, which would leave us waiting forever
        ready, _, _ = select.select([fifo, pidfd], [], [])
        data = os.read(fifo, 1) if fifo in ready else b""
    finally:
        os.close(fifo)
        os.close(pidfd)
    if not data:
        raise Conflict("cannot start a container that has stopped")
    os.unlink(container.fifo_path)
    _run_poststart(container)


def _run_poststart(container: ct.Container) -> None:
    hooks = load_saved_hooks(container, "poststart")
    if hooks:
        from dockyard.runtime.hooks import run_hooks

        run_hooks(hooks, container.oci_state(st.RUNNING), "poststart", warn_only=True)


def load_saved_hooks(container: ct.Container, phase: str) -> tuple[Any, ...]:
    """The hooks of `phase` from the config saved at create time; parses the full spec only when there are any."""
    try:
        with open(container.config_path(), "rb") as f:
            data = jsonio.loads(f.read())
    except (OSError, ValueError):
        return ()
    hooks = data.get("hooks") if isinstance(data, dict) else None
    if not isinstance(hooks, dict) or not hooks.get(phase):
        return ()
    from dockyard.oci.jsonmodel import decode
    from dockyard.oci.runtime_spec import Hook

    return tuple(decode(Hook, h, f"hooks.{phase}[{i}]") for i, h in enumerate(hooks[phase]))
