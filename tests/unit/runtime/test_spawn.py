"""spawn.py's pure decisions (who creates the pid namespace), bundle.warm_up (the forking caller's cache) and
lifecycle's reading of the hooks saved at create time."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.oci import jsonmodel
from dockyard.oci.runtime_spec import Linux, Mount, Spec
from dockyard.runtime import container as ct
from dockyard.runtime import namespaces as ns
from dockyard.runtime import state as st
from dockyard.runtime.bundle import warm_up
from dockyard.runtime.lifecycle import load_saved_hooks
from dockyard.runtime.spawn import _direct_pid_namespace


def _plan(*namespaces: dict[str, str]) -> ns.NamespacePlan:
    linux: dict[str, object] = {"namespaces": list(namespaces)}
    if {"type": "user"} in namespaces:
        ids = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        linux |= {"uidMappings": ids, "gidMappings": ids}
    return ns.plan_namespaces(jsonmodel.decode(Linux, linux))


@pytest.mark.parametrize(
    ("namespaces", "direct"),
    [
        ([{"type": "pid"}, {"type": "mount"}], True),
        ([{"type": "pid"}, {"type": "mount"}, {"type": "network", "path": "/run/netns/x"}], True),
        ([{"type": "pid"}, {"type": "mount"}, {"type": "cgroup"}], True),  # the child joins, then unshares
        ([{"type": "mount"}], False),  # no pid namespace: the child is the init anyway
        ([{"type": "pid", "path": "/proc/1/ns/pid"}, {"type": "mount"}], False),  # joined: the child forks
        ([{"type": "pid"}, {"type": "mount"}, {"type": "user"}], False),  # made inside the user namespace
        ([{"type": "pid"}, {"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}], False),
    ],
)
def test_who_creates_the_pid_namespace(namespaces: list[dict[str, str]], direct: bool) -> None:
    assert _direct_pid_namespace(_plan(*namespaces)) is direct


def test_warm_up_resolves_every_spec_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonmodel, "_hints_cache", {})
    warm_up()
    assert {Spec, Linux, Mount} <= set(jsonmodel._hints_cache)
    resolved = dict(jsonmodel._hints_cache)
    Spec.from_json({"ociVersion": "1.0.2", "mounts": [{"destination": "/x"}], "linux": {}})
    assert jsonmodel._hints_cache == resolved  # nothing left to resolve at decode time


def _saved(tmp_path: Path, config: bytes) -> ct.Container:
    state = st.State(id="c1", bundle="/b", rootfs="/b/rootfs", created="2024-01-01T00:00:00Z")
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1" / st.CONFIG_FILE).write_bytes(config)
    return ct.Container(str(tmp_path), state)


@pytest.mark.parametrize(
    ("config", "found"),
    [
        (b'{"ociVersion":"1.0.2","process":{"args":["true"]}}', 0),
        (b'{"hooks":{"poststart":[{"path":"/bin/true"}]}}', 1),
        (b'{"\\u0068ooks":{"poststart":[{"path":"/bin/true"},{"path":"/bin/false"}]}}', 2),  # an escaped key
        (b'{"hooks":{"prestart":[{"path":"/bin/true"}]}}', 0),
    ],
)
def test_saved_hooks_are_found_however_the_key_is_spelled(tmp_path: Path, config: bytes, found: int) -> None:
    assert len(load_saved_hooks(_saved(tmp_path, config), "poststart")) == found


def test_a_pid_file_that_cannot_be_written_is_an_internal_error_naming_it(tmp_path: Path) -> None:
    from dockyard.errors import InternalError
    from dockyard.runtime import spawn

    path = tmp_path / "missing" / "init.pid"
    with pytest.raises(InternalError) as err:
        spawn._write_pid_file(str(path), 42)
    assert err.value.message == f"write pid file `{path}`: no such file or directory"
