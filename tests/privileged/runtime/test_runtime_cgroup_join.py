"""When the container's processes enter its cgroup (spawn.py: the parent adds the init while it sets up): hooks,
the init and the container's program are in the cgroup; with a cgroup namespace the init joins before unsharing.
Also the launcher and `python -m` entry points run containers alike."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest
from runtime_bundle import Bundle, Runtime, make_bundle_fixture, runtime_fixture  # noqa: F401

from dockyard.runtime import launcher

pytestmark = pytest.mark.privileged
MakeBundle = Callable[..., Bundle]

HOOK = """#!/bin/sh
pid=$(sed 's/.*"pid":\\([0-9]*\\).*/\\1/')
cat /proc/$pid/cgroup > {out}/$1.init
cat /proc/self/cgroup > {out}/$1.self
"""


def _paths(text: str) -> dict[str, str]:
    """hierarchy (controllers, or "" for cgroup2) → path, from /proc/<pid>/cgroup text."""
    out = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        out[controllers] = path
    return out


def _in_cgroup(text: str, path: str) -> bool:
    paths = _paths(text)
    return paths.get("memory") == path and paths.get("pids") == path and paths.get("devices") == path


def test_hooks_see_the_init_in_its_cgroup_and_run_in_it(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("cat", "/proc/self/cgroup")
    out = os.path.join(bundle.path, "out")
    os.mkdir(out)
    script = os.path.join(bundle.path, "hook.sh")
    with open(script, "w") as f:
        f.write(HOOK.format(out=out))
    os.chmod(script, 0o755)
    cid = runtime.new_id()
    cgroup = f"/dockyard-test/{cid}"
    bundle.config["linux"]["cgroupsPath"] = cgroup
    phases = ("createRuntime", "createContainer")
    bundle.config["hooks"] = {p: [{"path": script, "args": ["hook.sh", p]}] for p in phases}
    bundle.write()
    result = runtime("run", "--bundle", bundle.path, cid, check=True)
    assert _in_cgroup(result.stdout, cgroup), result.stdout
    for phase in phases:
        with open(os.path.join(out, f"{phase}.init")) as f:
            assert _in_cgroup(f.read(), cgroup), phase
    with open(os.path.join(out, "createContainer.self")) as f:
        assert _in_cgroup(f.read(), cgroup), "createContainer hooks run inside the container's cgroup"


def test_without_hooks_the_program_and_its_children_are_in_the_cgroup(
    runtime: Runtime, make_bundle: MakeBundle
) -> None:
    bundle = make_bundle("sh", "-c", "cat /proc/self/cgroup; (cat /proc/self/cgroup)")
    cid = runtime.new_id()
    cgroup = f"/dockyard-test/{cid}"
    bundle.config["linux"]["cgroupsPath"] = cgroup
    bundle.write()
    result = runtime("run", "--bundle", bundle.path, cid, check=True)
    lines = result.stdout.splitlines()
    half = len(lines) // 2
    assert half > 0 and _in_cgroup("\n".join(lines[:half]), cgroup) and _in_cgroup("\n".join(lines[half:]), cgroup)


def test_cgroup_namespace_is_rooted_at_the_container_cgroup(runtime: Runtime, make_bundle: MakeBundle) -> None:
    bundle = make_bundle("sh", "-c", "cat /proc/self/cgroup; sleep 100")
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    cid = runtime.new_id()
    cgroup = f"/dockyard-test/{cid}"
    bundle.config["linux"]["cgroupsPath"] = cgroup
    bundle.write()
    runtime("create", "--bundle", bundle.path, cid, check=True)
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        assert _in_cgroup(f.read(), cgroup)
    assert os.readlink(f"/proc/{pid}/ns/cgroup") != os.readlink("/proc/self/ns/cgroup")
    runtime("delete", "--force", cid, check=True)


def test_the_launcher_runs_a_container(runtime: Runtime, make_bundle: MakeBundle, tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "dockyard-runtime")
    launcher.write_launcher(path)
    bundle = make_bundle("echo", "from-the-launcher")
    cid = runtime.new_id()
    argv = [path, "--root", runtime.root, "run", "--bundle", bundle.path, cid]
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "from-the-launcher\n", "")
    assert not os.path.exists(os.path.join(runtime.root, cid))
