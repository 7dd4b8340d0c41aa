"""diff_layer without root: an upper directory made by hand (userxattr overlay markers) written as a layer."""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.errors import SyscallError
from dockyard.image.archive import apply_layer, diff_layer


def _user_xattrs_work(path: Path) -> bool:
    try:
        os.setxattr(path, "user.probe", b"1")
    except OSError:
        return False
    os.removexattr(path, "user.probe")
    return True


@pytest.fixture
def layers(tmp_path: Path) -> tuple[Path, Path]:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for rel in ("keep", "gone", "opq/old", "xw"):
        (lower / rel).parent.mkdir(parents=True, exist_ok=True)
        (lower / rel).write_text("lower\n")
    if not _user_xattrs_work(lower / "keep"):
        pytest.skip("file system without user xattrs")
    (upper / "opq").mkdir(parents=True)
    os.setxattr(upper / "opq", "user.overlay.opaque", b"y")
    (upper / "opq/new").write_text("new\n")
    (upper / "fresh").mkdir()
    os.setxattr(upper / "fresh", "user.overlay.opaque", b"y")  # in no lower: hides nothing
    (upper / "xw").write_bytes(b"")
    os.setxattr(upper / "xw", "user.overlay.whiteout", b"")  # an "xwhiteout" (linux 6.7)
    (upper / "file").write_text("hello\n")
    os.chmod(upper / "file", 0o4751)
    os.setxattr(upper / "file", "user.comment", b"\xff binary")
    os.link(upper / "file", upper / "file-link")
    (upper / "sym").symlink_to("/etc/os-release")
    os.utime(upper / "file", (1_000_000_000, 1_000_000_000.7))
    return lower, upper


def _diff(lowers: list[Path], upper: Path) -> bytes:
    out = io.BytesIO()
    diff_layer([str(p) for p in lowers], str(upper), out)
    return out.getvalue()


def test_diff_layer_entries_and_metadata(layers: tuple[Path, Path]) -> None:
    lower, upper = layers
    with tarfile.open(fileobj=io.BytesIO(_diff([lower], upper))) as tf:
        members = {m.name: m for m in tf.getmembers()}
        order = [m.name for m in tf.getmembers()]
    # depth first, names in byte order (a whiteout sorts by its `.wh.` name), the opaque marker first in its dir
    assert order == [".wh.xw", "file", "file-link", "fresh", "opq", "opq/.wh..wh..opq", "opq/new", "sym"]
    assert members["file"].mode == 0o4751 and members["file"].mtime == 1_000_000_000
    assert members["file"].pax_headers["SCHILY.xattr.user.comment"].encode("utf-8", "surrogateescape") == b"\xff binary"
    assert members["file-link"].islnk() and members["file-link"].linkname == "file"
    assert members["sym"].issym() and members["sym"].linkname == "/etc/os-release"
    assert members["opq"].isdir() and not any("overlay" in k for k in members["opq"].pax_headers)
    assert "fresh/.wh..wh..opq" not in members
    assert members[".wh.xw"].isreg() and members[".wh.xw"].size == 0
    assert all(m.uname == "" and m.gname == "" for m in members.values())


def test_diff_layer_is_deterministic_and_round_trips(layers: tuple[Path, Path], tmp_path: Path) -> None:
    lower, upper = layers
    first = _diff([lower], upper)
    assert first == _diff([lower], upper)
    target = tmp_path / "target"
    target.mkdir()
    with tarfile.open(fileobj=io.BytesIO(_diff([], lower))) as tf:
        assert {m.name for m in tf.getmembers()} >= {"keep", "gone", "opq/old"}
    apply_layer(io.BytesIO(_diff([], lower)), str(target))
    apply_layer(io.BytesIO(first), str(target))
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == [
        "file",
        "file-link",
        "fresh",
        "gone",
        "keep",
        "opq",
        "opq/new",
        "sym",
    ]
    assert stat.S_IMODE((target / "file").stat().st_mode) == 0o4751
    assert (target / "file").stat().st_nlink == 2


def test_diff_layer_skips_sockets(tmp_path: Path) -> None:
    upper = tmp_path / "u"
    upper.mkdir()
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(upper / "s.sock"))
        with tarfile.open(fileobj=io.BytesIO(_diff([], upper))) as tf:
            assert tf.getnames() == []
    finally:
        sock.close()


def test_diff_layer_missing_upper(tmp_path: Path) -> None:
    with pytest.raises(SyscallError, match="diff layer `.*/nope`: no such file or directory"):
        _diff([], tmp_path / "nope")
