"""`docker top`: the container's processes as the host's `ps` shows them, filtered to the pids of its cgroup.

The pids come from the runtime (`ps --format json`, runc's contract); the table is moby's parse of `ps` output
(titles split on blanks, the last column keeps its spaces). Never signals or changes a process.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.engine import events
from dockyard.engine.runtime_client import RuntimeFailure
from dockyard.errors import Conflict, InternalError, InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessList:
    titles: tuple[str, ...]
    processes: tuple[tuple[str, ...], ...]


def container_pids(containers: Containers, container_id: str) -> list[int]:
    argv = [containers.runtime_binary, "--root", containers.paths.runtime_root, "ps", "--format", "json", container_id]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeFailure("ps", proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
    try:
        return [int(p) for p in json.loads(proc.stdout or "[]")]
    except (ValueError, TypeError) as err:
        raise InternalError(f"runtime ps `{container_id}`: unreadable output: {err}") from err


def top(containers: Containers, ref: str, ps_args: str = "") -> ProcessList:
    record = containers.get(ref)
    if record.state.status != "running":
        raise Conflict(f"Container {record.id} is not running")
    pids = container_pids(containers, record.id)
    args = shlex.split(ps_args) if ps_args else ["-ef"]
    try:
        proc = subprocess.run(["ps", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    except OSError as err:
        raise InternalError(f"Error running ps: {err}") from err
    if proc.returncode != 0:
        raise InternalError(f"Error running ps: exit status {proc.returncode}: {proc.stderr.strip()}")
    events.emit_container(containers.paths, record, "top")
    return parse_ps(proc.stdout, pids)


def parse_ps(output: str, pids: list[int]) -> ProcessList:
    """moby's parsePSOutput: keep the lines whose PID column is one of `pids`."""
    lines = output.split("\n")
    titles = tuple(lines[0].split()) if lines else ()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    index = titles.index("PID")
    wanted = set(pids)
    processes = []
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        try:
            pid = int(fields[index])
        except (ValueError, IndexError) as err:
            raise InvalidArgument(f"Unexpected pid '{fields[index] if index < len(fields) else ''}': {err}") from err
        if pid in wanted:
            head = fields[: len(titles) - 1]
            processes.append((*head, " ".join(fields[len(titles) - 1 :])))
    return ProcessList(titles=titles, processes=tuple(processes))
