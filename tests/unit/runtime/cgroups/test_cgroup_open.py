"""Unit tests for cgroups/__init__.py (layout detection, cgroupsPath rules) and cgroups/files.py."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, SyscallError, Unavailable, Unsupported
from dockyard.runtime.cgroups import detect_version, files, open_manager, resolve_path, v1, v2


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, "/dockyard/abc"), ("", "/dockyard/abc"), ("/a//b/", "/a/b"), ("a/b", "/a/b"), ("/x:y", "/x:y")],
)
def test_resolve_path(given: str | None, expected: str) -> None:
    assert resolve_path(given, "abc") == expected


def test_systemd_paths_are_refused() -> None:
    with pytest.raises(Unsupported) as info:
        resolve_path("system.slice:docker:abc", "abc")
    assert str(info.value) == (
        "cgroupsPath `system.slice:docker:abc`: the systemd form `slice:prefix:name` is not supported"
    )


@pytest.mark.parametrize(
    ("given", "cid", "message"),
    [
        ("/a/../b", "abc", "cgroupsPath `/a/../b`: must not contain `..`"),
        ("//", "abc", "cgroupsPath `//`: must name a cgroup below the hierarchy root"),
        (None, "a/b", "cgroup for container `a/b`: not a valid container id"),
        (None, "", "cgroup for container ``: not a valid container id"),
    ],
)
def test_bad_paths(given: str | None, cid: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve_path(given, cid)
    assert str(info.value) == message


def test_detects_v2_by_cgroup_controllers(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    (tmp_path / "memory").mkdir()  # a stray directory must not make it v1
    assert detect_version(str(tmp_path)) == 2
    assert isinstance(open_manager("/c", "c", root=str(tmp_path)), v2.V2Manager)


def test_detects_hybrid_v1_with_named_and_unified_hierarchies(tmp_path: Path) -> None:
    for name in ("cpu,cpuacct", "memory", "systemd", "unified", "net_cls,net_prio"):
        (tmp_path / name).mkdir()
    (tmp_path / "cpu").symlink_to("cpu,cpuacct")
    (tmp_path / "unified" / "cgroup.controllers").write_text("")
    assert detect_version(str(tmp_path)) == 1
    found = v1.find_hierarchies(str(tmp_path))
    co = str((tmp_path / "cpu,cpuacct").resolve())
    assert found == {
        "cpu": co,
        "cpuacct": co,
        "memory": str((tmp_path / "memory").resolve()),
        "net_cls": str((tmp_path / "net_cls,net_prio").resolve()),
        "net_prio": str((tmp_path / "net_cls,net_prio").resolve()),
        "name=systemd": str((tmp_path / "systemd").resolve()),
        "unified": str((tmp_path / "unified").resolve()),
    }


def test_no_hierarchy(tmp_path: Path) -> None:
    with pytest.raises(Unsupported, match=r"no cgroup v1 controller hierarchy found$"):
        open_manager(None, "abc", root=str(tmp_path))
    with pytest.raises(Unsupported, match=r"^cgroups `.*/missing`: no cgroup filesystem is mounted there$"):
        open_manager(None, "abc", root=str(tmp_path / "missing"))


def test_open_manager_is_deterministic_across_instances(tmp_path: Path) -> None:
    (tmp_path / "pids").mkdir()
    first = open_manager("/dockyard/abc", "abc", root=str(tmp_path))
    first.create()
    (tmp_path / "pids/dockyard/abc/cgroup.procs").write_text("")
    first.add_process(1234)
    second = open_manager("/dockyard/abc", "abc", root=str(tmp_path))
    assert second.path == first.path and second.pids() == [1234] and second.exists()


@pytest.mark.parametrize(
    ("err", "kind", "message"),
    [
        (errno.EINVAL, files.CgroupValueError, "cgroup `pids.max` = `-5`: invalid argument"),
        (errno.EBUSY, files.CgroupValueError, "cgroup `pids.max` = `-5`: device or resource busy"),
        (errno.EACCES, SyscallError, "write `{d}/pids.max`: permission denied"),
    ],
)
def test_write_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int, kind: type[Exception], message: str
) -> None:
    (tmp_path / "pids.max").write_text("max")

    def refuse(fd: int, data: bytes) -> int:
        raise OSError(err, "refused")

    monkeypatch.setattr(files.os, "write", refuse)
    with pytest.raises(kind) as info:
        files.write(str(tmp_path), "pids.max", "-5")
    assert str(info.value) == message.format(d=tmp_path)


def test_write_to_a_missing_file_is_a_syscall_error(tmp_path: Path) -> None:
    with pytest.raises(SyscallError) as info:
        files.write(str(tmp_path), "nope", "1")
    assert info.value.errno == errno.ENOENT


def test_remove_tree_retries_ebusy_then_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cg" / "child").mkdir(parents=True)
    calls: list[str] = []

    def busy_twice(path: str) -> None:
        calls.append(path)
        if len(calls) <= 2:
            raise OSError(errno.EBUSY, "busy")
        Path(path).rmdir()

    monkeypatch.setattr(files, "_rmdir", busy_twice)
    files.remove_tree(str(tmp_path / "cg"))
    assert calls == [str(tmp_path / "cg/child")] * 3 + [str(tmp_path / "cg")]
    assert not (tmp_path / "cg").exists()
    files.remove_tree(str(tmp_path / "cg"))  # already gone: fine

    (tmp_path / "stuck").mkdir()
    monkeypatch.setattr(files, "REMOVE_TIMEOUT", 0.01)
    monkeypatch.setattr(files, "_rmdir", lambda path: (_ for _ in ()).throw(OSError(errno.EBUSY, "busy")))
    with pytest.raises(SyscallError, match=r"^rmdir `.*/stuck`: device or resource busy$"):
        files.remove_tree(str(tmp_path / "stuck"))


def test_wait_for_times_out() -> None:
    with pytest.raises(Unavailable, match=r"^freeze cgroup `/x`: timed out$"):
        files.wait_for("freeze cgroup", "/x", lambda: False, 0.01)


def test_readers_tolerate_missing_and_max(tmp_path: Path) -> None:
    (tmp_path / "pids.max").write_text("max\n")
    (tmp_path / "cpu.stat").write_text("usage_usec 10\nbogus line here\nnr_periods 2\n")
    assert files.read_int(str(tmp_path), "pids.max") is None
    assert files.read_int(str(tmp_path), "absent") is None
    assert files.read_keyed(str(tmp_path), "cpu.stat") == {"usage_usec": 10, "nr_periods": 2}
    assert files.read_keyed(str(tmp_path), "absent") == {}
    assert files.procs(str(tmp_path / "gone")) == []


def test_v1_membership_names_the_container_cgroup_in_every_hierarchy_it_joins() -> None:
    manager = v1.V1Manager("/dockyard/c1", {"cpu": "/cg/cpu,cpuacct", "cpuacct": "/cg/cpu,cpuacct",
                                            "memory": "/cg/memory", "name=systemd": "/cg/systemd",
                                            "unified": "/cg/unified"})  # fmt: skip
    now = "12:hugetlb:/user.slice\n4:cpu,cpuacct:/user.slice\n3:memory:/\n1:name=systemd:/user.slice/s.scope\n0::/x\n"
    assert manager.membership(now) == (
        "12:hugetlb:/user.slice\n4:cpu,cpuacct:/dockyard/c1\n3:memory:/dockyard/c1\n"
        "1:name=systemd:/dockyard/c1\n0::/dockyard/c1\n"
    )  # a hierarchy the manager does not use (hugetlb here) keeps the current cgroup: add_process leaves it


def test_v2_membership_replaces_the_unified_line_only() -> None:
    assert v2.V2Manager("/dockyard/c1", "/cg").membership("0::/user.slice\n") == "0::/dockyard/c1\n"
