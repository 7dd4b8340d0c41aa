"""The parent side of create: validate the bundle, record state, fork the init, make the cgroup, sync.

Order (for start-up speed, measured in docs/benchmarks.md): when the spec asks for a new pid namespace and no
user namespace, this process unshares it itself, so the forked child is the init, pid 1 (no intermediate, see
`_direct_pid_namespace`). The init gets Proceed as soon as its pid is recorded and sets up its namespaces and
rootfs while this process makes the cgroup (CgroupMade once its directories exist: a cgroup v1 mount binds
them) and adds the init, then CgroupJoined. Otherwise the cgroup is made before the fork, with the warm-up
helper (cgroups/warmup.py): with a cgroup namespace the child joins itself before unsharing (the namespace is
rooted where it is); with prestart/createRuntime hooks the init joins before they run (hooks look it up); with a
user namespace the child unshares the pid namespace and forks the init. Nothing of the container runs before
`start` (lifecycle.py), and the init reports "ready" only once it is in its cgroup.

Contract with callers (the engine's monitor): the monitor makes itself PR_SET_CHILD_SUBREAPER and runs
`dockyard-runtime create`; the runtime exits once the init is ready, so the init is re-parented to the monitor,
which reaps it and reads its exit status. The init inherits create's stdin/stdout/stderr unless
process.terminal is set (runc's detached pass-through mode).

Nothing is left behind when create fails: bad input is refused before the state directory exists; any later
failure kills the child, destroys the cgroup this create made and removes the state directory. A runtime killed
mid-create leaves a state file (phase `creating`, with the init pid and cgroup recorded as soon as known) that
`delete --force` cleans, and the child exits when its channel closes.

Test hook: DOCKYARD_RUNTIME_TEST_PAUSE_AT=<stage> makes create SIGSTOP itself at `state-dir` (state file
written), `child` (init forked and recorded) or `cgroup` (cgroup created), so a test can SIGKILL it there.
"""

from __future__ import annotations

import os
import select
import sys

from dockyard import tracing
from dockyard.errors import DockyardError, InternalError, InvalidArgument
from dockyard.oci.model import Model, replace
from dockyard.oci.runtime_spec import Spec
from dockyard.runtime import channel as ch
from dockyard.runtime import jsonio
from dockyard.runtime import namespaces as ns
from dockyard.runtime import state as st
from dockyard.runtime.bundle import Bundle, cgroup_resources, load_bundle
from dockyard.runtime.cgroups import warmup
from dockyard.runtime.linux.consts import CLONE_NEWPID, PR_SET_CHILD_SUBREAPER

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    import signal

    from dockyard.runtime import init
    from dockyard.runtime.cgroups import CgroupManager
    from dockyard.runtime.linux.syscalls import Syscalls
else:
    import _signal as signal  # why: signal.py wraps these in IntEnums; enum costs ~3 ms of each runtime start

PAUSE_ENV = "DOCKYARD_RUNTIME_TEST_PAUSE_AT"


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
    made: list[CgroupManager] = []  # the cgroup once this create has made it: only that one is destroyed on failure
    helper: int | None = None
    try:
        tracing.mark("runtime: bundle loaded")
        st.save(opts.root, state)
        st.write_atomic(os.path.join(directory, st.CONFIG_FILE), bundle.raw)
        os.mkfifo(os.path.join(directory, st.FIFO_NAME), 0o622)
        os.chmod(os.path.join(directory, st.FIFO_NAME), 0o622)
        _pause_at("state-dir")
        manager = _open_cgroup(bundle.spec, opts.id)
        state, helper = _spawn(opts, bundle, manager, made, state, directory)
    except BaseException as err:
        _abort(opts.root, opts.id, made[0] if made else None, opts.pid_file)  # reaps every child, the helper too
        if isinstance(err, DockyardError | KeyboardInterrupt | SystemExit):
            raise
        if isinstance(err, OSError):
            raise InternalError(f"create container `{opts.id}`: {(err.strerror or str(err)).lower()}") from err
        raise
    warmup.reap(helper)
    return state


