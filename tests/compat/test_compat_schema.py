"""Responses of the implemented endpoints validate against the Engine API swagger (golang-github-docker-docker-dev).

Swagger 2.0 schemas are checked with jsonschema (draft 4). Every typed schema also accepts null: dockerd itself
answers null for nil Go slices and maps the swagger does not mark `x-nullable` (the recorded /info of Docker
20.10 has `"Warnings":null`, `"Authorization":null`), and a test that rejected Docker's own answers would be
wrong; string enums also accept "" (Go's zero value), and RestartPolicy "no". The recorded dockerd bodies are
validated too, as a check of this very conversion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from compat_harness import REF, SWAGGER, Daemon, start_daemon

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (dev extra)")
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (dev extra)")

pytestmark = pytest.mark.skipif(not SWAGGER.exists(), reason=f"{SWAGGER} is missing: run `make refs`")


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items()}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:  # and Go's zero value: dockerd answers `"Isolation":""`
                out["enum"] = [*out["enum"], None, ""]
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@cache
def _swagger() -> dict[str, Any]:
    with open(SWAGGER) as f:
        loaded: dict[str, Any] = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # The 1.41 swagger omits "no", which dockerd both accepts and answers (later swaggers list it).
    loaded["definitions"]["RestartPolicy"]["properties"]["Name"]["enum"].append("no")
    return loaded


def validator(path: str, method: str, status: int) -> Any:
    doc = _swagger()
    responses = doc["paths"][path][method.lower()]["responses"]
    schema = (responses.get(status) or responses[str(status)])["schema"]  # YAML reads `200:` as an int
    full = _nullable({**schema, "definitions": doc["definitions"]})
    return jsonschema.Draft4Validator(full)


def assert_valid(path: str, method: str, status: int, body: Any) -> None:
    errors = sorted(validator(path, method, status).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def _recorded() -> list[tuple[str, str, int, Any]]:
    known = {"/v1.41/version": "/version", "/v1.41/info": "/info", "/v1.41/containers/json": "/containers/json"}
    out = []
    if REF.exists():
        for line in REF.read_text().splitlines():
            for call in json.loads(line)["calls"]:
                target = call["target"].split("?")[0]
                if target in known and call["status"] == 200:
                    out.append((known[target], call["method"], 200, json.loads(call["resp_body"])))
    return out


@pytest.mark.parametrize(("path", "method", "status", "body"), _recorded()[:6])
def test_the_validator_accepts_dockerds_own_bodies(path: str, method: str, status: int, body: Any) -> None:
    assert_valid(path, method, status, body)


def test_the_validator_rejects_a_wrong_type() -> None:
    with pytest.raises(AssertionError, match=r"\['ApiVersion'\]: 1 is not of type"):
        assert_valid("/version", "GET", 200, {"ApiVersion": 1})


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_daemon(tmp_path_factory.mktemp("compat-schema")) as d:
        yield d


def _get(daemon: Daemon, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, data = daemon.request(method, "/v1.41" + path, body)
    return status, json.loads(data) if data else None


@pytest.mark.parametrize(("path", "query"), [("/version", ""), ("/info", ""), ("/containers/json", "?all=1")])
def test_system_and_list_endpoints(daemon: Daemon, path: str, query: str) -> None:
    status, body = _get(daemon, "GET", path + query)
    assert status == 200, body
    assert_valid(path, "GET", 200, body)


@pytest.mark.privileged
def test_create_inspect_and_errors(daemon: Daemon) -> None:
    status, created = _get(daemon, "POST", "/containers/create?name=schema-c", {"Image": "busybox", "Cmd": ["true"]})
    assert status == 201, created
    assert_valid("/containers/create", "POST", 201, created)
    try:
        status, inspected = _get(daemon, "GET", f"/containers/{created['Id']}/json")
        assert status == 200
        assert_valid("/containers/{id}/json", "GET", 200, inspected)
        status, listed = _get(daemon, "GET", "/containers/json?all=1")
        assert_valid("/containers/json", "GET", 200, listed)
        assert created["Id"] in [c["Id"] for c in listed]
    finally:
        daemon.request("DELETE", f"/v1.41/containers/{created['Id']}?force=1")
    status, missing = _get(daemon, "GET", "/containers/nosuch/json")
    assert status == 404
    assert_valid("/containers/{id}/json", "GET", 404, missing)
    status, bad = _get(daemon, "POST", "/containers/create", {"Image": 5})
    assert status == 400
    assert_valid("/containers/create", "POST", 400, bad)


def test_images_list(daemon: Daemon) -> None:
    status, body = _get(daemon, "GET", "/images/json")
    assert status == 200 and body
    assert_valid("/images/json", "GET", 200, body)
