"""The container state machine: what each status allows, with runc's messages."""

from __future__ import annotations

import pytest

from dockyard.errors import Conflict
from dockyard.runtime import container as ct
from dockyard.runtime import state as st


def test_start_only_from_created() -> None:
    ct.can_start(st.CREATED)
    for status, message in [
        (st.STOPPED, "cannot start a container that has stopped"),
        (st.RUNNING, "cannot start an already running container"),
        (st.PAUSED, "cannot start a paused container"),
        (st.CREATING, "cannot start a container that is still being created"),
    ]:
        with pytest.raises(Conflict, match=message):
            ct.can_start(status)


def test_kill() -> None:
    for status in (st.CREATED, st.RUNNING, st.PAUSED):
        ct.can_kill(status)
    with pytest.raises(Conflict, match="container not running"):
        ct.can_kill(st.STOPPED)
    ct.can_kill(st.STOPPED, all_processes=True)


def test_delete() -> None:
    ct.can_delete("c", st.STOPPED, force=False)
    ct.can_delete("c", st.CREATED, force=False)
    ct.can_delete("c", st.RUNNING, force=True)
    with pytest.raises(Conflict, match="cannot delete container `c` that is not stopped: running"):
        ct.can_delete("c", st.RUNNING, force=False)
    with pytest.raises(Conflict, match="not stopped: paused"):
        ct.can_delete("c", st.PAUSED, force=False)


def test_pause_resume_exec() -> None:
    ct.can_pause(st.RUNNING)
    with pytest.raises(Conflict, match="container already paused"):
        ct.can_pause(st.PAUSED)
    with pytest.raises(Conflict, match="container not running"):
        ct.can_pause(st.STOPPED)
    ct.can_resume(st.PAUSED)
    with pytest.raises(Conflict, match="container not paused"):
        ct.can_resume(st.RUNNING)
    ct.can_exec(st.RUNNING)
    ct.can_exec(st.CREATED)
    with pytest.raises(Conflict, match="cannot exec in a paused container"):
        ct.can_exec(st.PAUSED)
    with pytest.raises(Conflict, match="cannot exec in a stopped container"):
        ct.can_exec(st.STOPPED)
