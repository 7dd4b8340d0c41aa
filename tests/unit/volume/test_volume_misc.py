"""The volume package's edges: its import rule, mount-option parsing, mountinfo decoding, concurrent use."""

from __future__ import annotations

import ast
import os
import sys
import threading
from pathlib import Path

import dockyard.volume
from dockyard.volume import FakeMounter, VolumeStore
from dockyard.volume.mounter import MS_BIND, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, mount_table, parse_options

ALLOWED = ("dockyard.errors", "dockyard.oci", "dockyard.paths", "dockyard.volume")


def test_imports_only_errors_oci_and_stdlib() -> None:
    package = Path(dockyard.volume.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "dockyard":
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"
                else:
                    assert top in sys.stdlib_module_names or top == "__future__", f"{path.name} imports {name}"


def test_parse_options_like_moby() -> None:
    assert parse_options("bind") == (MS_BIND, "")
    assert parse_options("rbind,ro,nosuid") == (MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID, "")
    assert parse_options("size=1m,mode=755") == (0, "size=1m,mode=755")
    assert parse_options("ro,rw,rprivate,addr=1.2.3.4") == (MS_PRIVATE | MS_REC, "addr=1.2.3.4")


def test_mount_table_unescapes(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:5 / /mnt/with\\040space rw - tmpfs tmpfs rw\n"
        "41 22 0:6 / /mnt/back\\134slash rw - tmpfs tmpfs rw\n"
    )
    assert mount_table(str(info)) == ["/", "/mnt/with space", "/mnt/back\\slash"]


def test_real_mount_table_has_root() -> None:
    assert "/" in mount_table()


def test_threads_share_a_store(tmp_path: Path) -> None:
    store = VolumeStore(str(tmp_path / "v"), mounter=FakeMounter())
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                store.create(f"t{n}-{i}", ref=f"c{n}")
                store.register("shared", f"c{n}-{i}")
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    store.create("shared")
    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.names()) == 41
    assert len(store.get("shared").refs) == 40


def test_processes_share_a_store(tmp_path: Path) -> None:
    root = str(tmp_path / "v")
    VolumeStore(root, mounter=FakeMounter()).create("shared")
    pids = []
    for n in range(3):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                store = VolumeStore(root, mounter=FakeMounter())
                for i in range(10):
                    store.register("shared", f"p{n}-{i}")
                    store.create(f"p{n}-{i}")
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    store = VolumeStore(root, mounter=FakeMounter())
    assert len(store.get("shared").refs) == 30
    assert len(store.names()) == 31
