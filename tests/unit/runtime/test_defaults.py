"""default_spec matches `runc spec` byte for byte and is a valid Spec; write_default_spec refuses to overwrite."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.errors import Conflict, NotFound
from dockyard.oci.runtime_spec import Spec
from dockyard.runtime.defaults import default_spec, write_default_spec

RUNC = shutil.which("runc")


@pytest.mark.parametrize("rootless", [False, True])
def test_default_spec_is_a_valid_spec(rootless: bool) -> None:
    spec = Spec.from_json(default_spec(rootless=rootless))
    assert spec.process is not None and spec.process.args == ("sh",)
    assert spec.linux is not None
    assert (spec.linux.namespace("user") is not None) == rootless
    assert (spec.linux.namespace("network") is None) == rootless


def test_rootless_maps_the_callers_ids() -> None:
    linux = default_spec(rootless=True)["linux"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in linux


def test_default_spec_returns_fresh_objects() -> None:
    a = default_spec()
    a["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    a["mounts"][3]["options"].append("ro")
    b = default_spec()
    assert b["process"]["capabilities"]["bounding"] == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    assert "ro" not in b["mounts"][3]["options"]


@pytest.mark.skipif(RUNC is None, reason="runc is not installed")
@pytest.mark.parametrize("rootless", [False, True])
def test_same_bytes_as_runc_spec(tmp_path: Path, rootless: bool) -> None:
    assert RUNC is not None
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    write_default_spec(str(ours), rootless=rootless)
    cmd = [RUNC, "spec", "--bundle", str(theirs)] + (["--rootless"] if rootless else [])
    subprocess.run(cmd, check=True, capture_output=True)
    assert (ours / "config.json").read_bytes() == (theirs / "config.json").read_bytes()


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(Conflict) as info:
        write_default_spec(str(tmp_path), rootless=False)
    assert str(info.value) == "File config.json exists. Remove it first"
    assert (tmp_path / "config.json").read_text() == "{}"


def test_write_needs_the_bundle(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(NotFound) as info:
        write_default_spec(missing, rootless=False)
    assert str(info.value) == f"chdir `{missing}`: no such directory"
