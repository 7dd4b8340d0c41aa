"""Real mounts of option-backed volumes (tmpfs, bind) and copy-up ownership; needs root."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import privileged_gate
from dockyard.errors import InternalError
from dockyard.volume import LinuxMounter, VolumeStore, copy_up
from dockyard.volume.mounter import mount_table

pytestmark = pytest.mark.privileged


def _mount_line(path: str) -> str | None:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == real:
                return line
    return None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VolumeStore]:
    root = tmp_path / "volumes"
    yield VolumeStore(str(root), mounter=LinuxMounter())
    for target in sorted((m for m in mount_table() if m.startswith(str(tmp_path))), reverse=True):
        LinuxMounter().unmount(target)


def test_tmpfs_volume_mounted_on_first_use_and_unmounted_after_last_user(store: VolumeStore) -> None:
    store.create("scratch", options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    data = store.data_path("scratch")
    assert _mount_line(data) is None
    assert store.mount("scratch", "c1") == data
    line = _mount_line(data)
    assert line is not None
    assert " - tmpfs tmpfs " in line and "size=1024k" in line
    Path(data, "f").write_text("on tmpfs")
    store.mount("scratch", "c2")
    store.unregister("scratch", "c1")
    assert _mount_line(data) is not None  # c2 still has it mounted
    store.unregister("scratch", "c2")
    assert _mount_line(data) is None
    assert not Path(data, "f").exists()  # the content lived on the tmpfs
    store.remove("scratch")


def test_tmpfs_size_is_enforced(store: VolumeStore) -> None:
    store.create("small", options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    data = store.mount("small", "c1")
    with pytest.raises(OSError) as err, open(os.path.join(data, "big"), "wb") as f:
        f.write(b"\0" * (2 << 20))
        f.flush()
    assert err.value.errno == errno.ENOSPC
    store.unregister("small", "c1")


def test_bind_volume_and_removal_keeps_host_data(store: VolumeStore, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "precious").write_text("keep me")
    store.create("bound", options={"type": "none", "device": str(host), "o": "bind"})
    data = store.mount("bound", "c1")
    assert Path(data, "precious").read_text() == "keep me"
    Path(data, "new").write_text("written through the volume")
    assert (host / "new").exists()
    store.unregister("bound", "c1")
    assert _mount_line(data) is None
    store.remove("bound")
    assert (host / "precious").read_text() == "keep me"
    assert (host / "new").exists()


def test_read_only_bind_volume(store: VolumeStore, tmp_path: Path) -> None:
    host = tmp_path / "ro-host"
    host.mkdir()
    store.create("robind", options={"type": "none", "device": str(host), "o": "bind,ro"})
    data = store.mount("robind", "c1")
    with pytest.raises(OSError) as err:
        Path(data, "x").write_text("no")
    assert err.value.errno == errno.EROFS
    store.unregister("robind", "c1")


def test_stale_mount_after_crash_is_undone_before_removal(tmp_path: Path) -> None:
    root = str(tmp_path / "volumes")
    host = tmp_path / "host"
    host.mkdir()
    (host / "precious").write_text("keep me")
    store = VolumeStore(root, mounter=LinuxMounter())
    store.create("bound", options={"type": "none", "device": str(host), "o": "bind"})
    data = store.data_path("bound")
    LinuxMounter().mount(str(host), data, "none", "bind")  # mounted, but no user recorded: a crash mid-mount
    try:
        VolumeStore(root, mounter=LinuxMounter()).remove("bound")
    finally:
        if _mount_line(data) is not None:
            LinuxMounter().unmount(data)
    assert (host / "precious").read_text() == "keep me"


def test_mount_error_wording(store: VolumeStore) -> None:
    store.create("bad", options={"type": "tmpfs", "device": "tmpfs", "o": "bogus=1"})
    data = store.data_path("bad")
    with pytest.raises(InternalError) as err:
        store.mount("bad", "c1")
    assert str(err.value) == f"failed to mount local volume: mount tmpfs:{data}, data: bogus=1: invalid argument"
    assert _mount_line(data) is None


def test_copy_up_keeps_ownership_devices_and_trusted_xattrs(tmp_path: Path) -> None:
    src = tmp_path / "image" / "data"
    (src / "sub").mkdir(parents=True)
    (src / "owned").write_text("x")
    os.chown(src / "owned", 1234, 5678)
    (src / "setuid").write_text("x")
    os.chown(src / "setuid", 1000, 1000)
    os.chmod(src / "setuid", 0o4755)  # after chown, which clears set-id bits
    os.symlink("owned", src / "link")
    os.lchown(src / "link", 4321, 8765)
    os.chown(src / "sub", 33, 33)
    os.chown(src, 999, 998)
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    try:
        os.setxattr(src / "owned", "trusted.marker", b"t")
    except OSError as err:
        privileged_gate.require(err.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP), "no trusted xattrs on the temp fs")
    volume = tmp_path / "vol"
    volume.mkdir()
    assert copy_up(str(src), str(volume))
    for rel, owner in [("owned", (1234, 5678)), ("setuid", (1000, 1000)), ("link", (4321, 8765)), ("sub", (33, 33))]:
        st = os.lstat(volume / rel)
        assert (st.st_uid, st.st_gid) == owner, rel
    assert (os.stat(volume).st_uid, os.stat(volume).st_gid) == (999, 998)  # the volume root takes the image's owner
    assert stat.S_IMODE(os.stat(volume / "setuid").st_mode) == 0o4755
    null = os.lstat(volume / "null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert os.getxattr(volume / "owned", "trusted.marker") == b"t"
