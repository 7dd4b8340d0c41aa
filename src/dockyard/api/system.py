"""Handlers for /_ping, /version, /info and dockyard's own /_dockyard/system/check."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.api.messages import Request, Response
from dockyard.api.versions import API_VERSION, MIN_API_VERSION

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

_NO_CACHE = (("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache"), ("Builder-Version", "1"))


def ping(engine: Engine, req: Request) -> Response:
    """`OK` (an empty body for HEAD); the version headers come from the dispatcher."""
    body = b"" if req.method == "HEAD" else b"OK"
    return Response(status=200, body=body, content_type="text/plain; charset=utf-8", headers=_NO_CACHE)


def version(engine: Engine, req: Request) -> Response:
    info = engine.system_info()
    details = {
        "ApiVersion": API_VERSION,
        "Arch": info.arch,
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": "",
        "GoVersion": f"python{info.python}",
        "KernelVersion": info.kernel,
        "MinAPIVersion": MIN_API_VERSION,
        "Os": info.os,
    }
    return Response.json(
        {
            "Platform": {"Name": "Dockyard Engine"},
            "Components": [{"Name": "Engine", "Version": info.version, "Details": details}],
            "Version": info.version,
            **{k: v for k, v in details.items() if k != "Experimental"},
        }
    )


def info(engine: Engine, req: Request) -> Response:
    from dockyard.api.system_info import info_json

    return Response.json(info_json(engine))


def check(engine: Engine, req: Request) -> Response:
    """Not Docker's API: re-hash every blob, report corruption and dangling references (`dockyard system check`)."""
    return Response.json({"Problems": engine.system_check()})
