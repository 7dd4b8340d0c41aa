"""Handlers for the observing and maintenance endpoints of /containers: list (ps), inspect, top, changes, stats,
export, archive (HEAD/GET/PUT), update, rename, prune, and POST /commit. Docker's status codes and headers.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dockyard.api import filters as api_filters
from dockyard.api import inspect_json, networks, volumes
from dockyard.api.messages import Request, Response
from dockyard.engine import changes as changes_
from dockyard.engine import copy, inspect, stats, top
from dockyard.engine import update as update_
from dockyard.engine.records import RestartPolicy
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

_STATS_INTERVAL = 1.0


def list_(engine: Engine, req: Request) -> Response:
    limit = req.query.get("limit", "") or "0"
    if not limit.lstrip("-").isdigit():
        raise InvalidArgument(f'strconv.Atoi: parsing "{limit}": invalid syntax')
    views = inspect.list_containers(
        engine.containers,
        all=req.flag("all"),
        limit=max(int(limit), 0),
        filters=api_filters.decode(req.query.get("filters")),
        size=req.flag("size"),
    )
    return Response.json([_summary(engine, v) for v in views])


def _summary(engine: Engine, view: inspect.ContainerView) -> dict[str, Any]:
    """A ps entry with its ports and networks (docker ps's PORTS column); only a live container holds any."""
    out = inspect_json.summary_json(view)
    record = view.record
    if record.state.status in ("running", "paused", "restarting"):
        net = networks.container_network_settings(engine, record)
        out["Ports"] = ports_list(net["Ports"])
        out["NetworkSettings"] = {"Networks": net["Networks"]}
    else:
        out["Ports"] = ports_list(dict.fromkeys(record.config.exposed_ports or ()))
    return out


def ports_list(ports: dict[str, Any]) -> list[dict[str, Any]]:
    """Inspect's `{"80/tcp": [{"HostIp", "HostPort"}] | null}` as the list's `[{IP, PrivatePort, PublicPort, Type}]`."""
    out: list[dict[str, Any]] = []
    for key, bindings in ports.items():
        number, _, proto = key.partition("/")
        if not number.isdigit():
            continue
        if not bindings:
            out.append({"PrivatePort": int(number), "Type": proto or "tcp"})
            continue
        for b in bindings:
            out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(number),
                        "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})  # fmt: skip
    return out


def inspect_(engine: Engine, req: Request) -> Response:
    record = engine.containers.get(req.params["id"])
    view = inspect.view(engine.containers, record, size=req.flag("size"))
    doc = inspect_json.container_json(view)
    doc["NetworkSettings"].update(networks.container_network_settings(engine, record))  # networking: api/networks.py
    doc["HostConfig"]["NetworkMode"] = record.host_config.network_mode or "default"
    doc["HostConfig"].update(volumes.host_config_json(engine, record.id))  # mounts: api/volumes.py
    doc["Mounts"] = volumes.container_mounts(engine, record.id)
    return Response.json(doc)


def top_(engine: Engine, req: Request) -> Response:
    result = top.top(engine.containers, req.params["id"], req.query.get("ps_args", ""))
    return Response.json({"Processes": [list(p) for p in result.processes], "Titles": list(result.titles)})


def changes(engine: Engine, req: Request) -> Response:
    record = engine.containers.get(req.params["id"])
    found = changes_.changes(changes_.container_layers(engine.containers, record))
    return Response.json([{"Path": c.path, "Kind": c.kind} for c in found] or None)


def export(engine: Engine, req: Request) -> Response:
    containers, ref = engine.containers, req.params["id"]
    containers.get(ref)  # a missing container is a 404 before the stream starts
    chunks = copy.stream_from(lambda out: copy.export(containers, ref, out))
    return Response(status=200, content_type="application/octet-stream", stream=chunks)


def _path(req: Request) -> str:
    path = req.query.get("path", "")
    if not path:
        raise InvalidArgument("path cannot be empty")
    return path


def _stat_header(info: copy.PathStat) -> tuple[str, str]:
    data = {"name": info.name, "size": info.size, "mode": info.mode, "mtime": info.mtime,
            "linkTarget": info.link_target}  # fmt: skip
    return ("X-Docker-Container-Path-Stat", base64.b64encode(json.dumps(data).encode()).decode())


def archive_head(engine: Engine, req: Request) -> Response:
    info = copy.stat_path(engine.containers, req.params["id"], _path(req))
    return Response(status=200, headers=(_stat_header(info),))


def archive_get(engine: Engine, req: Request) -> Response:
    containers, ref, path = engine.containers, req.params["id"], _path(req)
    info = copy.stat_path(containers, ref, path)
    chunks = copy.stream_from(lambda out: copy.archive(containers, ref, path, out))
    return Response(status=200, content_type="application/x-tar", headers=(_stat_header(info),), stream=chunks)


def archive_put(engine: Engine, req: Request) -> Response:
    copy.extract(engine.containers, req.params["id"], _path(req), req.upload or io.BytesIO(req.body))
    return Response.empty(200)


def update(engine: Engine, req: Request) -> Response:
    body = req.json() or {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid update body: expected a JSON object")
    policy = None
    if isinstance(body.get("RestartPolicy"), dict) and "Name" in body["RestartPolicy"]:
        rp = body["RestartPolicy"]
        retries = int(rp.get("MaximumRetryCount") or 0)
        policy = RestartPolicy(name=str(rp.get("Name") or ""), maximum_retry_count=retries)

    def number(key: str) -> int | None:
        value = body.get(key)
        if value in (None, 0) and key != "PidsLimit":
            return None
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidArgument(f"invalid field `{key}`: expected an integer")
        return value

    request = update_.UpdateRequest(
        memory=number("Memory"), memory_swap=number("MemorySwap"), nano_cpus=number("NanoCpus"),
        cpu_shares=number("CpuShares"), pids_limit=number("PidsLimit"), restart_policy=policy,
        memory_reservation=number("MemoryReservation"), cpu_period=number("CpuPeriod"), cpu_quota=number("CpuQuota"),
        blkio_weight=number("BlkioWeight"), cpuset_cpus=str(body.get("CpusetCpus") or "") or None,
        cpuset_mems=str(body.get("CpusetMems") or "") or None,
    )  # fmt: skip
    update_.update(engine.containers, req.params["id"], request)
    return Response.json({"Warnings": []})


def rename(engine: Engine, req: Request) -> Response:
    update_.rename(engine.containers, req.params["id"], req.query.get("name", ""))
    return Response.empty(204)


def prune(engine: Engine, req: Request) -> Response:
    from dockyard.engine.system import prune_containers

    report = prune_containers(engine.containers, api_filters.decode(req.query.get("filters")))
    return Response.json({"ContainersDeleted": list(report.deleted) or None, "SpaceReclaimed": report.reclaimed})


def commit(engine: Engine, req: Request) -> Response:
    from dockyard.engine.commit import CommitOptions, commit

    ref = req.query.get("container", "")
    if not ref:
        raise InvalidArgument("No container specified")
    repo, tag = req.query.get("repo", ""), req.query.get("tag", "")
    name = f"{repo}:{tag}" if repo and tag else repo
    body = req.json()
    changes = tuple(req.query.get("changes", "").split("\n")) if req.query.get("changes") else ()
    if isinstance(body, dict) and body:
        changes = (*_config_changes(body), *changes)
    options = CommitOptions(repo=name, author=req.query.get("author", ""), comment=req.query.get("comment", ""),
                            changes=changes, pause=req.flag("pause", True))  # fmt: skip
    image_id = commit(engine.containers, ref, options)
    return Response.json({"Id": image_id}, status=201)


def _config_changes(body: dict[str, Any]) -> list[str]:
    """A commit body (a container Config) as change instructions (docker-py sends one)."""
    out = []
    if isinstance(body.get("Cmd"), list):
        out.append("CMD " + json.dumps(body["Cmd"]))
    if isinstance(body.get("Entrypoint"), list):
        out.append("ENTRYPOINT " + json.dumps(body["Entrypoint"]))
    for env in body.get("Env") or ():
        key, _, value = str(env).partition("=")
        out.append(f"ENV {key}={json.dumps(value)}")
    for key, value in dict(body.get("Labels") or {}).items():
        out.append(f"LABEL {json.dumps(key)}={json.dumps(value)}")
    if body.get("User"):
        out.append(f"USER {body['User']}")
    if body.get("WorkingDir"):
        out.append(f"WORKDIR {body['WorkingDir']}")
    return out


# ---- stats ---------------------------------------------------------------------------------------------------


def stats_(engine: Engine, req: Request) -> Response:
    containers = engine.containers
    record = containers.get(req.params["id"])
    stream = req.flag("stream", True)
    one_shot = req.flag("one-shot")
    if stream and one_shot:
        raise InvalidArgument("cannot have stream=true and one-shot=true")

    def reading() -> stats.Sample:
        current = containers.get(record.id)
        pid = current.state.pid if current.state.status == "running" else 0
        return stats.sample(current.id, pid)

    if not stream:
        first = reading()
        if one_shot or not first.cpu_total_ns:
            return Response.json(stats_json(record.id, record.name, first, None))
        time.sleep(_STATS_INTERVAL)
        return Response.json(stats_json(record.id, record.name, reading(), first))

    def chunks() -> Iterator[bytes]:
        previous = None
        while True:
            current = reading()
            yield (json.dumps(stats_json(record.id, record.name, current, previous)) + "\n").encode()
            if not current.cpu_total_ns and previous is not None:
                return  # the container stopped: Docker ends the stream
            previous = current
            time.sleep(_STATS_INTERVAL)

    return Response(status=200, content_type="application/json", stream=chunks())


def _cpu_json(s: stats.Sample | None) -> dict[str, Any]:
    if s is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}  # fmt: skip
    usage: dict[str, Any] = {"total_usage": s.cpu_total_ns}
    if s.cpu_percpu_ns:
        usage["percpu_usage"] = list(s.cpu_percpu_ns)
    usage.update(usage_in_kernelmode=s.cpu_kernel_ns, usage_in_usermode=s.cpu_user_ns)
    periods, throttled, throttled_ns = s.throttling
    return {
        "cpu_usage": usage,
        "system_cpu_usage": s.system_cpu_ns,
        "online_cpus": s.online_cpus,
        "throttling_data": {"periods": periods, "throttled_periods": throttled, "throttled_time": throttled_ns},
    }


def _rfc3339(ns: int) -> str:
    if not ns:
        return "0001-01-01T00:00:00Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


def stats_json(cid: str, name: str, s: stats.Sample, prev: stats.Sample | None) -> dict[str, Any]:
    """One document of GET /containers/{id}/stats, shaped as Docker 20.10's (cgroup v1 field names)."""
    service = [{"major": e.major, "minor": e.minor, "op": e.op, "value": e.value} for e in s.blkio]
    memory: dict[str, Any] = {}
    if s.memory_usage or s.memory_limit:
        memory = {"usage": s.memory_usage, "max_usage": s.memory_max_usage, "stats": dict(s.memory_stat),
                  "limit": s.memory_limit}  # fmt: skip
    pids: dict[str, Any] = {"current": s.pids_current} if s.pids_current else {}
    if s.pids_limit:
        pids["limit"] = s.pids_limit
    out: dict[str, Any] = {
        "read": _rfc3339(s.read_ns), "preread": _rfc3339(prev.read_ns if prev else 0), "pids_stats": pids,
        "blkio_stats": {"io_service_bytes_recursive": service or None, "io_serviced_recursive": None,
                        "io_queue_recursive": None, "io_service_time_recursive": None,
                        "io_wait_time_recursive": None, "io_merged_recursive": None, "io_time_recursive": None,
                        "sectors_recursive": None},
        "num_procs": 0, "storage_stats": {}, "cpu_stats": _cpu_json(s if s.cpu_total_ns else None),
        "precpu_stats": _cpu_json(prev), "memory_stats": memory, "name": f"/{name}", "id": cid,
    }  # fmt: skip
    if s.networks:
        out["networks"] = {
            iface: {"rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets, "rx_errors": n.rx_errors,
                    "rx_dropped": n.rx_dropped, "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets,
                    "tx_errors": n.tx_errors, "tx_dropped": n.tx_dropped}
            for iface, n in s.networks.items()
        }  # fmt: skip
    return out
