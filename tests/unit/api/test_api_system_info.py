"""GET /info and /version bodies: every field dockerd 20.10 sent to docker CLI 28 is there, with the same type."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dockyard.api import system
from dockyard.api.messages import Request
from dockyard.api.system_info import info_json
from dockyard.engine.engine import SystemInfo

REF = Path("/work/shared/ref/docker-cli-28-vs-engine-20.10-api-1.41.jsonl")


def _recorded(target: str) -> dict[str, Any]:
    if not REF.exists():
        pytest.skip(f"{REF} is missing")
    for line in REF.read_text().splitlines():
        for call in json.loads(line)["calls"]:
            if call["target"] == target and call["status"] == 200:
                body: dict[str, Any] = json.loads(call["resp_body"])
                return body
    pytest.fail(f"no recorded {target}")


@dataclass
class _State:
    status: str
    paused: bool = False


@dataclass
class _Record:
    state: _State


@dataclass
class _Containers:
    records: list[_Record]
    runtime_binary: str = "/usr/bin/dockyard-runtime"

    def list(self, all: bool = False) -> list[_Record]:
        return self.records


@dataclass
class _Images:
    def list(self) -> list[object]:
        return [object(), object()]


@dataclass
class _Paths:
    data_root: str = "/var/lib/dockyard"


@dataclass
class _Engine:
    containers: _Containers
    images: _Images = field(default_factory=_Images)
    paths: _Paths = field(default_factory=_Paths)

    def system_info(self) -> SystemInfo:
        return SystemInfo(version="0.1.0", os="linux", arch="amd64", kernel="6.1.0", python="3.11.7")


ENGINE = _Engine(
    _Containers([_Record(_State("running")), _Record(_State("running", paused=True)), _Record(_State("exited"))])
)


def _same_shape(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Keys dockerd sent that we lack, and JSON types that differ (null on either side matches anything)."""
    if ours is None or theirs is None:
        return []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: object expected"]
        if path.endswith(("Runtimes", "IndexConfigs")):
            return []  # keyed by runtime / registry name
        problems = [f"{path}.{k}: missing" for k in theirs if k not in ours]
        return problems + [p for k in theirs if k in ours for p in _same_shape(ours[k], theirs[k], f"{path}.{k}")]
    if type(ours) is not type(theirs) and not (isinstance(ours, int | float) and isinstance(theirs, int | float)):
        return [f"{path}: {type(ours).__name__} instead of {type(theirs).__name__}"]
    return []


def test_info_has_every_field_dockerd_sent() -> None:
    ours = info_json(ENGINE)  # type: ignore[arg-type]
    assert _same_shape(ours, _recorded("/v1.41/info")) == []


def test_info_counts_containers_by_state() -> None:
    ours = info_json(ENGINE)  # type: ignore[arg-type]
    assert (ours["Containers"], ours["ContainersRunning"], ours["ContainersPaused"]) == (3, 1, 1)
    assert (ours["ContainersStopped"], ours["Images"]) == (1, 2)
    assert ours["DefaultRuntime"] == "dockyard-runtime" and ours["DockerRootDir"] == "/var/lib/dockyard"
    assert len(ours["ID"].split(":")) == 12


def test_version_has_every_field_dockerd_sent() -> None:
    response = system.version(ENGINE, Request(method="GET", path="/version"))  # type: ignore[arg-type]
    ours = json.loads(response.body)
    theirs = _recorded("/v1.41/version")
    theirs["Components"] = theirs["Components"][:1]  # containerd, runc, docker-init: not ours
    assert _same_shape(ours, theirs) == []
    assert ours["MinAPIVersion"] == "1.24" and ours["ApiVersion"] == "1.47"


def test_ping_headers_and_body() -> None:
    get = system.ping(ENGINE, Request(method="GET", path="/_ping"))  # type: ignore[arg-type]
    head = system.ping(ENGINE, Request(method="HEAD", path="/_ping"))  # type: ignore[arg-type]
    assert (get.body, head.body) == (b"OK", b"")
    headers = dict(get.headers)
    assert headers["Cache-Control"] == "no-cache, no-store, must-revalidate" and headers["Pragma"] == "no-cache"
    assert headers["Builder-Version"] == "1"
