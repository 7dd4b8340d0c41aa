"""Namespace plans from a spec: join order, unshare flags, forks for pid namespaces, and the id-map text."""

from __future__ import annotations

import os

import pytest

from dockyard.errors import SpecError, Unsupported
from dockyard.oci.runtime_spec import IdMapping, Linux, Namespace
from dockyard.runtime import namespaces as ns
from dockyard.runtime.linux import consts as c
from dockyard.runtime.linux.recording import RecordingSyscalls


def _linux(*items: tuple[str, str | None]) -> Linux:
    return Linux(namespaces=tuple(Namespace(type=t, path=p) for t, p in items))


def test_new_namespaces_become_one_unshare() -> None:
    plan = ns.plan_namespaces(_linux(("pid", None), ("network", None), ("mount", None), ("ipc", None), ("uts", None)))
    assert plan.join == ()
    assert not plan.new_user
    assert plan.unshare_flags == c.CLONE_NEWPID | c.CLONE_NEWNET | c.CLONE_NEWNS | c.CLONE_NEWIPC | c.CLONE_NEWUTS
    assert plan.needs_fork


def test_user_namespace_is_separate_and_joins_are_ordered() -> None:
    plan = ns.plan_namespaces(
        _linux(("network", "/n"), ("pid", "/p"), ("mount", None), ("user", "/u"), ("ipc", "/i"), ("uts", None))
    )
    assert [kind for kind, _ in plan.join] == ["user", "network", "ipc", "pid"]
    assert plan.unshare_flags == c.CLONE_NEWNS | c.CLONE_NEWUTS
    assert plan.needs_fork, "a joined pid namespace also needs a fork"
    fresh = ns.plan_namespaces(_linux(("user", None), ("mount", None)))
    assert fresh.new_user and fresh.unshare_flags == c.CLONE_NEWNS and not fresh.needs_fork


def test_mount_joined_right_after_user() -> None:
    plan = ns.plan_namespaces(_linux(("uts", "/t"), ("mount", "/m"), ("user", "/u")))
    assert [kind for kind, _ in plan.join] == ["user", "mount", "uts"]


def test_time_namespace_is_unsupported() -> None:
    with pytest.raises(Unsupported, match=r"linux.namespaces\[1\].type`: namespace `time` is not supported"):
        ns.plan_namespaces(_linux(("mount", None), ("time", None)))


def test_missing_namespace_path(tmp_path: object) -> None:
    with pytest.raises(SpecError, match=r"linux.namespaces\[0\].path`: `/no/such` does not exist"):
        ns.check_paths(_linux(("network", "/no/such")))


def test_id_map_text() -> None:
    maps = (IdMapping(container_id=0, host_id=100000, size=65536), IdMapping(container_id=65536, host_id=1, size=1))
    assert ns.id_map_text(maps) == "0 100000 65536\n65536 1 1\n"
    assert ns.maps_root(maps)
    assert not ns.maps_root(maps[1:])


def test_setgroups_deny_only_for_unprivileged_writers() -> None:
    assert not ns.needs_setgroups_deny(0)
    assert ns.needs_setgroups_deny(1000)


def test_join_all_setns_in_order_and_closes(tmp_path: object) -> None:
    fds = [("user", os.open("/dev/null", os.O_RDONLY)), ("network", os.open("/dev/null", os.O_RDONLY))]
    sys = RecordingSyscalls()
    ns.join_all(fds, sys)
    assert [call.args[1] for call in sys.named("setns")] == [c.CLONE_NEWUSER, c.CLONE_NEWNET]
    for _, fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


def test_exec_join_plan_skips_our_own_namespaces() -> None:
    assert ns.exec_join_plan(os.getpid()) == ()
