"""image/snapshots: which snapshotter a data root uses, and mount option parsing (no mounting)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.image import snapshots
from dockyard.image.snapshots.mount import MS_BIND, MS_RDONLY, MS_REC, split_options


def test_the_choice_is_recorded_and_the_environment_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(snapshots.ENV, "native")
    assert snapshots.choose(str(tmp_path)) == "native"
    assert (tmp_path / "snapshotter").read_text() == "native\n"
    monkeypatch.delenv(snapshots.ENV)
    assert snapshots.choose(str(tmp_path)) == "native"  # recorded: a data root never switches by itself
    monkeypatch.setenv(snapshots.ENV, "zfs")
    with pytest.raises(InvalidArgument) as info:
        snapshots.choose(str(tmp_path))
    assert info.value.message == "DOCKYARD_SNAPSHOTTER `zfs`: unknown snapshotter, expected one of overlay, native"
    with pytest.raises(InvalidArgument) as bad:
        snapshots.open_snapshotter("zfs", str(tmp_path / "x"))
    assert bad.value.message == "snapshotter `zfs`: unknown, expected one of overlay, native"


def test_without_a_record_overlay_is_probed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.image.snapshots import overlay

    monkeypatch.delenv(snapshots.ENV, raising=False)
    monkeypatch.setattr(overlay, "supported", lambda root: (False, "not root"))
    assert snapshots.choose(str(tmp_path / "a")) == "native"
    monkeypatch.setattr(overlay, "supported", lambda root: (True, ""))
    assert snapshots.choose(str(tmp_path / "b")) == "overlay"


def test_split_options_separates_flags_from_data() -> None:
    assert split_options(("rbind", "ro")) == (MS_BIND | MS_REC | MS_RDONLY, "")
    flags, data = split_options(("index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b"))
    assert (flags, data) == (0, "index=off,workdir=/w,upperdir=/u,lowerdir=/a:/b")
