"""engine/health.py: merging with the image's HEALTHCHECK, the probe's argv, moby's status transitions."""

from __future__ import annotations

from types import SimpleNamespace

from dockyard.engine.health import apply_result, enabled, merge, probe_argv
from dockyard.engine.records import Health, Healthcheck, HealthResult

SECOND = 1_000_000_000


def result(code: int, output: str = "") -> HealthResult:
    return HealthResult(start="2026-01-01T00:00:00.000000000Z", end="2026-01-01T00:00:01.000000000Z",
                        exit_code=code, output=output)  # fmt: skip


def test_merge_takes_zero_fields_from_the_image() -> None:
    image = SimpleNamespace(test=["CMD", "true"], interval=5 * SECOND, timeout=None, start_period=None, retries=4)
    merged = merge(Healthcheck(interval=SECOND), image)
    assert merged == Healthcheck(test=("CMD", "true"), interval=SECOND, retries=4)
    assert merge(None, None) is None
    assert merge(None, image) == Healthcheck(test=("CMD", "true"), interval=5 * SECOND, retries=4)


def test_enabled_and_argv() -> None:
    assert not enabled(Healthcheck(test=("NONE",))) and not enabled(None) and not enabled(Healthcheck())
    assert probe_argv(Healthcheck(test=("CMD-SHELL", "exit 1"))) == ("/bin/sh", "-c", "exit 1")
    assert probe_argv(Healthcheck(test=("CMD", "cat", "/x"))) == ("cat", "/x")


def test_unhealthy_after_retries_and_healthy_resets() -> None:
    health = Health()
    health = apply_result(health, result(1), retries=2, start_period_ns=0, started_at_ns=0, start_ns=SECOND)
    assert (health.status, health.failing_streak) == ("starting", 1)
    health = apply_result(health, result(1), retries=2, start_period_ns=0, started_at_ns=0, start_ns=2 * SECOND)
    assert (health.status, health.failing_streak) == ("unhealthy", 2)
    health = apply_result(health, result(0, "ok"), retries=2, start_period_ns=0, started_at_ns=0, start_ns=SECOND)
    assert (health.status, health.failing_streak, health.log[-1].output) == ("healthy", 0, "ok")


def test_failures_in_the_start_period_do_not_count() -> None:
    health = apply_result(Health(), result(1), retries=1, start_period_ns=10 * SECOND, started_at_ns=0,
                          start_ns=SECOND)  # fmt: skip
    assert (health.status, health.failing_streak, len(health.log)) == ("starting", 0, 1)


def test_only_five_results_are_kept() -> None:
    health = Health()
    for i in range(8):
        health = apply_result(health, result(0, str(i)), retries=3, start_period_ns=0, started_at_ns=0, start_ns=0)
    assert [r.output for r in health.log] == ["3", "4", "5", "6", "7"]
