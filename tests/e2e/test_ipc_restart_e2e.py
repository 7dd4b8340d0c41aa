"""An --ipc shareable donor's /dev/shm across restarts, as dockerd: each run gets a fresh host tmpfs (mounted again
at `restart` and before a restart by policy), joiners started afterwards share the new one, and the final stop
leaves no mount behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, checked, make_root, shm_mounts, wait_for
from _harness import run_rm as run

pytestmark = pytest.mark.privileged

# Each run records how many files it found in /dev/shm (0 on a fresh tmpfs) in a file of a random name (the pid
# is 1 in every run).
COUNT_AND_WAIT = 'n=$(ls /dev/shm | wc -l); echo "$n" > /dev/shm/run-$(cut -c1-8 /proc/sys/kernel/random/uuid); '


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-ipc-restart"))


@pytest.fixture
def d(image_root: Path) -> Iterator[Dockyard]:
    yield from checked(image_root, cgroups=True)


def joiner_sees(d: Dockyard, donor: str) -> list[str]:
    """`name content` of every file in the donor's /dev/shm, as a joiner started now reads them."""
    out = run(d, "--ipc", f"container:{donor}", "busybox", "sh", "-c",
              'for f in /dev/shm/*; do [ -e "$f" ] && echo "${f##*/} $(cat "$f")"; done; true')  # fmt: skip
    return out.splitlines()


def test_restart_mounts_a_fresh_shm_that_new_joiners_share(d: Dockyard) -> None:
    d.ok("run", "-d", "--name", "donor", "--ipc", "shareable", "--shm-size", "8m", "busybox", "sh", "-c",
         COUNT_AND_WAIT + "sleep 60")  # fmt: skip
    assert wait_for(lambda: len(joiner_sees(d, "donor")) == 1)
    first = joiner_sees(d, "donor")
    assert first[0].endswith(" 0") and len(shm_mounts(d.root)) == 1
    d.ok("restart", "-t", "0", "donor")
    assert wait_for(lambda: len(joiner_sees(d, "donor")) == 1 and joiner_sees(d, "donor") != first)
    second = joiner_sees(d, "donor")
    assert second[0].endswith(" 0"), second  # the new run found an empty /dev/shm
    assert len(shm_mounts(d.root)) == 1  # mounted again, not stacked
    df = run(d, "--ipc", "container:donor", "busybox", "sh", "-c", "df -k /dev/shm | tail -1").split()
    assert df[1] == "8192"  # --shm-size kept
    d.ok("rm", "-f", "donor")
    assert wait_for(lambda: shm_mounts(d.root) == [], 10)


def test_restart_policy_run_gets_a_fresh_shm_and_the_last_exit_unmounts_it(d: Dockyard) -> None:
    # 3 s: past monitor_slim.SLIM_AFTER, so the re-exec'd slim monitor is the one that restarts it
    d.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:1", "--ipc", "shareable", "busybox", "sh", "-c",
         COUNT_AND_WAIT + "sleep 3; exit 3")  # fmt: skip
    assert wait_for(lambda: d.inspect("flaky", "{{.RestartCount}} {{.State.Status}}") == "1 running", 15)
    seen = joiner_sees(d, "flaky")
    assert len(seen) == 1 and seen[0].endswith(" 0"), seen  # the first run's file went with its tmpfs
    assert len(shm_mounts(d.root)) == 1
    assert wait_for(lambda: d.inspect("flaky", "{{.State.Status}} {{.State.ExitCode}}") == "exited 3", 15)
    assert d.inspect("flaky", "{{.RestartCount}}") == "1"
    assert wait_for(lambda: shm_mounts(d.root) == [], 10)  # the final exit unmounts it: no leak
    refused = d("run", "--rm", "--ipc", "container:flaky", "busybox", "true")
    assert refused.code == 125 and "can't join IPC of container flaky" in refused.err
