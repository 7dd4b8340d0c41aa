"""Property: for any request body or query, the api answers Docker's `{"message": …}` with a 4xx, never a crash.

Drives `Api.handle` (what the daemon's server calls) on an empty temp data root, so no container can start and
every input is either malformed or names something that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.api.routes import Api

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
CREATE_KEYS = st.sampled_from(
    ["Image", "Cmd", "Entrypoint", "Env", "HostConfig", "Labels", "User", "WorkingDir", "Tty", "ExposedPorts"]
)
CREATE_BODIES = st.dictionaries(CREATE_KEYS, JSON_VALUES, max_size=6)
RAW_BODIES = st.binary(max_size=64) | JSON_VALUES.map(lambda v: json.dumps(v).encode())

ENDPOINTS = [
    ("POST", "/v1.47/containers/create"),
    ("POST", "/v1.47/containers/nosuch/start"),
    ("POST", "/v1.47/containers/nosuch/kill"),
    ("POST", "/v1.47/containers/nosuch/wait"),
    ("GET", "/v1.47/containers/nosuch/json"),
    ("GET", "/v1.47/containers/nosuch/logs"),
    ("DELETE", "/v1.47/containers/nosuch"),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root: Path = tmp_path_factory.mktemp("fuzz")

    def engine() -> Any:
        from dockyard.engine.engine import Engine

        return Engine.from_env(str(root / "data"))

    yield Api(engine)


def _assert_client_error(api: Api, method: str, path: str, query: dict[str, str], body: bytes) -> None:
    response = api.handle(method, path, query, {"content-type": "application/json"}, body)
    assert 400 <= response.status < 500, (response.status, response.body)
    message = json.loads(response.body)["message"]
    assert isinstance(message, str) and message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=CREATE_BODIES)
def test_create_with_any_json_is_a_4xx_message(api: Api, body: dict[str, Any]) -> None:
    _assert_client_error(api, "POST", "/v1.47/containers/create", {}, json.dumps(body).encode())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=RAW_BODIES,
    query=st.dictionaries(
        st.sampled_from(["name", "condition", "signal", "force", "tail", "all"]), st.text(max_size=8)
    ),
)
def test_any_body_or_query_is_a_4xx_message(
    api: Api, endpoint: tuple[str, str], body: bytes, query: dict[str, str]
) -> None:
    method, path = endpoint
    _assert_client_error(api, method, path, query, body)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/v1.20/version",
            "client version 1.20 is too old. Minimum supported API version is 1.24, please upgrade your client "
            "to a newer version",
        ),
        ("/v1.99/version", "client version 1.99 is too new. Maximum supported API version is 1.47"),
        ("/v1.47/nope", "page not found"),
    ],
)
def test_version_bounds_and_unknown_paths(api: Api, path: str, message: str) -> None:
    response = api.handle("GET", path, {}, {}, b"")
    assert response.status in (400, 404) and json.loads(response.body) == {"message": message}
