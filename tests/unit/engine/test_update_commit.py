"""engine.update (docker update's checks) and engine.commit's --change instructions."""

from __future__ import annotations

import pytest

from dockyard.engine.commit import apply_changes
from dockyard.engine.records import HostConfig, RestartPolicy
from dockyard.engine.update import UpdateRequest, merged
from dockyard.errors import InvalidArgument
from dockyard.oci.image_spec import ContainerConfig

MB = 1 << 20


def test_update_merges_and_keeps_unset_fields() -> None:
    hc = HostConfig(memory=64 * MB, pids_limit=10)
    new = merged(hc, UpdateRequest(memory_swap=256 * MB, memory=128 * MB, nano_cpus=500_000_000, cpu_shares=512))
    assert (new.memory, new.memory_swap, new.nano_cpus, new.cpu_shares, new.pids_limit) == (
        128 * MB,
        256 * MB,
        500_000_000,
        512,
        10,
    )
    new = merged(hc, UpdateRequest(restart_policy=RestartPolicy(name="on-failure", maximum_retry_count=3)))
    assert new.restart_policy == RestartPolicy(name="on-failure", maximum_retry_count=3)


@pytest.mark.parametrize(
    ("hc", "req", "message"),
    [
        (HostConfig(), UpdateRequest(memory=1024), "Minimum memory limit allowed is 6MB"),
        (HostConfig(memory=64 * MB), UpdateRequest(memory=256 * MB),
         "Memory limit should be smaller than already set memoryswap limit"),
        (HostConfig(), UpdateRequest(memory=64 * MB, memory_swap=32 * MB),
         "Minimum memoryswap limit should be larger than memory limit"),
        (HostConfig(), UpdateRequest(memory_swap=64 * MB), "You should always set the Memory limit"),
        (HostConfig(), UpdateRequest(restart_policy=RestartPolicy(name="sometimes")),
         "invalid restart policy 'sometimes'"),
        (HostConfig(auto_remove=True), UpdateRequest(restart_policy=RestartPolicy(name="always")),
         "Restart policy cannot be updated because AutoRemove is enabled for the container"),
    ],
)  # fmt: skip
def test_update_refusals(hc: HostConfig, req: UpdateRequest, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        merged(hc, req)


def test_commit_changes() -> None:
    config = apply_changes(
        ContainerConfig(env=("PATH=/bin", "A=1"), cmd=("sh",)),
        ['CMD ["echo", "hi"]', "ENTRYPOINT /bin/x --y", "ENV A=2 B=3", "ENV C four five", 'LABEL "k"="v w"',
         "EXPOSE 80 53/udp", "USER nobody", "WORKDIR /srv", "VOLUME /data", "STOPSIGNAL SIGINT"],
    )  # fmt: skip
    assert config.cmd == ("echo", "hi") and config.entrypoint == ("/bin/sh", "-c", "/bin/x --y")
    assert config.env == ("PATH=/bin", "A=2", "B=3", "C=four five")
    assert config.labels == {"k": "v w"} and set(config.exposed_ports or {}) == {"80/tcp", "53/udp"}
    assert (config.user, config.working_dir, set(config.volumes or {}), config.stop_signal) == (
        "nobody",
        "/srv",
        {"/data"},
        "SIGINT",
    )


def test_commit_change_refuses_other_instructions() -> None:
    with pytest.raises(InvalidArgument, match="^from is not a valid change command$"):
        apply_changes(ContainerConfig(), ["FROM busybox"])
