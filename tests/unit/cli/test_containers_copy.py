"""cli/containers_copy.py and client/tarstream.py: `cp` into a container uploads a tar written while it is sent
(never whole in memory), owners and names as docker's; extraction on the host keeps modes and hard links and
refuses links that point outside the destination."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import textwrap
import threading
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from dockyard.cli import containers_copy as cp
from dockyard.cli.exits import CliExit
from dockyard.client import containers_info as client_api
from dockyard.client import tarstream
from dockyard.client.client import Client

Uploaded = tuple[str, bool, dict[str, tuple[str, int, int, int, bytes | None]]]


def _put(monkeypatch: pytest.MonkeyPatch, dest_mode: int = cp.GO_DIR) -> list[Uploaded]:
    """Fake archive_stat/archive_put; each upload is recorded as (path, was a stream, {name: (type, mode, uid,
    gid, data)}), read as a stream."""
    seen: list[Uploaded] = []

    def put(client: Any, container: str, path: str, tar: bytes | BinaryIO, *, copy_uid_gid: bool) -> None:
        entries = {}
        source = io.BytesIO(tar) if isinstance(tar, bytes) else tar
        with tarfile.open(fileobj=source, mode="r|") as tf:
            for m in tf:
                data = tf.extractfile(m).read() if m.isfile() else None  # type: ignore[union-attr]
                entries[m.name] = (m.type.decode(), stat.S_IMODE(m.mode), m.uid, m.gid, data)
        seen.append((path, not isinstance(tar, bytes), entries))

    monkeypatch.setattr(client_api, "archive_stat", lambda client, container, path: {"mode": dest_mode})
    monkeypatch.setattr(client_api, "archive_put", put)
    return seen


def _tree(root: Path) -> Path:
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "sub" / "f").write_bytes(b"hello")
    os.link(root / "d" / "sub" / "f", root / "d" / "hard")
    os.symlink("sub/f", root / "d" / "link")
    (root / "d" / "suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "d" / "suid", 0o4755)
    if os.geteuid() == 0:
        os.chown(root / "d" / "sub" / "f", 1234, 5678)
    return root / "d"


def test_the_upload_is_a_stream_of_the_tree_owned_by_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _put(monkeypatch)
    cp.to_container(Client.__new__(Client), str(_tree(tmp_path)), "box", "/tmp", archive=False, follow=False)
    [(path, streamed, entries)] = seen
    assert path == "/tmp" and streamed, "the tar must be handed over as a stream, not built whole first"
    assert entries["d/hard"] == ("0", 0o644, 0, 0, b"hello")
    assert entries["d/sub/f"][0] == "1"  # a hard link to d/hard (the data goes once)
    assert entries["d/link"] == ("2", 0o777, 0, 0, None)
    assert entries["d/suid"] == ("0", 0o4755, 0, 0, b"#!/bin/sh\n")
    assert sorted(entries) == ["d", "d/hard", "d/link", "d/sub", "d/sub/f", "d/suid"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_archive_mode_keeps_the_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _put(monkeypatch)
    cp.to_container(Client.__new__(Client), str(_tree(tmp_path)), "box", "/tmp", archive=True, follow=False)
    assert seen[0][2]["d/hard"][2:4] == (1234, 5678)


def test_a_dot_suffix_sends_the_content_and_a_file_gets_the_new_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _put(monkeypatch)
    cp.to_container(Client.__new__(Client), f"{_tree(tmp_path)}/.", "box", "/tmp", archive=False, follow=False)
    assert sorted(seen[0][2]) == ["hard", "link", "sub", "sub/f", "suid"]
    seen = _put(monkeypatch, dest_mode=0o644)
    cp.to_container(Client.__new__(Client), str(tmp_path / "d" / "suid"), "box", "/x/y", archive=False, follow=True)
    assert (seen[0][0], sorted(seen[0][2])) == ("/x", ["y"])


def test_an_unreadable_source_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _put(monkeypatch)

    def unreadable(tar: tarfile.TarFile, path: str, name: str, **kw: object) -> None:
        raise PermissionError(13, "Permission denied", f"{path}/secret")

    monkeypatch.setattr(cp, "add_tree", unreadable)
    with pytest.raises(CliExit) as err:
        cp.to_container(Client.__new__(Client), str(_tree(tmp_path)), "box", "/tmp", archive=False, follow=False)
    assert (err.value.code, err.value.message) == (1, f"read `{tmp_path}/d/secret`: permission denied")


def test_a_reader_that_stops_early_ends_the_writer(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * (4 << 20))  # far more than a pipe holds: the writer must block
    with tarstream.piped_tar(lambda tar: tarstream.add_tree(tar, str(tmp_path), ".")) as upload:
        assert len(upload.read(512)) == 512
    assert not [t for t in threading.enumerate() if t.name == "tar-writer"]


def test_a_failing_writer_is_raised_when_the_block_ends() -> None:
    def fill(tar: tarfile.TarFile) -> None:
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"), tarstream.piped_tar(fill) as upload:
        assert upload.read() == b""


_RSS_CHILD = textwrap.dedent("""
    import io, resource, sys
    from dockyard.cli import containers_copy as cp
    sizes = []
    def put(client, container, path, tar, *, copy_uid_gid):
        tar = io.BytesIO(tar) if isinstance(tar, bytes) else tar
        while chunk := tar.read(1 << 20):
            sizes.append(len(chunk))
    cp.api.archive_stat = lambda client, container, path: {"mode": cp.GO_DIR}
    cp.api.archive_put = put
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cp.to_container(None, sys.argv[1], "box", "/tmp", archive=False, follow=False)
    print(sum(sizes), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
""")


def test_copying_200_mib_in_grows_the_peak_rss_by_far_less(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as f:
        block = bytes(range(256)) * 4096  # 1 MiB, written out: no sparse file
        for _ in range(200):
            f.write(block)
    result = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(big)], capture_output=True, text=True, check=True)
    sent, growth_kib = map(int, result.stdout.split())
    assert sent > 200 << 20
    assert growth_kib < 64 << 10, f"peak RSS grew by {growth_kib} KiB to send 200 MiB"  # the old BytesIO: ~200 MiB


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    out.seek(0)
    return out


def _entry(name: str, kind: bytes = tarfile.REGTYPE, *, data: bytes = b"", mode: int = 0o644, link: str = "") -> Any:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (data if kind == tarfile.REGTYPE else None)


def test_extraction_renames_hard_links_with_their_target_and_keeps_setuid(tmp_path: Path) -> None:
    stream = _tar(_entry("tree", tarfile.DIRTYPE, mode=0o755), _entry("tree/f", data=b"hi"),
                  _entry("tree/hard", tarfile.LNKTYPE, link="tree/f"),
                  _entry("tree/suid", data=b"x", mode=0o4755))  # fmt: skip
    cp.extract(stream, str(tmp_path), "copy", keep_owner=False)
    copy = tmp_path / "copy"
    assert (copy / "hard").read_bytes() == b"hi" and os.path.samefile(copy / "hard", copy / "f")
    assert stat.S_IMODE(os.stat(copy / "suid").st_mode) == 0o4755
    assert not (tmp_path / "tree").exists()


def test_extraction_refuses_a_hard_link_out_of_the_destination(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("host\n")
    (tmp_path / "dest").mkdir()
    stream = _tar(_entry("x", tarfile.DIRTYPE, mode=0o755), _entry("x/h", tarfile.LNKTYPE, link="../secret"))
    with pytest.raises(CliExit) as err:
        cp.extract(stream, str(tmp_path / "dest"), None, keep_owner=False)
    assert err.value.code == 1
    assert err.value.message == f"Error: 'x/h' would link to '{tmp_path}/secret', which is outside the destination"
    assert not (tmp_path / "dest" / "x" / "h").exists()
