"""Differential tests: each bundle variant runs under runc and under dockyard-runtime; the probes must agree.

runc's output is also checked on its own (each variant's `expect`), so the suite means something before
dockyard-runtime exists. Normalisations of runtime-specific details live in differential_probe.normalise.
"""

from __future__ import annotations

import difflib
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from differential_harness import RunResult, Runtime, dockyard_runtime, leftover_cgroups, run_bundle, runc
from differential_probe import normalise, probe_script, sections
from differential_variants import VARIANTS, Variant

from fixtures.bundles import busybox_available, default_config, make_bundle
from privileged_gate import require

pytestmark = pytest.mark.privileged

Cache = dict[tuple[str, str], RunResult]


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dockyard-diff-") as tmp:
        # The user-namespace variant's root is host uid 100000: it must be able to reach the rootfs.
        Path(tmp).chmod(0o755)
        yield Path(tmp)


@pytest.fixture(scope="module")
def results() -> Cache:
    return {}


def _bundle(variant: Variant, runtime: Runtime, workdir: Path) -> Path:
    # Each runtime gets its own bundle: a variant with a writable root must not see the other run's files.
    directory = workdir / variant.name / runtime.name
    config = default_config()
    args = list(variant.args) if variant.args else ["sh", "-c", probe_script(variant.extra, variant.exit_code)]
    config["process"]["args"] = args
    make_bundle(directory, config)
    if variant.mutate is not None:
        variant.mutate(config, directory)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return directory


def _run(variant: Variant, runtime: Runtime, workdir: Path, cache: Cache) -> RunResult:
    key = (variant.name, runtime.name)
    if key not in cache:
        require(busybox_available(), "needs /bin/busybox (Debian's busybox-static)")
        bundle = _bundle(variant, runtime, workdir)
        result = run_bundle(runtime, bundle, workdir / f"state-{runtime.name}", variant.name)
        leftovers = leftover_cgroups(result.container_id)
        assert not leftovers, f"{runtime.name} left cgroups behind: {leftovers}"
        cache[key] = result
    return cache[key]


def _describe(result: RunResult) -> str:
    return f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


# The named `name=systemd` hierarchy and the (nearly empty, hybrid) unified one carry no resource controls.
# Whether the container joins them is compared once, by test_dockyard_runtime_joins_every_hierarchy, rather than
# in every variant, so that one gap does not hide the variants' other differences.
_EXTRA_HIERARCHY = re.compile(r"^\d+:(name=systemd)?:.*\n?", re.M)


def _without_extra_hierarchies(text: str) -> str:
    return _EXTRA_HIERARCHY.sub("", text)


def _runc() -> Runtime:
    found = runc()
    require(found is not None, "needs runc (Debian's runc package) as the reference runtime")
    assert found is not None
    return found


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_runc_reference_is_sane(variant: Variant, workdir: Path, results: Cache) -> None:
    result = _run(variant, _runc(), workdir, results)
    for needle in variant.expect_stderr:
        assert needle in result.stderr, f"runc stderr lacks {needle!r}\n{_describe(result)}"
    if not variant.compare_output:
        assert result.exit_code != 0, _describe(result)
        return
    expected_exit = variant.expect_exit if variant.expect_exit is not None else variant.exit_code
    assert result.exit_code == expected_exit, _describe(result)
    text = normalise(result.stdout, result.container_id)
    assert "== subshell\nexit: 7\nkilled: 137" in text, _describe(result)
    for needle in variant.expect:
        assert needle in text, f"runc output lacks {needle!r}\n{_describe(result)}"


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_dockyard_runtime_matches_runc(variant: Variant, workdir: Path, results: Cache) -> None:
    ours = dockyard_runtime()
    require(ours is not None, "dockyard-runtime (src/dockyard/runtime/cli.py) does not exist yet")
    assert ours is not None
    reference = _run(variant, _runc(), workdir, results)
    result = _run(variant, ours, workdir, results)
    assert result.exit_code == reference.exit_code, (
        f"exit codes differ: runc {reference.exit_code}, dockyard-runtime {result.exit_code}\n"
        f"=== dockyard-runtime\n{_describe(result)}\n=== runc stderr\n{reference.stderr}"
    )
    for needle in variant.expect_stderr:
        assert needle in result.stderr, f"dockyard-runtime stderr lacks {needle!r}\n{_describe(result)}"
    if not variant.compare_output:
        return
    mine_text = normalise(result.stdout, result.container_id)
    for needle in variant.expect_ours:
        assert needle in mine_text, f"dockyard-runtime output lacks {needle!r}\n{_describe(result)}"
    theirs_text = normalise(reference.stdout, reference.container_id)
    if variant.known_runc_gap:
        theirs_text = re.sub(variant.known_runc_gap, "<runc gap>", theirs_text, flags=re.M)
        mine_text = re.sub(variant.known_runc_gap, "<runc gap>", mine_text, flags=re.M)
    theirs, mine = sections(_without_extra_hierarchies(theirs_text)), sections(_without_extra_hierarchies(mine_text))
    diffs = []
    for name in sorted(set(theirs) | set(mine)):
        a, b = theirs.get(name, "<missing>"), mine.get(name, "<missing>")
        if a != b:
            lines = difflib.unified_diff(a.splitlines(), b.splitlines(), "runc", "dockyard-runtime", lineterm="")
            diffs.append(f"[{name}]\n" + "\n".join(lines))
    assert not diffs, "probe output differs:\n" + "\n".join(diffs) + f"\n--- dockyard-runtime stderr\n{result.stderr}"


def _extra_hierarchy_lines(result: RunResult) -> list[str]:
    cgroup = sections(normalise(result.stdout, result.container_id)).get("cgroup", "")
    return [m.group(0).strip() for m in _EXTRA_HIERARCHY.finditer(cgroup + "\n")]


def test_dockyard_runtime_joins_every_hierarchy(workdir: Path, results: Cache) -> None:
    ours = dockyard_runtime()
    require(ours is not None, "dockyard-runtime (src/dockyard/runtime/cli.py) does not exist yet")
    assert ours is not None
    default = VARIANTS[0]
    theirs = _extra_hierarchy_lines(_run(default, _runc(), workdir, results))
    mine = _extra_hierarchy_lines(_run(default, ours, workdir, results))
    require(bool(theirs), "this host has no name=systemd or unified cgroup hierarchy")
    assert mine == theirs
