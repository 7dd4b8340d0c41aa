"""Restart policies: parsing Docker's `--restart` values and the restart manager's decision and backoff.

Pure logic (moby restartmanager): the delay starts at 100 ms, doubles on each restart, is capped at one minute
and goes back to 100 ms once the container ran for 10 s; a manual stop disables restarting until the next
start. The monitor owns the clock and the sleeping; nothing here touches processes or files.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.engine.records import RestartPolicy
from dockyard.errors import InvalidArgument
from dockyard.oci.model import replace

DEFAULT_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0
POLICIES = ("no", "always", "on-failure", "unless-stopped")


def parse_policy(text: str) -> RestartPolicy:
    """The CLI's `--restart` value (docker/cli opts.ParseRestartPolicy) → RestartPolicy, then the daemon's checks."""
    name, sep, count = text.partition(":")
    if sep and name == "":
        raise InvalidArgument("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        try:
            retries = int(count)
        except ValueError as err:
            raise InvalidArgument("invalid restart policy format: maximum retry count must be an integer") from err
    return validate_policy(RestartPolicy(name=name or "no", maximum_retry_count=retries))


def validate_policy(policy: RestartPolicy) -> RestartPolicy:
    """The daemon's checks on a RestartPolicy from the API (moby daemon/container.go validateRestartPolicy)."""
    name = policy.name or "no"
    if name not in POLICIES:
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if policy.maximum_retry_count < 0:
        raise InvalidArgument("maximum retry count cannot be negative")
    if policy.maximum_retry_count and name != "on-failure":
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
    return replace(policy, name=name)


def conflicts_with_auto_remove(policy: RestartPolicy) -> bool:
    return (policy.name or "no") != "no"


@dataclass(frozen=True, slots=True)
class Decision:
    restart: bool
    delay: float  # seconds to wait before the restart
    state: BackoffState


@dataclass(frozen=True, slots=True)
class BackoffState:
    """What the restart manager remembers between exits: the current delay and the restarts done so far."""

    delay: float = 0.0
    count: int = 0


def should_restart(
    policy: RestartPolicy, state: BackoffState, *, exit_code: int, manually_stopped: bool, ran_for: float
) -> Decision:
    """moby's ShouldRestart: whether to restart after an exit, after which delay, and the new backoff state."""
    delay = 0.0 if ran_for >= RESET_AFTER else state.delay
    delay = DEFAULT_DELAY if delay == 0.0 else min(delay * 2, MAX_DELAY)
    name = policy.name or "no"
    restart = False
    if manually_stopped:
        restart = False
    elif name == "always" or name == "unless-stopped":
        restart = True
    elif name == "on-failure":
        limit = policy.maximum_retry_count
        if limit == 0 or state.count < limit:
            restart = exit_code != 0
    if not restart:
        return Decision(False, 0.0, BackoffState(delay=delay, count=state.count))
    return Decision(True, delay, BackoffState(delay=delay, count=state.count + 1))
