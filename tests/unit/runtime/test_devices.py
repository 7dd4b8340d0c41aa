"""Unit tests for runtime/devices.py: default and spec devices, mknod modes, the bind fallback, /dev symlinks."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.errors import SyscallError
from dockyard.oci.runtime_spec import Device, Spec
from dockyard.runtime import devices
from dockyard.runtime.linux import consts as c
from dockyard.runtime.linux.recording import RecordingSyscalls


def spec_with(devs: list[dict[str, object]]) -> Spec:
    return Spec.from_json({"ociVersion": "1.0.2", "linux": {"devices": devs}})


@dataclass
class NodeMaking(RecordingSyscalls):
    """Records mknod and leaves a regular file behind, so chown has something to act on."""

    def mknod(self, path: str, mode: int, device: int) -> None:
        super().mknod(path, mode, device)
        Path(path).touch()


def test_container_devices_defaults_then_spec_with_overrides() -> None:
    spec = spec_with(
        [
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600},
        ]
    )
    paths = [d.path for d in devices.container_devices(spec)]
    assert paths == ["/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/fuse", "/dev/null"]
    assert [d.path for d in devices.container_devices(Spec.from_json({"ociVersion": "1.0.2"}))] == [
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "file_mode", "expected"),
    [
        ("c", None, stat.S_IFCHR | 0o666),
        ("u", 0o620, stat.S_IFCHR | 0o620),
        ("b", 0o660, stat.S_IFBLK | 0o660),
        ("p", 0o644, stat.S_IFIFO | 0o644),
        ("c", stat.S_IFBLK | 0o640, stat.S_IFCHR | 0o640),  # a file type in fileMode is ignored
    ],
)
def test_device_mode(kind: str, file_mode: int | None, expected: int) -> None:
    assert devices.device_mode(Device(path="/dev/x", type=kind, major=1, minor=1, file_mode=file_mode)) == expected


def test_mknod_with_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chowned: list[tuple[str, int, int]] = []
    monkeypatch.setattr(os, "chown", lambda p, u, g, follow_symlinks=True: chowned.append((p, u, g)))
    sys = NodeMaking()
    dev = Device(path="/dev/sub/fuse", type="c", major=10, minor=229, file_mode=0o600, uid=1, gid=2)
    devices.create_devices(str(tmp_path), (dev, Device(path="/dev/ptmx", type="c", major=5, minor=2)), sys, bind=False)
    target = f"{tmp_path}/dev/sub/fuse"
    assert [call.args for call in sys.calls] == [(target, stat.S_IFCHR | 0o600, os.makedev(10, 229))]
    assert chowned == [(target, 1, 2)]


def test_mknod_eexist_keeps_the_node_and_eperm_falls_back_to_bind(tmp_path: Path) -> None:
    dev = devices.DEFAULT_DEVICES[0]
    sys = RecordingSyscalls(fail={"mknod": errno.EEXIST})
    devices.create_devices(str(tmp_path), (dev,), sys, bind=False)
    assert [call.name for call in sys.calls] == ["mknod"]
    sys = RecordingSyscalls(fail={"mknod": errno.EPERM})
    devices.create_devices(str(tmp_path), (dev,), sys, bind=False)
    assert [call.args for call in sys.named("mount")] == [
        ("/dev/null", f"{tmp_path}/dev/null", "bind", c.MS_BIND, None)
    ]
    assert os.path.isfile(f"{tmp_path}/dev/null")


def test_other_mknod_errors_propagate(tmp_path: Path) -> None:
    sys = RecordingSyscalls(fail={"mknod": errno.ENOSPC})
    with pytest.raises(SyscallError) as info:
        devices.create_devices(str(tmp_path), devices.DEFAULT_DEVICES[:1], sys, bind=False)
    assert str(info.value) == f"mknod `{tmp_path}/dev/null`: no space left on device"


def test_device_path_symlink_stays_inside_root(tmp_path: Path) -> None:
    os.symlink("/../../../../etc", tmp_path / "dev")
    sys = RecordingSyscalls()
    devices.create_devices(str(tmp_path), devices.DEFAULT_DEVICES[:1], sys, bind=False)
    assert sys.calls[0].args[0] == f"{tmp_path}/etc/null"


def test_dev_symlinks_and_ptmx(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "ptmx").write_text("")  # a stale file is replaced by the link
    (tmp_path / "dev" / "stdin").symlink_to("/elsewhere")  # an existing link is kept
    devices.create_dev_symlinks(str(tmp_path), ptmx=True)

    def link(name: str) -> str:
        return os.readlink(tmp_path / "dev" / name)

    assert (link("fd"), link("stdin"), link("stdout"), link("stderr")) == (
        "/proc/self/fd", "/elsewhere", "/proc/self/fd/1", "/proc/self/fd/2",
    )  # fmt: skip
    assert link("ptmx") == "pts/ptmx"
    assert os.path.lexists(tmp_path / "dev" / "core") == os.path.exists("/proc/kcore")


def test_no_ptmx_link_without_devpts(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    devices.create_dev_symlinks(str(tmp_path), ptmx=False)
    assert not os.path.lexists(tmp_path / "dev" / "ptmx")


def test_console_bind(tmp_path: Path) -> None:
    sys = RecordingSyscalls(fail={"mount": errno.ENOENT})
    with pytest.raises(SyscallError) as info:
        devices.mount_console(str(tmp_path), "/dev/pts/9", sys)
    assert str(info.value) == f"bind-mount `/dev/pts/9` onto `{tmp_path}/dev/console`: no such file or directory"
    assert stat.S_IMODE(os.stat(tmp_path / "dev" / "console").st_mode) == 0o666
