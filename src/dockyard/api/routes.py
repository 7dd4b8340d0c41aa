"""The route table (data) and the dispatcher: version prefix, path parameters, errors → Docker's JSON errors.

`Api.handle` is what both transports call: the in-process client and the daemon's HTTP server. Handlers never see
the version prefix; unexpected exceptions are not caught here (the caller decides: the CLI reports them, the
daemon answers 500). Routes name their handler as `module.function` under dockyard.api and import it on first
dispatch, so an in-process CLI call loads only the one handler module it needs; the daemon calls `load_all()`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, BinaryIO

from dockyard.api.messages import Request, Response
from dockyard.api.versions import API_VERSION, MIN_API_VERSION, VERSION
from dockyard.errors import DockyardError
from dockyard.oci.model import replace

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

Handler = Callable[["Engine", Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    target: str  # `module.function` under dockyard.api

    @property
    def handler(self) -> Handler:
        """The handler function, its module imported on first use."""
        module, _, function = self.target.rpartition(".")
        handler: Handler = getattr(importlib.import_module(f"dockyard.api.{module}"), function)
        return handler


ROUTES = (
    Route("GET", "/_ping", "system.ping"),
    Route("HEAD", "/_ping", "system.ping"),
    Route("GET", "/version", "system.version"),
    Route("GET", "/info", "system.info"),
    Route("GET", "/containers/json", "containers_info.list_"),
    Route("POST", "/containers/create", "containers.create"),
    Route("GET", "/containers/{id}/json", "containers_info.inspect_"),
    Route("GET", "/containers/{id}/top", "containers_info.top_"),
    Route("GET", "/containers/{id}/changes", "containers_info.changes"),
    Route("GET", "/containers/{id}/stats", "containers_info.stats_"),
    Route("GET", "/containers/{id}/export", "containers_info.export"),
    Route("HEAD", "/containers/{id}/archive", "containers_info.archive_head"),
    Route("GET", "/containers/{id}/archive", "containers_info.archive_get"),
    Route("PUT", "/containers/{id}/archive", "containers_info.archive_put"),
    Route("POST", "/containers/{id}/update", "containers_info.update"),
    Route("POST", "/containers/{id}/rename", "containers_info.rename"),
    Route("POST", "/containers/prune", "containers_info.prune"),
    Route("POST", "/commit", "containers_info.commit"),
    Route("POST", "/build", "build.build"),
    Route("POST", "/containers/{id}/exec", "exec.create"),
    Route("POST", "/exec/{id}/start", "exec.start"),
    Route("POST", "/exec/{id}/resize", "exec.resize"),
    Route("GET", "/exec/{id}/json", "exec.inspect"),
    Route("GET", "/events", "system_events.events_"),
    Route("GET", "/system/df", "system_events.system_df"),
    Route("GET", "/containers/{id}/logs", "containers_lifecycle.logs"),
    Route("POST", "/containers/{id}/start", "containers_lifecycle.start"),
    Route("POST", "/containers/{id}/stop", "containers_lifecycle.stop"),
    Route("POST", "/containers/{id}/restart", "containers_lifecycle.restart"),
    Route("POST", "/containers/{id}/kill", "containers_lifecycle.kill"),
    Route("POST", "/containers/{id}/pause", "containers_lifecycle.pause"),
    Route("POST", "/containers/{id}/unpause", "containers_lifecycle.unpause"),
    Route("POST", "/containers/{id}/wait", "containers_lifecycle.wait"),
    Route("POST", "/containers/{id}/attach", "containers_lifecycle.attach"),
    Route("POST", "/containers/{id}/resize", "containers_lifecycle.resize"),
    Route("DELETE", "/containers/{id}", "containers.remove"),
    Route("GET", "/images/json", "images_query.list_images"),
    Route("GET", "/images/get", "images_transfer.save"),
    Route("POST", "/images/load", "images_transfer.load"),
    Route("POST", "/images/create", "images_transfer.create"),
    Route("POST", "/images/prune", "images_manage.prune"),
    Route("GET", "/images/{name*}/json", "images_query.inspect"),
    Route("GET", "/images/{name*}/history", "images_query.history"),
    Route("GET", "/images/{name*}/get", "images_transfer.save"),
    Route("POST", "/images/{name*}/tag", "images_manage.tag"),
    Route("DELETE", "/images/{name*}", "images_manage.delete"),
    Route("GET", "/networks", "networks.list_"),
    Route("GET", "/networks/{id}", "networks.inspect"),
    Route("POST", "/networks/create", "networks.create"),
    Route("POST", "/networks/prune", "networks.prune"),
    Route("DELETE", "/networks/{id}", "networks.remove"),
    Route("POST", "/networks/{id}/connect", "networks.connect"),
    Route("POST", "/networks/{id}/disconnect", "networks.disconnect"),
    Route("GET", "/volumes", "volumes.list_"),
    Route("POST", "/volumes/create", "volumes.create"),
    Route("POST", "/volumes/prune", "volumes.prune"),
    Route("GET", "/volumes/{name}", "volumes.inspect"),
    Route("DELETE", "/volumes/{name}", "volumes.remove"),
    Route("POST", "/_dockyard/images/busybox", "images.build_busybox"),
    Route("POST", "/_dockyard/images/debian", "images.build_debian"),
    Route("GET", "/_dockyard/system/check", "system.check"),
)

_VERSION_PREFIX = re.compile(r"/v([0-9]+)\.([0-9]+)(/.*)")


def _compile(pattern: str) -> re.Pattern[str]:
    """`{id}` matches one path segment; `{name*}` several (image names hold slashes: `localhost:5000/a/b`)."""
    pattern = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.+)", pattern)
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern))


_COMPILED = tuple((route, _compile(route.pattern)) for route in ROUTES)


def load_all() -> None:
    """Import every handler module now (the daemon: no first-request import latency)."""
    for route in ROUTES:
        _ = route.handler


def parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor)


def split_version(path: str) -> tuple[str | None, str]:
    """`/v1.47/containers/json` → ("1.47", "/containers/json"); an unversioned path → (None, path)."""
    m = _VERSION_PREFIX.fullmatch(path)
    if m is None:
        return None, path
    return f"{int(m.group(1))}.{int(m.group(2))}", m.group(3)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for `method path` (unversioned) and its path parameters."""
    for route, regex in _COMPILED:
        if route.method != method:
            continue
        m = regex.fullmatch(path)
        if m is not None:
            return route, dict(m.groupdict())
    return None


