"""copy_up: an empty volume is filled from the image path with modes, symlinks, hard links, xattrs and times."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from dockyard.volume import copy_up

T1 = 1_600_000_000_123_456_789
T2 = 1_500_000_000_000_000_000


def _xattrs_supported(path: Path) -> bool:
    probe = path / ".probe"
    probe.write_text("")
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return False
        raise
    finally:
        probe.unlink()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    src = tmp_path / "rootfs" / "var" / "lib" / "app"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "file.txt").write_text("hello")
    os.chmod(src / "file.txt", 0o640)
    (src / "tool").write_bytes(b"\x7fELF" + bytes(range(256)) * 100)
    os.chmod(src / "tool", 0o4755)  # set-uid survives
    (src / "sub" / "deeper" / "leaf").write_text("leaf")
    os.link(src / "file.txt", src / "sub" / "hardlink")
    os.symlink("../file.txt", src / "sub" / "rel-link")
    os.symlink("/etc/passwd", src / "abs-link")
    os.symlink("/etc", src / "dir-link")  # must stay a link, not be followed
    os.mkfifo(src / "fifo", 0o620)
    os.chmod(src / "sub", 0o1750)
    os.utime(src / "file.txt", ns=(T2, T1))
    os.utime(src / "sub" / "rel-link", ns=(T2, T2), follow_symlinks=False)
    os.utime(src / "sub" / "deeper", ns=(T2, T2))
    os.utime(src / "sub", ns=(T1, T1))
    os.chmod(src, 0o710)
    os.utime(src, ns=(T2, T2))
    return src


def test_copies_tree_preserving_metadata(image: Path, tmp_path: Path) -> None:
    volume = tmp_path / "vol" / "_data"
    volume.mkdir(parents=True)
    assert copy_up(str(image), str(volume))
    assert sorted(os.listdir(volume)) == sorted(os.listdir(image))
    for rel in ["", "file.txt", "tool", "sub", "sub/deeper", "sub/deeper/leaf", "sub/hardlink", "fifo"]:
        src, dst = os.lstat(image / rel), os.lstat(volume / rel)
        assert stat.S_IFMT(src.st_mode) == stat.S_IFMT(dst.st_mode), rel
        assert stat.S_IMODE(src.st_mode) == stat.S_IMODE(dst.st_mode), rel
        assert (src.st_uid, src.st_gid) == (dst.st_uid, dst.st_gid), rel
        assert src.st_mtime_ns == dst.st_mtime_ns, rel
    assert stat.S_IMODE(os.stat(volume / "tool").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(volume / "sub").st_mode) == 0o1750
    assert (volume / "tool").read_bytes() == (image / "tool").read_bytes()
    assert (volume / "sub" / "deeper" / "leaf").read_text() == "leaf"
    assert os.stat(volume / "file.txt").st_atime_ns == T2


def test_symlinks_are_copied_not_followed(image: Path, tmp_path: Path) -> None:
    volume = tmp_path / "v"
    volume.mkdir()
    copy_up(str(image), str(volume))
    assert os.readlink(volume / "abs-link") == "/etc/passwd"
    assert os.readlink(volume / "dir-link") == "/etc"
    assert os.readlink(volume / "sub" / "rel-link") == "../file.txt"
    assert os.lstat(volume / "sub" / "rel-link").st_mtime_ns == T2
    assert os.path.islink(volume / "dir-link")
    assert len(os.listdir(volume)) == len(os.listdir(image))  # nothing of /etc came along


def test_hard_links_stay_linked(image: Path, tmp_path: Path) -> None:
    volume = tmp_path / "v"
    volume.mkdir()
    copy_up(str(image), str(volume))
    a, b = os.stat(volume / "file.txt"), os.stat(volume / "sub" / "hardlink")
    assert a.st_ino == b.st_ino
    assert a.st_nlink == 2
    assert os.stat(volume / "tool").st_ino != a.st_ino


def test_xattrs_are_copied(image: Path, tmp_path: Path) -> None:
    if not _xattrs_supported(tmp_path):
        pytest.skip("the temp filesystem has no user xattrs")
    os.setxattr(image / "file.txt", "user.mime", b"text/plain")
    os.setxattr(image / "sub", "user.dir", b"yes")
    volume = tmp_path / "v"
    volume.mkdir()
    copy_up(str(image), str(volume))
    assert os.getxattr(volume / "file.txt", "user.mime") == b"text/plain"
    assert os.getxattr(volume / "sub", "user.dir") == b"yes"


def test_only_an_empty_volume_is_filled(image: Path, tmp_path: Path) -> None:
    volume = tmp_path / "v"
    volume.mkdir()
    (volume / "existing").write_text("mine")
    assert not copy_up(str(image), str(volume))
    assert os.listdir(volume) == ["existing"]


def test_nocopy(image: Path, tmp_path: Path) -> None:
    volume = tmp_path / "v"
    volume.mkdir()
    assert not copy_up(str(image), str(volume), nocopy=True)
    assert os.listdir(volume) == []


def test_missing_file_or_symlink_source_copies_nothing(image: Path, tmp_path: Path) -> None:
    volume = tmp_path / "v"
    volume.mkdir()
    assert not copy_up(str(image / "nope"), str(volume))
    assert not copy_up(str(image / "file.txt"), str(volume))
    assert not copy_up(str(image / "dir-link"), str(volume))  # a symlink is never followed
    assert os.listdir(volume) == []


def test_deep_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    path = src
    for i in range(150):
        path = path / f"d{i}"
    path.mkdir(parents=True)
    (path / "bottom").write_text("deep")
    volume = tmp_path / "v"
    volume.mkdir()
    copy_up(str(src), str(volume))
    assert (volume / path.relative_to(src) / "bottom").read_text() == "deep"
