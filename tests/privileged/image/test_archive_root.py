"""apply_layer and diff_layer as root: owners, setgid directories, devices, capabilities, and a real overlay."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import privileged_gate
from dockyard.image.archive import apply_layer, diff_layer
from fixtures.malicious_layers import directory, entry, file, hardlink, symlink, tar

pytestmark = pytest.mark.privileged

# struct vfs_cap_data, revision 2, effective flag, permitted = CAP_NET_BIND_SERVICE (bit 10)
CAPABILITY = (0x02000001).to_bytes(4, "little") + (1 << 10).to_bytes(4, "little") + bytes(12)


def apply(root: Path, *entries: tuple[tarfile.TarInfo, bytes]) -> None:
    apply_layer(io.BytesIO(tar(*entries)), str(root))


def test_owners_are_numeric_and_a_setgid_lower_dir_does_not_leak_its_group(tmp_path: Path) -> None:
    apply(tmp_path, directory("sg", mode=0o2775, gid=50))
    apply(
        tmp_path,
        file("sg/root-owned", uid=0, gid=0, uname="nobody", gname="nogroup"),
        file("sg/user", uid=1000, gid=1001, mode=0o4750),
        directory("sg/sub", uid=0, gid=0, mode=0o755),
        symlink("sg/link", "user", uid=1000, gid=1001),
    )
    st = os.stat(tmp_path / "sg/root-owned")
    assert (st.st_uid, st.st_gid) == (0, 0)
    st = os.stat(tmp_path / "sg/user")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o4750)
    st = os.stat(tmp_path / "sg/sub")
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0o755)
    st = os.lstat(tmp_path / "sg/link")
    assert (st.st_uid, st.st_gid) == (1000, 1001)


def test_devices_with_owner_mode_and_time(tmp_path: Path) -> None:
    apply(
        tmp_path,
        entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666, uid=5, gid=6, mtime=777),
        entry("dev/loop9", tarfile.BLKTYPE, devmajor=7, devminor=9, mode=0o660, gid=6),
        entry("run/fifo", tarfile.FIFOTYPE, mode=0o620),
        hardlink("dev/null2", "dev/null"),
    )
    st = os.lstat(tmp_path / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime, st.st_nlink) == (0o666, 5, 6, 777, 2)
    st = os.lstat(tmp_path / "dev/loop9")
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(7, 9) and stat.S_IMODE(st.st_mode) == 0o660
    assert stat.S_ISFIFO(os.lstat(tmp_path / "run/fifo").st_mode)


def test_security_capability_survives_chown_and_overlay_xattrs_are_dropped(tmp_path: Path) -> None:
    value = CAPABILITY.decode("utf-8", "surrogateescape")
    apply(
        tmp_path,
        file(
            "bin/ping",
            uid=1000,
            mode=0o755,
            pax_headers={"SCHILY.xattr.security.capability": value, "SCHILY.xattr.trusted.overlay.opaque": "y"},
        ),
        directory("d", pax_headers={"SCHILY.xattr.trusted.note": "kept", "SCHILY.xattr.trusted.overlay.origin": "x"}),
    )
    assert os.getxattr(tmp_path / "bin/ping", "security.capability") == CAPABILITY
    assert "trusted.overlay.opaque" not in os.listxattr(tmp_path / "bin/ping")
    assert os.listxattr(tmp_path / "d") == ["trusted.note"]


@pytest.fixture
def overlay(tmp_path: Path) -> Iterator[dict[str, Path]]:
    dirs = {name: tmp_path / name for name in ("lower", "upper", "work", "merged")}
    for path in dirs.values():
        path.mkdir()
    apply(
        dirs["lower"],
        file("etc/gone", b"old\n"),
        file("etc/kept", b"kept\n"),
        file("opaque/old1"),
        file("opaque/sub/old2"),
        directory("dir-gone"),
        file("dir-gone/f"),
    )
    options = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
    done = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(dirs["merged"])], check=False)
    privileged_gate.require(done.returncode == 0, "overlayfs mount failed")
    try:
        yield dirs
    finally:
        if os.path.ismount(dirs["merged"]):
            subprocess.run(["umount", "-l", str(dirs["merged"])], check=False)


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    found: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            body: object = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            body = os.readlink(path) if stat.S_ISLNK(st.st_mode) else st.st_rdev
        keys = [k for k in os.listxattr(path, follow_symlinks=False) if not k.startswith("trusted.overlay.")]
        links = None if stat.S_ISDIR(st.st_mode) else st.st_nlink  # overlayfs reports 1 for merged directories
        found[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, links, body, sorted(keys))
    return found


def test_diff_of_a_real_overlay_upper_round_trips(overlay: dict[str, Path], tmp_path: Path) -> None:
    merged = overlay["merged"]
    (merged / "etc/gone").unlink()
    subprocess.run(["rm", "-r", str(merged / "dir-gone"), str(merged / "opaque")], check=True)
    (merged / "opaque").mkdir()
    (merged / "opaque/new").write_text("new\n")
    (merged / "bin").mkdir()
    (merged / "bin/tool").write_bytes(b"\x7fELF")
    os.chown(merged / "bin/tool", 1000, 1000)
    os.chmod(merged / "bin/tool", 0o4755)
    os.link(merged / "bin/tool", merged / "bin/tool-link")
    os.setxattr(merged / "bin/tool", "trusted.note", b"v")
    (merged / "bin/sh").symlink_to("tool")
    os.mknod(merged / "bin/fifo", stat.S_IFIFO | 0o600)
    expected = _tree(merged)
    subprocess.run(["umount", str(merged)], check=True)

    out = io.BytesIO()
    diff_layer([str(overlay["lower"])], str(overlay["upper"]), out)
    again = io.BytesIO()
    diff_layer([str(overlay["lower"])], str(overlay["upper"]), again)
    assert out.getvalue() == again.getvalue()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        names = tf.getnames()
    assert {"etc/.wh.gone", ".wh.dir-gone", "opaque/.wh..wh..opq", "bin/tool-link"} <= set(names)
    assert "etc/kept" not in names

    target = tmp_path / "target"
    target.mkdir()
    apply_layer(io.BytesIO(tar(*_lower_entries())), str(target))
    apply_layer(io.BytesIO(out.getvalue()), str(target))
    assert _tree(target) == expected


def _lower_entries() -> list[tuple[tarfile.TarInfo, bytes]]:
    return [
        file("etc/gone", b"old\n"),
        file("etc/kept", b"kept\n"),
        file("opaque/old1"),
        file("opaque/sub/old2"),
        directory("dir-gone"),
        file("dir-gone/f"),
    ]


def _acl(*entries: tuple[int, int]) -> bytes:
    """A POSIX ACL xattr value (acl(5) on-disk form): version 2, then (tag, perm, id) entries."""
    body = b"".join(t.to_bytes(2, "little") + p.to_bytes(2, "little") + b"\xff\xff\xff\xff" for t, p in entries)
    return (2).to_bytes(4, "little") + body


def test_modes_are_exact_under_a_default_acl(tmp_path: Path) -> None:
    (tmp_path / "acl").mkdir()
    try:  # default ACL u::rwx,g::---,o::--- would turn a plain 0644 create into 0600
        os.setxattr(tmp_path / "acl", "system.posix_acl_default", _acl((0x01, 7), (0x04, 0), (0x20, 0)))
    except OSError:
        privileged_gate.require(False, "file system without POSIX ACLs")
    apply(tmp_path, file("acl/f", mode=0o644), file("acl/g", mode=0o755, uid=0, gid=0))
    assert stat.S_IMODE(os.stat(tmp_path / "acl/f").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "acl/g").st_mode) == 0o755


def test_new_directories_inherit_what_their_parent_passes_on(tmp_path: Path) -> None:
    # A directory made inside a setgid or default-ACL parent takes both on (mkdir(2), acl(5)): files created in it
    # must still get the layer's exact group and mode, though the applier skips asking about directories it made.
    (tmp_path / "acl").mkdir()
    try:
        os.setxattr(tmp_path / "acl", "system.posix_acl_default", _acl((0x01, 7), (0x04, 0), (0x20, 0)))
    except OSError:
        privileged_gate.require(False, "file system without POSIX ACLs")
    apply(tmp_path, directory("sg", mode=0o2775, gid=50))
    apply(
        tmp_path,
        directory("acl/new", mode=0o755),
        file("acl/new/f", mode=0o644),
        directory("sg/new", mode=0o755, gid=0),
        file("sg/new/f", mode=0o640, uid=0, gid=0),
        directory("plain", mode=0o750),
        file("plain/f", mode=0o604),
    )
    assert stat.S_IMODE(os.stat(tmp_path / "acl/new").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "acl/new/f").st_mode) == 0o644
    st = os.stat(tmp_path / "sg/new/f")
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0o640)
    assert stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tmp_path / "plain/f").st_mode) == 0o604
