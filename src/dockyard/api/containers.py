"""Handlers for /containers/*: create, start, wait, logs, kill, remove, inspect, list."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dockyard.api import networks, streams, wire
from dockyard.api.messages import Request, Response
from dockyard.engine.create_warnings import HostFeatures, create_warnings
from dockyard.errors import InvalidArgument
from dockyard.oci.model import replace

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine
    from dockyard.engine.logs import LogEntry


def create(engine: Engine, req: Request) -> Response:
    request = wire.create_request(req.json())
    host_config, warnings = create_warnings(request.host_config, HostFeatures.probe())
    request = replace(request, host_config=host_config)
    record = engine.containers.create(request, name=req.query.get("name") or None)
    return Response.json({"Id": record.id, "Warnings": warnings}, status=201)


def start(engine: Engine, req: Request) -> Response:
    record = engine.containers.get(req.params["id"])
    if record.state.status == "running":
        return Response.empty(304)
    engine.containers.start(record.id)
    return Response.empty(204)


def wait(engine: Engine, req: Request) -> Response:
    condition = req.query.get("condition", "not-running") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidArgument(f"invalid condition: {condition}")
    status = engine.containers.wait(req.params["id"])
    return Response.json({"StatusCode": status.status_code, "Error": None})


def kill(engine: Engine, req: Request) -> Response:
    engine.containers.kill(req.params["id"], req.query.get("signal") or "SIGKILL")
    return Response.empty(204)


def remove(engine: Engine, req: Request) -> Response:
    engine.containers.remove(req.params["id"], force=req.flag("force"), volumes=req.flag("v"))
    return Response.empty(204)


def inspect(engine: Engine, req: Request) -> Response:
    record = engine.containers.get(req.params["id"])
    doc = wire.inspect_json(record, engine.paths)
    doc["NetworkSettings"].update(networks.container_network_settings(engine, record))  # networking: api/networks.py
    doc["HostConfig"]["NetworkMode"] = record.host_config.network_mode or "default"
    return Response.json(doc)


def logs(engine: Engine, req: Request) -> Response:
    want = {name for name in ("stdout", "stderr") if req.flag(name)}
    if not want:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    record = engine.containers.get(req.params["id"])
    entries: Iterator[LogEntry] = engine.containers.logs(record.id, follow=req.flag("follow"))
    entries = (e for e in entries if e.stream in want)
    tail = req.query.get("tail", "all") or "all"
    if tail != "all":
        if not tail.isdigit():
            raise InvalidArgument(f"invalid value for tail: {tail}")
        if req.flag("follow"):
            # Skip all but the last `tail` entries written so far, then follow on.
            written = sum(1 for e in engine.containers.logs(record.id) if e.stream in want)
            entries = itertools.islice(entries, max(0, written - int(tail)), None)
        else:
            entries = iter(deque(entries, maxlen=int(tail)))
    timestamps, tty = req.flag("timestamps"), record.config.tty

    def render() -> Iterator[bytes]:
        for e in entries:
            payload = f"{e.time} ".encode() + e.data if timestamps else e.data
            yield payload if tty else streams.frame(streams.STREAMS[e.stream], payload)

    content_type = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    return Response(status=200, content_type=content_type, stream=render())
