"""Volumes and mounts end to end through the CLI: sharing a named volume, a tar backup restored byte for byte,
read-only mounts, copy-up, anonymous volumes with `rm -v` and `run --rm`, tmpfs, and Docker's error messages.

Every test uses a private data root; host paths live under pytest's tmp dirs (or /tmp/newdir-<uuid>, removed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, make_root

from privileged_gate import require

pytestmark = pytest.mark.privileged

BIND_MISSING = 'invalid mount config for type "bind": bind source path does not exist: /nope'


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(os.geteuid() == 0, "needs root")
    return make_root(tmp_path_factory.mktemp("dyt-vol"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    dy = Dockyard(image_root)
    yield dy
    for cid in dy("ps", "-aq", "--no-trunc").out.split():
        dy("rm", "-f", "-v", cid)
    dy("volume", "prune", "-a", "-f")
    assert dy.volumes() == [], "volumes left behind"
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(image_root / "volumes") not in mounts, "volume mounts left behind"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_writer_and_reader_share_a_named_volume(d: Dockyard) -> None:
    assert d.ok("volume", "create", "shared-data") == "shared-data\n"
    d.ok("run", "--rm", "-v", "shared-data:/data", "busybox", "sh", "-c", "echo hello > /data/file.txt")
    assert d.ok("run", "--rm", "-v", "shared-data:/data", "busybox", "cat", "/data/file.txt") == "hello\n"
    doc = d.ok("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}}", "shared-data")
    assert doc == f"shared-data local local {d.root}/volumes/shared-data/_data\n"


def test_backup_and_restore_byte_for_byte(d: Dockyard, tmp_path: Path) -> None:
    script = (
        "mkdir -p /data/sub && echo one > /data/a && head -c 100000 /dev/urandom > /data/sub/b && chown 7:8 /data/a"
    )
    d.ok("run", "--rm", "-v", "dbdata:/data", "busybox", "sh", "-c", script)
    backup = tmp_path / "backup"
    backup.mkdir()
    d.ok("run", "--rm", "-v", "dbdata:/data", "-v", f"{backup}:/backup", "busybox",
         "tar", "czf", "/backup/backup.tar.gz", "-C", "/data", ".")  # fmt: skip
    with tarfile.open(backup / "backup.tar.gz") as archive:
        assert {"./a", "./sub/b"} <= set(archive.getnames())
    d.ok("run", "--rm", "-v", "restored:/data", "-v", f"{backup}:/backup", "busybox",
         "tar", "xzf", "/backup/backup.tar.gz", "-C", "/data")  # fmt: skip
    original, restored = d.root / "volumes/dbdata/_data", d.root / "volumes/restored/_data"
    for name in ("a", "sub/b"):
        assert _sha256(original / name) == _sha256(restored / name)
    assert (os.stat(restored / "a").st_uid, os.stat(restored / "a").st_gid) == (7, 8)


def test_read_only_volume_refuses_writes(d: Dockyard) -> None:
    result = d("run", "--rm", "-v", "rovol:/data:ro", "busybox", "sh", "-c", "echo x > /data/f")
    assert result.code != 0
    assert "Read-only file system" in result.err


def test_named_volume_survives_its_container(d: Dockyard) -> None:
    d.ok("run", "-d", "--name", "writer", "-v", "keep:/data", "busybox", "sh", "-c", "echo kept > /data/k")
    assert d.ok("wait", "writer") == "0\n"
    d.ok("rm", "-v", "writer")  # -v removes anonymous volumes only
    assert "keep" in d.volumes()
    assert d.ok("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/k") == "kept\n"


def test_copy_up_keeps_ownership_and_is_not_repeated(d: Dockyard) -> None:
    out = d.ok("run", "--rm", "-v", "etcvol:/etc", "busybox", "stat", "-c", "%u %g %a", "/etc/passwd")
    assert out == "0 0 644\n"
    d.ok("run", "--rm", "-v", "etcvol:/etc", "busybox", "sh", "-c", "chown 5:6 /etc/passwd && rm /etc/group")
    out = d.ok("run", "--rm", "-v", "etcvol:/etc", "busybox", "sh", "-c", "stat -c '%u %g' /etc/passwd; ls /etc")
    assert out.splitlines()[0] == "5 6"
    assert "group" not in out.split()  # a volume with content is not filled again


def test_nocopy_leaves_the_volume_empty(d: Dockyard) -> None:
    listing = d.ok("run", "--rm", "-v", "empty:/etc:nocopy", "busybox", "ls", "-A", "/etc").split()
    assert "passwd" not in listing
    assert not (d.root / "volumes/empty/_data/passwd").exists()


def test_mount_bind_missing_source_is_refused(d: Dockyard) -> None:
    result = d("run", "--rm", "--mount", "type=bind,source=/nope,target=/x", "busybox", "true")
    assert result.code == 125
    assert BIND_MISSING in result.err
    assert d("ps", "-aq").out == ""


def test_volume_flag_creates_a_missing_host_dir(d: Dockyard) -> None:
    path = f"/tmp/newdir-{uuid.uuid4().hex}"
    try:
        d.ok("run", "--rm", "-v", f"{path}:/x", "busybox", "sh", "-c", "echo in > /x/f")
        assert Path(path, "f").read_text() == "in\n"
        assert os.stat(path).st_mode & 0o777 == 0o755
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_relative_host_path_and_invalid_name_are_refused(d: Dockyard) -> None:
    result = d("run", "--rm", "-v", "relative/dir:/x", "busybox", "true")
    assert result.code == 125
    assert 'create relative/dir: "relative/dir" includes invalid characters for a local volume name' in result.err
    assert "If you intended to pass a host directory, use absolute path" in result.err
    result = d("volume", "create", "bad$name")
    assert result.code == 1
    assert 'create bad$name: "bad$name" includes invalid characters for a local volume name' in result.err
    result = d("run", "--rm", "-v", "data:relative", "busybox", "true")
    assert result.code == 125
    assert (
        "invalid mount config for type \"volume\": invalid mount path: 'relative' mount path must be absolute"
        in result.err
    )


def test_volume_in_use_cannot_be_removed(d: Dockyard) -> None:
    cid = d.ok("create", "-v", "busy:/data", "busybox", "true").strip()
    result = d("volume", "rm", "busy")
    assert result.code == 1
    assert result.err.strip() == f"dockyard: Error response from daemon: remove busy: volume is in use - [{cid}]"
    result = d("volume", "rm", "-f", "busy")
    assert "volume is in use" in result.err
    d.ok("rm", cid)
    assert d.ok("volume", "rm", "busy") == "busy\n"


def test_anonymous_volumes_go_with_rm_v_and_run_rm(d: Dockyard) -> None:
    cid = d.ok("run", "-d", "-v", "/data", "busybox", "true").strip()
    d.ok("wait", cid)
    points = d.ok("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Destination}} {{.Driver}} {{.RW}}{{end}}", cid)
    assert points == "volume /data local true\n"
    assert len(d.volumes()) == 1
    d.ok("rm", "-v", cid)
    assert d.volumes() == []
    d.ok("run", "--rm", "-v", "/data", "-v", "named:/named", "busybox", "true")
    assert d.volumes() == ["named"]


def test_inspect_mounts_in_dockers_shape(d: Dockyard, tmp_path: Path) -> None:
    cid = d.ok("create", "-v", "insp:/data", "-v", f"{tmp_path}:/host:ro", "busybox", "true").strip()
    out = d.ok("inspect", "-f", "{{json .Mounts}}", cid)
    import json

    mounts = {m["Destination"]: m for m in json.loads(out)}
    assert mounts["/data"] == {"Type": "volume", "Name": "insp", "Source": f"{d.root}/volumes/insp/_data",
                               "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True,
                               "Propagation": ""}  # fmt: skip
    assert mounts["/host"] == {"Type": "bind", "Source": str(tmp_path), "Destination": "/host", "Mode": "ro",
                               "RW": False, "Propagation": "rprivate"}  # fmt: skip


def test_tmpfs_shows_in_mountinfo(d: Dockyard) -> None:
    out = d.ok("run", "--rm", "--tmpfs", "/run:rw,size=64m", "busybox", "grep", " /run ", "/proc/self/mountinfo")
    assert " - tmpfs tmpfs " in out
    assert "size=65536k" in out
    assert "noexec" in out.split(" - ")[0]


def test_volumes_from_shares_read_only(d: Dockyard) -> None:
    d.ok("create", "--name", "source", "-v", "vf:/shared", "busybox", "true")
    result = d("run", "--rm", "--volumes-from", "source:ro", "busybox", "sh", "-c", "ls -d /shared; touch /shared/x")
    assert result.out == "/shared\n"
    assert "Read-only file system" in result.err


def test_prune_takes_anonymous_volumes_unless_all(d: Dockyard) -> None:
    d.ok("volume", "create", "--label", "a=b", "labelled")
    d.ok("create", "-v", "/anon", "busybox", "true")
    d.ok("rm", d.ok("ps", "-aq").strip())  # without -v: the anonymous volume stays, unused
    anonymous = [v for v in d.volumes() if v != "labelled"]
    assert len(anonymous) == 1
    out = d.ok("volume", "prune", "-f")
    assert out == f"Deleted Volumes:\n{anonymous[0]}\n\nTotal reclaimed space: 0B\n"
    prompt = d("volume", "prune", stdin="n\n")
    assert prompt.out.startswith(
        "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
        "Are you sure you want to continue? [y/N]"
    )
    assert d.volumes() == ["labelled"]
    assert d.ok("volume", "ls", "--filter", "label=a=b", "-q") == "labelled\n"
    assert d.ok("volume", "ls") == "DRIVER    VOLUME NAME\nlocal     labelled\n"
    assert d.ok("volume", "prune", "-a", "-f", "--filter", "label=a=b").startswith("Deleted Volumes:\nlabelled\n")


def test_sigkilled_volume_create_leaves_no_half_made_volume(d: Dockyard) -> None:
    for _ in range(3):
        proc = subprocess.Popen(d.argv("volume", "create", "killed"), env=d.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        names = d.volumes()
        assert names in ([], ["killed"])
        if names:
            doc = d.ok("volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "killed")
            assert doc == "killed local\n"
            assert (d.root / "volumes/killed/_data").is_dir()
            d.ok("volume", "rm", "killed")
    leftovers = [p.name for p in (d.root / "volumes").iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert leftovers == []
