"""engine.copy: container paths resolve inside the container root — symlinks such as `/evil -> /` or
`../../..` never let `cp` read or write host files — and the tar and stat shapes docker cp expects."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.engine import copy
from dockyard.errors import NotFound


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "shadow").write_text("container-shadow\n")
    (r / "tmp").mkdir()
    os.symlink("/", r / "evil")
    os.symlink("../../../../../../..", r / "evil2")
    os.symlink("/etc/shadow", r / "link")
    return r


def _names(data: bytes) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            f = tar.extractfile(m) if m.isfile() else None
            out[m.name] = f.read() if f else None
    return out


def test_symlink_to_root_reads_the_containers_file(root: Path) -> None:
    for path in ("/evil/etc/shadow", "/evil2/etc/shadow", "../../etc/shadow"):
        out = io.BytesIO()
        info = copy.archive_path(str(root), path, "c", out)
        assert _names(out.getvalue()) == {"shadow": b"container-shadow\n"}, path
        assert info.name == "shadow" and info.size == len("container-shadow\n")


def test_host_only_file_is_not_found_through_links(root: Path) -> None:
    with pytest.raises(NotFound, match=r"^Could not find the file /evil/etc/hostname in container c$"):
        copy.archive_path(str(root), "/evil/etc/hostname", "c", io.BytesIO())


def test_final_symlink_is_archived_as_a_link_with_its_target(root: Path) -> None:
    out = io.BytesIO()
    info = copy.archive_path(str(root), "/link", "c", out)
    assert info.mode & copy.GO_SYMLINK and info.link_target == "/etc/shadow"
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        member = tar.getmember("link")
        assert member.issym() and member.linkname == "/etc/shadow"


def test_directory_is_archived_under_its_base_name_or_as_dot(root: Path) -> None:
    out = io.BytesIO()
    info = copy.archive_path(str(root), "/etc", "c", out)
    assert set(_names(out.getvalue())) == {"etc", "etc/shadow"} and info.mode & copy.GO_DIR
    out = io.BytesIO()
    copy.archive_path(str(root), "/etc/.", "c", out)
    assert set(_names(out.getvalue())) == {".", "./shadow"}


def test_writes_through_symlinks_stay_inside(root: Path, tmp_path: Path) -> None:
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("x")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"new"))
    for target in ("/evil2/tmp", "/evil/tmp"):
        tar_bytes.seek(0)
        copy.extract_into(str(root), target, "c", tar_bytes)
    assert (root / "tmp" / "x").read_bytes() == b"new"
    assert not (tmp_path / "x").exists() and not Path("/tmp/x/x").exists()


def test_extract_refuses_a_missing_directory(root: Path) -> None:
    with pytest.raises(NotFound, match="Could not find the file /nope in container c"):
        copy.extract_into(str(root), "/nope", "c", io.BytesIO(b""))


def test_go_mode_bits() -> None:
    assert copy.go_mode(stat.S_IFDIR | 0o1777) == (1 << 31) | (1 << 20) | 0o777
    assert copy.go_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert copy.go_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
