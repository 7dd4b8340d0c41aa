"""ps and inspect pieces: the status column, ps filters (engine), the ps row and table (cli), inspect's shape."""

from __future__ import annotations

import json
import time

import pytest

from dockyard.api import inspect_json
from dockyard.cli import formatting
from dockyard.cli.containers_info import PS_HEADERS, PS_TABLE, PsRow, ellipsis
from dockyard.engine.inspect import ContainerView, ps_matcher
from dockyard.engine.records import ContainerConfig, ContainerRecord, Health, HostConfig, State
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.model import replace


def _stamp(seconds_ago: float) -> str:
    t = time.time() - seconds_ago
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000000000Z"


def _record(name: str, status: str = "running", **state: object) -> ContainerRecord:
    return ContainerRecord(
        id=name.ljust(64, "0"),
        name=name,
        created=_stamp(10),
        image_id="sha256:" + "ab" * 32,
        path="sh",
        args=("-c", "sleep 1000; echo a long command"),
        config=ContainerConfig(image="busybox", labels={"tier": "web"} if name == "web" else None),
        state=State(status=status, started_at=_stamp(3), finished_at=_stamp(5), **state),  # type: ignore[arg-type]
    )


def test_status_text_forms() -> None:
    now = time.time()
    assert inspect_json.status_text(_record("a").state, now) == "Up 3 seconds"
    assert inspect_json.status_text(_record("a", paused=True).state, now) == "Up 3 seconds (Paused)"
    healthy = _record("a", health=Health(status="healthy")).state
    assert inspect_json.status_text(healthy, now) == "Up 3 seconds (healthy)"
    starting = _record("a", health=Health(status="starting")).state
    assert inspect_json.status_text(starting, now) == "Up 3 seconds (health: starting)"
    exited = replace(_record("a", "exited").state, exit_code=3)
    assert inspect_json.status_text(exited, now) == "Exited (3) 5 seconds ago"
    assert inspect_json.status_text(State(), now) == "Created"


def test_ps_filters() -> None:
    web, db, old = _record("web"), _record("db", "exited"), _record("old", "exited")
    records = [web, db, old]  # newest first
    assert [r.name for r in records if ps_matcher({"status": ["exited"]}, records)(r)] == ["db", "old"]
    assert [r.name for r in records if ps_matcher({"name": ["^/w"]}, records)(r)] == ["web"]
    assert [r.name for r in records if ps_matcher({"label": ["tier=web"]}, records)(r)] == ["web"]
    assert [r.name for r in records if ps_matcher({"before": ["web"]}, records)(r)] == ["db", "old"]
    assert [r.name for r in records if ps_matcher({"since": ["old"]}, records)(r)] == ["web", "db"]
    assert [r.name for r in records if ps_matcher({"ancestor": ["busybox"]}, records)(r)] == ["web", "db", "old"]
    assert [r.name for r in records if ps_matcher({"exited": ["0"]}, records)(r)] == ["db", "old"]
    assert [r.name for r in records if ps_matcher({"health": ["none"]}, records)(r)] == ["web", "db", "old"]
    assert [r.name for r in records if ps_matcher({"id": ["db"]}, records)(r)] == ["db"]


def test_ps_filter_errors() -> None:
    with pytest.raises(InvalidArgument, match="^invalid filter 'x'$"):
        ps_matcher({"x": ["1"]}, [])
    with pytest.raises(InvalidArgument, match="^invalid filter 'status=bogus'$"):
        ps_matcher({"status": ["bogus"]}, [])
    with pytest.raises(InvalidArgument, match='strconv.Atoi: parsing "a": invalid syntax'):
        ps_matcher({"exited": ["a"]}, [])
    with pytest.raises(NotFound, match="No such container: ghost"):
        ps_matcher({"before": ["ghost"]}, [])


def _view(record: ContainerRecord) -> ContainerView:
    return ContainerView(record=record, directory="/d", log_path="/d/x-json.log", lower_dir="/l", upper_dir="/u",
                         work_dir="/w", merged_dir="/m")  # fmt: skip


def test_ps_table_is_dockers() -> None:
    summary = inspect_json.summary_json(_view(_record("web")))
    row = PsRow(summary, trunc=True)
    assert row["Command"] == '"sh -c sleep 1000; e…"' and len(json.loads(row["Command"])) == 20
    text = formatting.format_rows(None, [row], default_table=PS_TABLE, headers=PS_HEADERS)
    header, line = text.splitlines()
    assert header == "CONTAINER ID   IMAGE     COMMAND                  CREATED          STATUS         PORTS     NAMES"
    assert line.startswith('web000000000   busybox   "sh -c sleep 1000; e…"   10 seconds ago   Up 3 seconds')
    assert line.endswith("web")
    assert row.Label("tier") == "web"
    assert (
        json.loads(formatting.format_rows("json", [row], default_table=PS_TABLE, headers=PS_HEADERS))["Names"] == "web"
    )


def test_ellipsis() -> None:
    assert ellipsis("short", 20) == "short" and ellipsis("x" * 25, 20) == "x" * 19 + "…"


def test_inspect_shape_has_dockers_fields_and_zero_values() -> None:
    record = replace(_record("web"), host_config=HostConfig(memory=64 << 20))
    doc = inspect_json.container_json(_view(record))
    for key in (
        "Id",
        "Created",
        "Path",
        "Args",
        "State",
        "Image",
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "LogPath",
        "Name",
        "RestartCount",
        "Driver",
        "Platform",
        "MountLabel",
        "ProcessLabel",
        "AppArmorProfile",
        "ExecIDs",
        "HostConfig",
        "GraphDriver",
        "Mounts",
        "Config",
        "NetworkSettings",
    ):
        assert key in doc, key
    assert list(doc)[:6] == ["Id", "Created", "Path", "Args", "State", "Image"]
    hc = doc["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["ShmSize"], hc["RestartPolicy"]) == (
        64 << 20,
        128 << 20,
        67108864,
        {"Name": "no", "MaximumRetryCount": 0},
    )
    assert hc["PidsLimit"] is None and hc["Binds"] is None and hc["Devices"] == []
    assert doc["State"]["Running"] is True and doc["Name"] == "/web" and doc["ExecIDs"] is None
    assert doc["Config"]["Labels"] == {"tier": "web"} and doc["Config"]["Volumes"] is None
    assert doc["NetworkSettings"]["Networks"] == {} and doc["GraphDriver"]["Name"] == "overlay2"
