"""Container state on disk and the status computed from /proc, the exec fifo and the freezer (all faked)."""

from __future__ import annotations

import os

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.runtime import state as st

INIT = 4242
CREATOR = 777


def _state(**changes: object) -> st.State:
    base = st.State(id="c1", bundle="/b", rootfs="/b/rootfs", created="2024-01-01T00:00:00.000000000Z")
    return base.with_changes(**changes)


def _procs(**alive: st.ProcInfo) -> object:
    table = {int(k[1:]): v for k, v in alive.items()}
    return lambda pid: table.get(pid)


def _status(state: st.State, procs: object, *, fifo: bool = False, frozen: bool = False) -> str:
    return st.compute_status(state, fifo_exists=lambda: fifo, frozen=lambda: frozen, proc_info=procs)  # type: ignore[arg-type]


LIVE = st.ProcInfo(start_time=100, zombie=False)


def test_created_while_fifo_exists_then_running() -> None:
    state = _state(phase=st.CREATED, pid=INIT, pid_start=100)
    procs = _procs(p4242=LIVE)
    assert _status(state, procs, fifo=True) == st.CREATED
    assert _status(state, procs, fifo=False) == st.RUNNING
    assert _status(state, procs, fifo=False, frozen=True) == st.PAUSED


def test_dead_zombie_or_reused_pid_is_stopped() -> None:
    state = _state(phase=st.CREATED, pid=INIT, pid_start=100)
    assert _status(state, _procs()) == st.STOPPED
    assert _status(state, _procs(p4242=st.ProcInfo(start_time=100, zombie=True))) == st.STOPPED
    reused = _procs(p4242=st.ProcInfo(start_time=999, zombie=False))
    assert _status(state, reused, fifo=True) == st.STOPPED


def test_creating_depends_on_the_creator() -> None:
    early = _state(creator_pid=CREATOR, creator_start=5)
    assert _status(early, _procs(p777=st.ProcInfo(start_time=5, zombie=False))) == st.CREATING
    assert _status(early, _procs()) == st.STOPPED, "a killed create is stopped, so delete cleans it"
    forked = early.with_changes(pid=INIT, pid_start=100)
    both = _procs(p777=st.ProcInfo(start_time=5, zombie=False), p4242=LIVE)
    assert _status(forked, both, fifo=True) == st.CREATING


def test_parse_proc_stat_handles_odd_command_names() -> None:
    fields = " ".join(["S"] + ["0"] * 18 + ["12345"] + ["0"] * 10)
    info = st.parse_proc_stat(f"42 (a) b) c) {fields}".encode())
    assert info == st.ProcInfo(start_time=12345, zombie=False)
    zombie = st.parse_proc_stat(f"42 (x) {fields.replace('S', 'Z', 1)}".encode())
    assert zombie is not None and zombie.zombie
    assert st.parse_proc_stat(b"42 (x) S 1") is None


def test_save_load_round_trip_and_atomic_dir(tmp_path: object) -> None:
    root = str(tmp_path)
    path = st.make_container_dir(root, "c1")
    assert os.stat(path).st_mode & 0o777 == 0o711
    state = _state(pid=INIT, pid_start=100, cgroups_path="/x/c1", annotations={"a": "b"})
    st.save(root, state)
    assert st.load(root, "c1") == state
    assert st.list_ids(root) == ["c1"]
    with pytest.raises(Conflict, match="container `c1` already exists"):
        st.make_container_dir(root, "c1")
    st.remove(root, "c1")
    with pytest.raises(NotFound, match="container `c1` does not exist"):
        st.load(root, "c1")


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a b", "ü", "a\n", "a:b"])
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid format"):
        st.validate_id(bad)


def test_valid_ids() -> None:
    for good in ("a", "A-z_0.9+x", "..."):
        st.validate_id(good)


def test_remove_takes_everything_and_tolerates_a_missing_dir(tmp_path: object) -> None:
    root = str(tmp_path)
    directory = st.make_container_dir(root, "c1")
    os.mkfifo(os.path.join(directory, st.FIFO_NAME))
    os.makedirs(os.path.join(directory, "sub", "deeper"))
    os.symlink("/", os.path.join(directory, "link"))
    st.remove(root, "c1")
    assert os.listdir(root) == []
    st.remove(root, "c1")


def test_oci_state_shape() -> None:
    state = _state(phase=st.CREATED, pid=INIT, annotations={"k": "v"})
    out = st.oci_state(state, st.RUNNING)
    assert out == {
        "ociVersion": st.OCI_VERSION, "id": "c1", "pid": INIT, "status": "running", "bundle": "/b",
        "rootfs": "/b/rootfs", "created": "2024-01-01T00:00:00.000000000Z", "owner": "", "annotations": {"k": "v"},
    }  # fmt: skip
    assert st.oci_state(state, st.STOPPED)["pid"] == 0


def test_rfc3339_has_nanoseconds() -> None:
    stamp = st.now_rfc3339()
    assert stamp.endswith("Z") and len(stamp.split(".")[1]) == 10
