"""Which stopped containers recovery starts again (moby's ShouldRestart at daemon start)."""

from __future__ import annotations

import pytest

from dockyard.engine.records import ContainerConfig, ContainerRecord, HostConfig, RestartPolicy, State
from dockyard.engine.recovery import wants_restart

STARTED = "2026-01-01T00:00:00Z"


def _record(policy: str, *, code: int = 137, count: int = 0, retries: int = 0, status: str = "exited",
            started: str = STARTED, stopped: bool = False, auto_remove: bool = False) -> ContainerRecord:  # fmt: skip
    return ContainerRecord(
        id="a" * 64,
        name="x",
        created=STARTED,
        image_id="sha256:" + "ab" * 32,
        path="sh",
        config=ContainerConfig(image="busybox"),
        host_config=HostConfig(
            restart_policy=RestartPolicy(name=policy, maximum_retry_count=retries), auto_remove=auto_remove
        ),  # fmt: skip
        state=State(status=status, exit_code=code, started_at=started),
        restart_count=count,
        manually_stopped=stopped,
    )


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_record("always"), True),
        (_record("always", code=0), True),
        (_record("always", stopped=True), False),
        (_record("unless-stopped"), True),
        (_record("unless-stopped", stopped=True), False),
        (_record("on-failure"), True),
        (_record("on-failure", code=0), False),
        (_record("on-failure", retries=2, count=1), True),
        (_record("on-failure", retries=2, count=2), False),
        (_record("no"), False),
        (_record(""), False),
        (_record("always", status="created", started="0001-01-01T00:00:00Z"), False),
        (_record("always", status="running"), False),
        (_record("no", auto_remove=True), False),
    ],
)
def test_wants_restart(record: ContainerRecord, expected: bool) -> None:
    assert wants_restart(record) is expected
