"""tracing.py: marks are written only when DOCKYARD_TRACE names a file, one whole line each, ids elided."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard import tracing

CID = "a" * 64


def test_no_variable_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_TRACE", raising=False)
    monkeypatch.chdir(tmp_path)
    tracing.mark("engine: start")
    assert list(tmp_path.iterdir()) == []


def test_marks_append_time_pid_and_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "trace.log"
    monkeypatch.setenv("DOCKYARD_TRACE", str(trace))
    tracing.mark("engine: start")
    tracing.mark("monitor: main")
    lines = [line.split(" ", 2) for line in trace.read_text().splitlines()]
    assert [label for _, _, label in lines] == ["engine: start", "monitor: main"]
    assert all(pid == str(os.getpid()) for _, pid, _ in lines)
    assert int(lines[0][0]) <= int(lines[1][0])


def test_an_unwritable_trace_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_TRACE", str(tmp_path / "missing" / "trace.log"))
    tracing.mark("runtime: init ready")  # e.g. inside a container's root: no error


def test_route_elides_ids_and_the_api_version() -> None:
    assert tracing.route(f"/v1.47/containers/{CID}/start") == "/containers/{id}/start"
    assert tracing.route("/containers/create") == "/containers/create"
    assert tracing.route("/v1.41/containers/web/json") == "/containers/web/json"  # a name is kept


def test_request_marks_name_the_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "trace.log"
    monkeypatch.setenv("DOCKYARD_TRACE", str(trace))
    tracing.mark_request("POST", f"/v1.47/containers/{CID}/start")
    assert trace.read_text().split(" ", 2)[2] == "client: POST /containers/{id}/start\n"
