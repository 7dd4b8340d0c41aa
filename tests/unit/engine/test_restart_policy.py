"""engine/restart.py: --restart parsing, the daemon's checks and moby's restart-manager decisions and backoff."""

from __future__ import annotations

import pytest

from dockyard.engine.records import RestartPolicy
from dockyard.engine.restart import MAX_DELAY, BackoffState, parse_policy, should_restart, validate_policy
from dockyard.errors import InvalidArgument


def test_parse_policy() -> None:
    assert parse_policy("") == RestartPolicy()
    assert parse_policy("always") == RestartPolicy(name="always")
    assert parse_policy("on-failure:3") == RestartPolicy(name="on-failure", maximum_retry_count=3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sometimes", "invalid restart policy 'sometimes'"),
        (":3", "invalid restart policy format: no policy provided before colon"),
        ("on-failure:x", "invalid restart policy format: maximum retry count must be an integer"),
        ("always:2", "maximum retry count cannot be used with restart policy 'always'"),
        ("on-failure:-1", "maximum retry count cannot be negative"),
    ],
)
def test_bad_policies(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_policy(text)
    assert str(err.value) == message


def test_validate_fills_in_no() -> None:
    assert validate_policy(RestartPolicy(name="")).name == "no"


def test_on_failure_counts_and_stops_at_the_limit() -> None:
    policy, state = RestartPolicy(name="on-failure", maximum_retry_count=2), BackoffState()
    delays = []
    for _ in range(2):
        decision = should_restart(policy, state, exit_code=1, manually_stopped=False, ran_for=0.0)
        assert decision.restart
        delays.append(decision.delay)
        state = decision.state
    assert delays == [0.1, 0.2] and state.count == 2
    assert not should_restart(policy, state, exit_code=1, manually_stopped=False, ran_for=0.0).restart
    assert not should_restart(policy, BackoffState(), exit_code=0, manually_stopped=False, ran_for=0.0).restart


def test_backoff_doubles_caps_and_resets_after_ten_seconds() -> None:
    policy, state = RestartPolicy(name="always"), BackoffState()
    for _ in range(12):
        state = should_restart(policy, state, exit_code=0, manually_stopped=False, ran_for=0.5).state
    assert state.delay == MAX_DELAY
    reset = should_restart(policy, state, exit_code=0, manually_stopped=False, ran_for=10.0)
    assert reset.restart and reset.delay == 0.1


def test_manual_stop_disables_every_policy() -> None:
    for name in ("always", "unless-stopped", "on-failure"):
        decision = should_restart(RestartPolicy(name=name), BackoffState(), exit_code=1, manually_stopped=True,
                                  ran_for=0.0)  # fmt: skip
        assert not decision.restart
    assert not should_restart(RestartPolicy(), BackoffState(), exit_code=1, manually_stopped=False, ran_for=0).restart