def seccomp_cache_dir(root: str) -> str:
    """Beside the state root, not in it: everything in the root is a container's state."""
    return os.path.normpath(root) + ".cache"


def _open_cgroup(spec: Spec, container_id: str) -> CgroupManager:
    from dockyard.runtime.cgroups import open_manager

    linux = spec.linux
    return open_manager(linux.cgroups_path if linux else None, container_id)


def _make_cgroup(
    spec: Spec, manager: CgroupManager, made: list[CgroupManager], chan: ch.Channel | None = None
) -> int | None:
    """Create and configure the container's cgroup; the pid of the warm-up helper, to reap (None: no helper).

    With `chan` (the init forked already, its pid known): CgroupMade once the directories exist, and no helper,
    because the caller adds the init right after, and that write starts the kernel's wait as early as a helper
    would have (cgroups/warmup.py), without a process to start on the way.
    """
    manager.create()
    made.append(manager)
    helper = None
    if chan is not None:
        chan.send(ch.CgroupMade())
    else:
        # why: started once the directories exist: mkdir waits on cgroup_mutex, which the helper holds while the
        # kernel waits; writing limits does not, nor does anything until the init joins
        helper = warmup.start()
    manager.apply(cgroup_resources(spec))
    tracing.mark("runtime: cgroups made")
    _pause_at("cgroup")
    return helper


def _direct_pid_namespace(plan: ns.NamespacePlan) -> bool:
    """Whether this process can unshare the new pid namespace itself, so that the forked init is its pid 1.

    why: runc's nsexec forks twice because Go cannot unshare a pid namespace and fork safely; a new pid namespace
    only applies to the caller's children, so the child would have to fork once more. Here the parent unshares it
    (and restores its own right after the fork), which saves that intermediate process. Not with a user namespace:
    the pid namespace must then be created inside it, by the child, after the parent has written the id maps.
    """
    return bool(plan.unshare_flags & CLONE_NEWPID) and not plan.has("user")


def _spawn(
    opts: CreateOptions,
    bundle: Bundle,
    manager: CgroupManager,
    made: list[CgroupManager],
    state: st.State,
    directory: str,
) -> tuple[st.State, int | None]:
    """Fork the init and take it to "ready"; the final state and the warm-up helper's pid.

    Common case (pid namespace made here, no runtime hooks, no cgroup namespace): the init gets Proceed as soon
    as its pid is recorded and sets up its namespaces and rootfs while this process makes the cgroup.
    """
    spec = bundle.spec
    assert spec.process is not None and spec.linux is not None
    plan = ns.plan_namespaces(spec.linux)
    direct = _direct_pid_namespace(plan)
    # why: a cgroup namespace is rooted at its creator's cgroup: that child must join before it unshares
    join_first = plan.has("cgroup")
    early = direct and not join_first and not _has_runtime_hooks(spec)
    cfg = _init_config(opts, bundle, manager, directory, plan, direct=direct, join_first=join_first)
    if not opts.detach:
        # why: with a pid namespace the init may be our grandchild; a foreground `run` waits for it, and as a
        # subreaper inherits it when the intermediate exits (runc's `run` does the same)
        _syscalls().prctl(PR_SET_CHILD_SUBREAPER, 1)
    helper = None if early else _make_cgroup(spec, manager, made)
    parent, child_end = ch.pair()
    try:
        child = _fork_init(cfg, parent, child_end, new_pid_namespace=direct)
        state = _record_pid(opts.root, state, child)
        _pause_at("child")
        if early:
            # why: the init is the child itself: it may set up its namespaces and rootfs while this process makes
            # the cgroup and adds it (the write that waits for the kernel), before it has even reported
            parent.send(ch.Proceed(jsonio.dumps(st.oci_state(state, st.CREATING, spec.oci_version))))
            _make_cgroup(spec, manager, made, parent)
            _add_init(manager, child, parent)
        msg = parent.recv()
        if isinstance(msg, ch.UsernsReady):
            ns.write_id_maps(child, spec.linux.uid_mappings, spec.linux.gid_mappings)
            parent.send(ch.UsernsMapped())
            msg = parent.recv()
        init_pid = _expect_pid(msg)
        tracing.mark("runtime: init pid")
        if direct:
            init_pid = child  # it reported its pid in its own namespace: 1
        elif init_pid != child:
            os.waitpid(child, 0)  # the intermediate exits right after reporting its child
            state = _record_pid(opts.root, state, init_pid)
        if early:
            parent.send(ch.CgroupJoined())
        else:
            _start_init(spec, state, manager, parent, joined=join_first)
        tracing.mark("runtime: init joined")
        # why: what follows "ready" delays the caller; the final state is encoded and the pid file written (runc
        # writes it after create, and removes it when create fails) while the init finishes its setup
        state = state.with_changes(phase=st.CREATED, creator_pid=0, creator_start=0)
        encoded = st.encode(state)
        if opts.pid_file:
            _write_pid_file(opts.pid_file, state.pid)
        parent.expect(ch.Ready, "wait for container init")
        tracing.mark("runtime: init ready")
    except ch.ChannelClosed:
        _raise_reported_failure(parent)
        raise
    finally:
        parent.close()
    st.save(opts.root, state, encoded)
    return state, helper