def common_headers() -> tuple[tuple[str, str], ...]:
    """Headers Docker puts on every response (the docker CLI reads API-Version from /_ping)."""
    return (
        ("Api-Version", API_VERSION),
        ("Docker-Experimental", "false"),
        ("Ostype", "linux"),
        ("Server", f"Dockyard/{VERSION} (linux)"),
    )


class Api:
    def __init__(self, engine_factory: Callable[[], Engine]) -> None:
        self._engine_factory = engine_factory

    @cached_property
    def engine(self) -> Engine:
        return self._engine_factory()

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        upload: BinaryIO | None = None,
    ) -> Response:
        response = self._handle(method, path, query, headers, body, upload)
        return replace(response, headers=common_headers() + response.headers)

    def _handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        upload: BinaryIO | None = None,
    ) -> Response:
        version, bare = split_version(path)
        if version is not None:
            asked = parse_version(version)
            if asked < parse_version(MIN_API_VERSION):
                return Response.error(
                    400,
                    f"client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, "
                    "please upgrade your client to a newer version",
                )
            if asked > parse_version(API_VERSION):
                return Response.error(
                    400, f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
                )
        found = match(method, bare)
        if found is None:
            return Response.error(404, "page not found")
        route, params = found
        request = Request(
            method=method,
            path=bare,
            query=dict(query),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            params=params,
            version=version or API_VERSION,
            upload=upload,
        )
        try:
            return route.handler(self.engine, request)
        except DockyardError as err:
            return Response.error(err.http_status, err.message)
