"""engine/users.py: --user resolution against the image's passwd and group files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine.users import resolve_user
from dockyard.errors import InvalidArgument


@pytest.fixture
def rootfs(tmp_path: Path) -> str:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nwheel:x:10:root\nwww:x:33:\nweb:x:50:www,root\n")
    return str(tmp_path)


def test_root_by_default_with_dockers_supplementary_groups(rootfs: str) -> None:
    user = resolve_user("", rootfs)
    assert (user.uid, user.gid, user.additional_gids) == (0, 0, (0, 10, 50))


def test_name_and_numeric_forms(rootfs: str) -> None:
    assert (resolve_user("www", rootfs).uid, resolve_user("www", rootfs).gid) == (33, 33)
    assert (resolve_user("33", rootfs).uid, resolve_user("33", rootfs).gid) == (33, 33)
    unknown = resolve_user("1234:5", rootfs)
    assert (unknown.uid, unknown.gid, unknown.additional_gids) == (1234, 5, (5,))
    assert resolve_user("www:web", rootfs).gid == 50


def test_unknown_names_fail_like_runc(rootfs: str) -> None:
    with pytest.raises(InvalidArgument, match="^unable to find user nobody: no matching entries in passwd file$"):
        resolve_user("nobody", rootfs)
    with pytest.raises(InvalidArgument, match="^unable to find group staff: no matching entries in group file$"):
        resolve_user("root:staff", rootfs)