def _write_pid_file(path: str, pid: int) -> None:
    try:
        st.write_atomic(os.path.abspath(path), str(pid).encode(), 0o644)
    except OSError as err:
        raise InternalError(f"write pid file `{path}`: {(err.strerror or str(err)).lower()}") from err


def _init_config(
    opts: CreateOptions,
    bundle: Bundle,
    manager: CgroupManager,
    directory: str,
    plan: ns.NamespacePlan,
    *,
    direct: bool,
    join_first: bool,
) -> init.InitConfig:
    from dockyard.runtime import init

    spec = bundle.spec
    assert spec.process is not None
    return init.InitConfig(
        spec=spec,
        process=spec.process,
        bundle=bundle.path,
        state_dir=directory,
        plan=replace(plan, unshare_flags=plan.unshare_flags & ~CLONE_NEWPID) if direct else plan,  # made here
        cgroup=manager,
        console_socket=os.path.abspath(opts.console_socket) if opts.console_socket else None,
        preserve_fds=opts.preserve_fds,
        seccomp=bundle.seccomp,
        join_cgroup=join_first,
    )


def _syscalls() -> Syscalls:
    from dockyard.runtime.linux.syscalls import LinuxSyscalls

    return LinuxSyscalls()


def _fork_init(cfg: init.InitConfig, parent: ch.Channel, child_end: ch.Channel, *, new_pid_namespace: bool) -> int:
    """Fork the container's init (the child runs init.child_main and never returns here); its pid.

    With `new_pid_namespace` this process unshares the pid namespace just for this fork (see
    _direct_pid_namespace) and joins its own again at once, so that no later child (hooks, helpers) lands in it.
    """
    from dockyard.runtime import init

    calls = _syscalls()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC) if new_pid_namespace else -1
    try:
        if new_pid_namespace:
            calls.unshare(CLONE_NEWPID)
        sys.stdout.flush()
        sys.stderr.flush()
        child = os.fork()
        if child == 0:
            parent.close()
            init.child_main(cfg, child_end)
    finally:
        if own >= 0:
            try:
                calls.setns(own, CLONE_NEWPID)
            finally:
                os.close(own)
        child_end.close()
    return child


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
    chan.send(ch.CgroupMade())
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


def _abort(root: str, container_id: str, manager: CgroupManager | None, pid_file: str | None) -> None:
    """Undo a failed create: kill what was started, reap our children, destroy the cgroup, remove the state dir
    and the pid file."""
    if pid_file:
        _remove_quietly(os.path.abspath(pid_file))
    try:
        pid = st.load(root, container_id).pid
    except DockyardError:
        pid = 0
    if pid:
        _kill_quietly(pid, signal.SIGKILL)
    _reap_children()
    try:
        if manager is not None:
            from dockyard.runtime.lifecycle import destroy_cgroup  # why here: lifecycle imports this module

            destroy_cgroup(manager)
    finally:
        st.remove(root, container_id)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
