"""`start -a` against a fake client: an --rm container's wait is posted before the start, so its exit status
survives the auto-remove (a wait posted afterwards meets a 404)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from dockyard.cli import containers_lifecycle as cl
from dockyard.cli import run_lifecycle as rl
from dockyard.cli.exits import CliExit
from dockyard.client.client import APIError


@dataclass
class Response:
    chunks: list[bytes]


@dataclass
class FakeClient:
    auto_remove: bool
    calls: list[str] = field(default_factory=list)
    removed: bool = False

    def inspect_container(self, name: str) -> dict[str, Any]:
        self.calls.append("inspect")
        return {"Id": "c1", "Config": {}, "HostConfig": {"AutoRemove": self.auto_remove}}

    def start_container(self, cid: str) -> None:
        self.calls.append("start")
        self.removed = self.auto_remove  # the container runs, exits and is removed at once

    def _call(self, method: str, path: str, query: dict[str, str]) -> Response:
        self.calls.append(f"{method} {path} {query['condition']}")
        if self.removed:
            raise APIError(404, "No such container: c1")
        return Response([json.dumps({"StatusCode": 3, "Error": None}).encode()])

    def _json(self, method: str, path: str, query: dict[str, str]) -> dict[str, Any]:
        response = self._call(method, path, query)
        return dict(json.loads(b"".join(response.chunks)))


@pytest.fixture(autouse=True)
def no_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cl.api, "attach", lambda client, cid, stdin: object())
    monkeypatch.setattr(rl, "stream_container", lambda *args, **kwargs: "ended")


def test_rm_container_wait_posted_before_start_gives_its_code() -> None:
    client = FakeClient(auto_remove=True)
    assert cl._start_attached(client, "c1", interactive=False, keys=None) == 3  # type: ignore[arg-type]
    assert client.calls == ["inspect", "POST /containers/c1/wait removed", "start"]


def test_plain_container_waits_after_the_stream() -> None:
    client = FakeClient(auto_remove=False)
    assert cl._start_attached(client, "c1", interactive=False, keys=None) == 3  # type: ignore[arg-type]
    assert client.calls == ["inspect", "start", "POST /containers/c1/wait not-running"]


def test_start_failure_of_an_rm_container_is_the_daemon_error() -> None:
    client = FakeClient(auto_remove=True)

    def refuse(cid: str) -> None:
        raise APIError(500, "cannot start container c1: oops")

    client.start_container = refuse  # type: ignore[method-assign]
    with pytest.raises(CliExit) as info:
        cl._start_attached(client, "c1", interactive=False, keys=None)  # type: ignore[arg-type]
    assert info.value.message == "Error response from daemon: cannot start container c1: oops"
