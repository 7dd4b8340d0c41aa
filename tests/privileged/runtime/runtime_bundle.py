"""Helpers for the dockyard-runtime privileged tests: a busybox bundle and a runtime CLI bound to a temp --root."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import privileged_gate

BUSYBOX = "/bin/busybox"
RUNTIME = [sys.executable, "-m", "dockyard.runtime.cli"]
TIMEOUT = 60
# cgroupsPath parents the tests use; removed once empty
TEST_CGROUP_PARENTS = ("dockyard-test", "dockyard-bad")


def _base_config() -> dict[str, Any]:
    """runc's default config.json (from `runc spec` when runc is installed, else ours, which is byte-identical)."""
    runc = shutil.which("runc")
    if runc:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([runc, "spec"], cwd=tmp, check=True)
            with open(os.path.join(tmp, "config.json")) as f:
                config: dict[str, Any] = json.load(f)
    else:
        from dockyard.runtime.defaults import default_spec

        config = default_spec(rootless=False)
    config["process"]["terminal"] = False
    return config


_BASE: dict[str, Any] | None = None


def base_config() -> dict[str, Any]:
    global _BASE
    if _BASE is None:
        _BASE = _base_config()
    return copy.deepcopy(_BASE)


def make_rootfs(path: str) -> None:
    privileged_gate.require(os.path.exists(BUSYBOX), f"needs {BUSYBOX} (Debian's busybox-static)")
    bindir = os.path.join(path, "bin")
    os.makedirs(bindir)
    shutil.copy2(BUSYBOX, os.path.join(bindir, "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and "/" not in applet:
            os.symlink("busybox", os.path.join(bindir, applet))
    for d in ("proc", "sys", "dev", "tmp", "etc", "root"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")


@dataclass
class Bundle:
    path: str
    config: dict[str, Any]

    @property
    def rootfs(self) -> str:
        return os.path.join(self.path, "rootfs")

    def write(self) -> Bundle:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=1)
        return self

    def set_args(self, *args: str) -> Bundle:
        self.config["process"]["args"] = list(args)
        return self.write()


@dataclass
class Runtime:
    root: str
    created: list[str] = field(default_factory=list)

    def __call__(self, *args: str, check: bool = False, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run the runtime; output goes through files, not pipes: a container inherits create's stdio and would
        hold a pipe open long after the runtime exits."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            code = subprocess.run([*RUNTIME, "--root", self.root, *args], stdout=out, stderr=err, timeout=TIMEOUT, **kw)
            out.seek(0)
            err.seek(0)
            proc = subprocess.CompletedProcess(code.args, code.returncode, out.read().decode(), err.read().decode())
        if check and proc.returncode != 0:
            pytest.fail(f"dockyard-runtime {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def new_id(self) -> str:
        cid = f"t-{uuid.uuid4().hex[:10]}"
        self.created.append(cid)
        return cid

    def state(self, cid: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self(*["state", cid], check=True).stdout)
        return result

    def status(self, cid: str) -> str:
        return str(self.state(cid)["status"])

    def wait_status(self, cid: str, wanted: str, timeout: float = 10.0) -> str:
        """Poll `state` until the status is `wanted` (a missing container counts as status "missing")."""
        deadline = time.monotonic() + timeout
        while True:
            result = self("state", cid)
            status = json.loads(result.stdout)["status"] if result.returncode == 0 else "missing"
            if status == wanted or time.monotonic() > deadline:
                return str(status)
            time.sleep(0.05)

    def cleanup(self) -> None:
        for cid in self.created:
            self("delete", "--force", cid)
        for parent in TEST_CGROUP_PARENTS:
            for directory in cgroup_dirs(parent):
                try:
                    os.rmdir(directory)
                except OSError:
                    pass  # not empty: another test's cgroup is still there


@pytest.fixture(name="runtime")
def runtime_fixture() -> Iterator[Runtime]:
    root = tempfile.mkdtemp(prefix="dyrt-root-")
    rt = Runtime(root)
    try:
        yield rt
    finally:
        rt.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(name="make_bundle")
def make_bundle_fixture() -> Iterator[Callable[..., Bundle]]:
    """A factory of busybox bundles in world-traversable temp dirs (a user-namespaced root must reach them)."""
    made: list[str] = []

    def factory(*args: str) -> Bundle:
        path = tempfile.mkdtemp(prefix="dyrt-bundle-")
        os.chmod(path, 0o755)
        made.append(path)
        make_rootfs(os.path.join(path, "rootfs"))
        bundle = Bundle(path, base_config())
        bundle.config["process"]["args"] = list(args or ("true",))
        return bundle.write()

    try:
        yield factory
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


def cgroup_dirs(relative: str) -> list[str]:
    """Every existing v1 hierarchy directory (and the v2 one) for a cgroup path relative to the roots."""
    base = "/sys/fs/cgroup"
    out = []
    for name in sorted(os.listdir(base)):
        candidate = os.path.join(base, name, relative.lstrip("/"))
        if os.path.isdir(candidate):
            out.append(candidate)
    return out


def mountinfo() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split(" ", 4)[4] for line in f)
