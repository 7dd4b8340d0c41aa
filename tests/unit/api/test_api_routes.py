"""api/routes.py: the route table, version prefixes, and errors as Docker's JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.api.routes import ROUTES, Api, load_all, match, split_version
from dockyard.engine.engine import Engine
from dockyard.paths import Paths


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(lambda: Engine(Paths(data_root=str(tmp_path), exec_root=str(tmp_path / "run")), runtime="runc"))


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/v1.47/_ping", ("1.47", "/_ping")), ("/v1.24/containers/json", ("1.24", "/containers/json")),
     ("/_ping", (None, "/_ping")), ("/v2/x", (None, "/v2/x"))],
)  # fmt: skip
def test_split_version(path: str, expected: tuple[str | None, str]) -> None:
    assert split_version(path) == expected


def test_match_extracts_path_parameters() -> None:
    found = match("POST", "/containers/abc/start")
    assert found is not None and found[0].pattern == "/containers/{id}/start" and found[1] == {"id": "abc"}
    assert match("GET", "/containers/abc/start") is None
    assert match("DELETE", "/containers/abc")[1] == {"id": "abc"}  # type: ignore[index]
    assert match("GET", "/containers/json") is not None and match("GET", "/containers/json")[1] == {}  # type: ignore[index]


def test_route_table_has_no_duplicates() -> None:
    keys = [(r.method, r.pattern) for r in ROUTES]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("path", ["/_ping", "/v1.24/_ping", "/v1.47/_ping"])
def test_ping_ok_with_version_headers(api: Api, path: str) -> None:
    response = api.handle("GET", path, {}, {}, b"")
    headers = dict(response.headers)
    assert (response.status, response.body) == (200, b"OK")
    assert headers["Api-Version"] == "1.47" and headers["Ostype"] == "linux"
    assert headers["Docker-Experimental"] == "false" and headers["Server"].startswith("Dockyard/")


def test_head_ping_has_no_body(api: Api) -> None:
    response = api.handle("HEAD", "/_ping", {}, {}, b"")
    assert (response.status, response.body) == (200, b"")


def test_versions_out_of_range(api: Api) -> None:
    old = api.handle("GET", "/v1.23/version", {}, {}, b"")
    assert old.status == 400 and json.loads(old.body)["message"].startswith("client version 1.23 is too old.")
    new = api.handle("GET", "/v1.48/version", {}, {}, b"")
    assert json.loads(new.body) == {"message": "client version 1.48 is too new. Maximum supported API version is 1.47"}


def test_unknown_route_is_404_page_not_found(api: Api) -> None:
    response = api.handle("GET", "/v1.47/nope", {}, {}, b"")
    assert (response.status, json.loads(response.body)) == (404, {"message": "page not found"})


def test_engine_errors_become_json_messages(api: Api) -> None:
    response = api.handle("GET", "/containers/nosuch/json", {}, {}, b"")
    assert (response.status, json.loads(response.body)) == (404, {"message": "No such container: nosuch"})
    body = json.dumps({"Image": "nosuch"}).encode()
    response = api.handle("POST", "/v1.47/containers/create", {}, {}, body)
    assert (response.status, json.loads(response.body)) == (404, {"message": "No such image: nosuch:latest"})


def test_version_document(api: Api) -> None:
    data = json.loads(api.handle("GET", "/version", {}, {}, b"").body)
    assert data["ApiVersion"] == "1.47" and data["MinAPIVersion"] == "1.24" and data["Os"] == "linux"
    assert data["Components"][0]["Name"] == "Engine"


def test_logs_need_a_stream(api: Api) -> None:
    response = api.handle("GET", "/containers/x/logs", {}, {}, b"")
    assert json.loads(response.body) == {"message": "Bad parameters: you must choose at least one stream"}


def test_every_route_names_a_handler() -> None:
    for route in ROUTES:
        assert callable(route.handler), route.target
    load_all()


def test_a_dispatch_imports_only_its_handler_module(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from dockyard.api.routes import Api\n"
        "from dockyard.engine.engine import Engine\n"
        "from dockyard.paths import Paths\n"
        f"api = Api(lambda: Engine(Paths(data_root={str(tmp_path)!r}, exec_root={str(tmp_path / 'run')!r}), "
        "runtime='runc'))\n"
        "assert api.handle('GET', '/v1.47/version', {}, {}, b'').status == 200\n"
        "print(*sorted(m for m in sys.modules if m.startswith('dockyard.api.')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(proc.stdout.split())
    assert "dockyard.api.system" in loaded
    assert not {"dockyard.api.containers_info", "dockyard.api.images_transfer", "dockyard.api.volumes",
                "dockyard.api.networks", "dockyard.api.exec"} & loaded  # fmt: skip
