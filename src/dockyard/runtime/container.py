"""The container state machine: which command is allowed in which status, with runc's messages; no side effects.

`Container` pairs a loaded `State` with its live status (state.compute_status over the real /proc, the exec fifo
and the cgroup freezer). The cgroups package is imported only when a live process needs the freezer probe, so
`state` and `list` of stopped containers stay import-light.
"""

from __future__ import annotations

import os

from dockyard.errors import Conflict, DockyardError
from dockyard.oci.model import Model
from dockyard.runtime import state as st

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

    from dockyard.runtime.cgroups import CgroupManager


def can_start(status: str) -> None:
    if status == st.CREATED:
        return
    reasons = {
        st.STOPPED: "cannot start a container that has stopped",
        st.RUNNING: "cannot start an already running container",
        st.PAUSED: "cannot start a paused container",
        st.CREATING: "cannot start a container that is still being created",
    }
    raise Conflict(reasons.get(status, f"cannot start a container in status {status}"))


def can_kill(status: str, *, all_processes: bool = False) -> None:
    # why: runc 1.1 lets `kill --all` reach leftovers in the cgroup of a stopped container
    if status in (st.CREATED, st.RUNNING, st.PAUSED, st.CREATING) or all_processes:
        return
    raise Conflict("container not running")


def can_delete(container_id: str, status: str, *, force: bool) -> None:
    # why: runc deletes a created container without --force (it kills the waiting init)
    if status in (st.STOPPED, st.CREATED) or force:
        return
    raise Conflict(f"cannot delete container `{container_id}` that is not stopped: {status}")


def can_pause(status: str) -> None:
    if status in (st.RUNNING, st.CREATED):
        return
    if status == st.PAUSED:
        raise Conflict("container already paused")
    raise Conflict("container not running")


def can_resume(status: str) -> None:
    if status != st.PAUSED:
        raise Conflict("container not paused")


def can_exec(status: str) -> None:
    if status in (st.CREATED, st.RUNNING):
        return
    if status == st.PAUSED:
        raise Conflict("cannot exec in a paused container")
    raise Conflict(f"cannot exec in a {status} container")


class Container(Model, kw_only=False):
    root: str
    state: st.State

    @classmethod
    def load(cls, root: str, container_id: str) -> Container:
        return cls(root, st.load(root, container_id))

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def directory(self) -> str:
        return st.container_dir(self.root, self.state.id)

    @property
    def fifo_path(self) -> str:
        return os.path.join(self.directory, st.FIFO_NAME)

    def cgroup(self) -> CgroupManager:
        from dockyard.runtime.cgroups import open_manager  # lazy: only live containers need the cgroup

        return open_manager(self.state.cgroups_path, self.state.id)

    def _frozen(self) -> bool:
        try:
            return bool(self.cgroup().frozen())
        except (OSError, DockyardError):
            return False

    def status(self) -> str:
        return st.compute_status(self.state, fifo_exists=lambda: os.path.exists(self.fifo_path), frozen=self._frozen)

    def alive(self) -> bool:
        return st.process_alive(self.state.pid, self.state.pid_start)

    def oci_state(self, status: str | None = None) -> dict[str, Any]:
        return st.oci_state(self.state, status or self.status())

    def config_path(self) -> str:
        return os.path.join(self.directory, st.CONFIG_FILE)
