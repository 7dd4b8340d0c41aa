"""apply_layer against hostile layers: nothing outside the root may change, be read or be linked, ever.

Each case from fixtures.malicious_layers is applied to a fresh root inside a temp "jail" whose other content
(a sentinel with an old atime, so that a read would show) is fingerprinted before and after; the case then
either fails with its message or leaves its confined result inside the root. Root is needed for devices,
owners and trusted.* xattrs.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.image.archive import apply_layer
from fixtures.malicious_layers import CASES, SENTINEL, Case, Jail

pytestmark = pytest.mark.privileged

Fingerprint = dict[str, tuple[object, ...]]


@pytest.fixture
def jail(tmp_path: Path) -> Iterator[Jail]:
    top = tmp_path / "jail"
    jail = Jail(top=top, root=top / "root", outside=top / "outside")
    jail.root.mkdir(parents=True)
    (jail.outside / "dir").mkdir(parents=True)
    (jail.outside / "dir" / "victim").write_bytes(b"victim\n")
    jail.sentinel.write_bytes(SENTINEL)
    os.utime(jail.sentinel, ns=(0, 1_000_000_000_000))  # relatime updates an atime older than mtime on any read
    yield jail


def _fingerprint(jail: Jail) -> Fingerprint:
    """Every inode of the jail but the root's subtree: metadata, content, link targets, xattrs."""
    found: Fingerprint = {}
    for dirpath, dirnames, filenames in os.walk(jail.top):
        if Path(dirpath) == jail.top:
            dirnames.remove("root")
        for name in ["", *dirnames, *filenames]:
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                body: object = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            else:
                body = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            xattrs = sorted(os.listxattr(path, follow_symlinks=False))
            found[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_nlink, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            found[path] += (body, tuple(xattrs))
    found["sentinel-atime"] = (os.lstat(jail.sentinel).st_atime_ns,)
    return found


def _host_state() -> Fingerprint:
    state: Fingerprint = {}
    for path in ("/etc/passwd", "/etc/hostname", "/dev/null"):
        if os.path.lexists(path):
            st = os.lstat(path)
            state[path] = (st.st_mode, st.st_uid, st.st_nlink, st.st_rdev, st.st_ctime_ns, st.st_size)
    state["/etc/passwd-sha256"] = (hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest(),)
    return state


def _apply(layer: bytes, root: Path) -> None:
    apply_layer(io.BytesIO(layer), str(root))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malicious_layer_stays_in_root(case: Case, jail: Jail) -> None:
    layers = case.layers(jail)
    threads = threading.active_count()
    before, host_before = _fingerprint(jail), _host_state()
    for layer in layers[:-1]:
        _apply(layer, jail.root)
    if case.error is not None:
        with pytest.raises(InvalidArgument) as caught:
            _apply(layers[-1], jail.root)
        assert case.error in str(caught.value)
        assert str(caught.value).startswith("apply layer")
    else:
        _apply(layers[-1], jail.root)
        assert case.check is not None
        case.check(jail)
    assert _fingerprint(jail) == before
    assert _host_state() == host_before
    assert jail.sentinel.read_bytes() == SENTINEL
    assert threading.active_count() == threads, "apply_layer left a thread behind"


def test_suite_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
