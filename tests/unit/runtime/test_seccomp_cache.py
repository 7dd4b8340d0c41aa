"""The seccomp program cache (runtime/seccomp_cache.py): one file per plan, reused, validated, and loadable."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import SpecError
from dockyard.oci.runtime_spec import Seccomp, Spec
from dockyard.runtime import seccomp as sc
from dockyard.runtime import seccomp_cache as cache


def _seccomp(data: dict[str, Any]) -> Seccomp:
    spec = Spec.from_json({"ociVersion": "1.1.0", "linux": {"seccomp": data}})
    assert spec.linux is not None and spec.linux.seccomp is not None
    return spec.linux.seccomp


def _present() -> bool:
    try:
        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _present(), reason="libseccomp.so.2 is not installed")

DENY_UNAME = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES}],
}


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_no_cache_directory_compiles_with_libseccomp() -> None:
    flt = cache.compile_cached(_seccomp(DENY_UNAME), None)
    try:
        assert not isinstance(flt, cache.BpfFilter)
    finally:
        flt.close()


def test_first_use_stores_libseccomps_program_and_the_next_reads_it(tmp_path: Path) -> None:
    profile = _seccomp(DENY_UNAME)
    first = cache.compile_cached(profile, str(tmp_path))
    assert isinstance(first, cache.BpfFilter)
    with sc.compile_seccomp(profile) as direct:
        assert first.program == direct.export_bpf()
    (name,) = _files(tmp_path)
    assert name.startswith("seccomp-") and name.endswith(".bpf")
    marker = b"\x06\x00\x00\x00\x00\x00\xff\x7f"  # one `ret ALLOW`: proves the file, not libseccomp, answered
    (tmp_path / name).write_bytes(marker)
    assert cache.compile_cached(profile, str(tmp_path)).export_bpf() == marker


def test_a_damaged_entry_is_regenerated(tmp_path: Path) -> None:
    profile = _seccomp(DENY_UNAME)
    good = cache.compile_cached(profile, str(tmp_path)).export_bpf()
    (name,) = _files(tmp_path)
    (tmp_path / name).write_bytes(b"short")
    assert cache.compile_cached(profile, str(tmp_path)).export_bpf() == good
    assert (tmp_path / name).read_bytes() == good


def test_the_cache_directory_is_made_once_its_parent_exists(tmp_path: Path) -> None:
    cache.compile_cached(_seccomp(DENY_UNAME), str(tmp_path / "runtime.cache"))
    assert len(_files(tmp_path / "runtime.cache")) == 1
    assert (tmp_path / "runtime.cache").stat().st_mode & 0o777 == 0o700
    cache.compile_cached(_seccomp(DENY_UNAME), str(tmp_path / "no" / "runtime.cache"))
    assert not (tmp_path / "no").exists()


def test_different_profiles_get_different_entries(tmp_path: Path) -> None:
    cache.compile_cached(_seccomp(DENY_UNAME), str(tmp_path))
    other = {**DENY_UNAME, "syscalls": [{**DENY_UNAME["syscalls"][0], "errnoRet": errno.EPERM}]}  # type: ignore[dict-item]
    cache.compile_cached(_seccomp(other), str(tmp_path))
    assert len(_files(tmp_path)) == 2


def test_plans_with_flags_are_not_cached(tmp_path: Path) -> None:
    flt = cache.compile_cached(_seccomp({**DENY_UNAME, "flags": ["SECCOMP_FILTER_FLAG_LOG"]}), str(tmp_path))
    flt.close()
    assert not isinstance(flt, cache.BpfFilter) and _files(tmp_path) == []


def test_bad_profiles_are_still_refused_by_path(tmp_path: Path) -> None:
    bad = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_NOPE"}]}
    with pytest.raises(SpecError, match=r"linux.seccomp.syscalls\[0\].action.*unknown seccomp action `SCMP_ACT_NOPE`"):
        cache.compile_cached(_seccomp(bad), str(tmp_path))
    assert _files(tmp_path) == []


def test_a_cached_program_loads_and_filters(tmp_path: Path) -> None:
    cache.compile_cached(_seccomp(DENY_UNAME), str(tmp_path))
    flt = cache.compile_cached(_seccomp(DENY_UNAME), str(tmp_path))  # from the file
    pid = os.fork()
    if pid == 0:  # the filter stays in the child
        code = 3
        try:
            ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: loading then needs no privilege
            flt.load()
            try:
                os.uname()
                code = 1
            except PermissionError as err:
                code = 0 if err.errno == errno.EACCES else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_profiles_own_json_names_the_program_too_and_a_hit_skips_planning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = _seccomp(DENY_UNAME)
    good = cache.compile_cached(profile, str(tmp_path), DENY_UNAME).export_bpf()
    names = _files(tmp_path)
    assert len(names) == 2 and sum(n.startswith("seccomp-src-") for n in names) == 1

    def refuse(_: object) -> None:
        raise AssertionError("planned although the profile's JSON was cached")

    monkeypatch.setattr(cache, "plan_filter", refuse)
    again = cache.compile_cached(profile, str(tmp_path), DENY_UNAME)
    assert isinstance(again, cache.BpfFilter) and again.export_bpf() == good


def test_a_profile_json_never_seen_is_planned_and_validated(tmp_path: Path) -> None:
    bad = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_NOPE"}]}
    with pytest.raises(SpecError, match=r"unknown seccomp action `SCMP_ACT_NOPE`"):
        cache.compile_cached(_seccomp(bad), str(tmp_path), bad)
    assert _files(tmp_path) == []


def test_a_profile_json_with_flags_is_never_keyed(tmp_path: Path) -> None:
    flagged = {**DENY_UNAME, "flags": ["SECCOMP_FILTER_FLAG_LOG"]}
    assert cache.source_key(flagged) is None
    flt = cache.compile_cached(_seccomp(flagged), str(tmp_path), flagged)
    flt.close()
    assert _files(tmp_path) == []
