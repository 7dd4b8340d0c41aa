"""GET /images/get and /images/{name}/get (save), POST /images/load, POST /images/create?fromSrc= (import).

Progress goes out as Docker's JSON messages (`{"stream": "Loaded image: x\\n"}` / `{"status": "sha256:…"}`, each
ended by CRLF as moby's streamformatter writes them). Errors found before any output answer with an error status.
Multi-valued query parameters (`names`, `changes`) arrive joined by newlines.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from dockyard.api.messages import JSON, Request, Response
from dockyard.errors import InvalidArgument, Unsupported

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

TAR = "application/x-tar"


def multi(req: Request, key: str) -> list[str]:
    """A repeated query parameter's values (the transports join repeats with newlines)."""
    return [v for v in req.query.get(key, "").split("\n") if v]


def message(key: str, text: str) -> bytes:
    return json.dumps({key: text}).encode() + b"\r\n"


def save(engine: Engine, req: Request) -> Response:
    from dockyard.engine.image_service import save as save_images

    names = [req.params["name"]] if "name" in req.params else multi(req, "names")
    if not names:
        raise InvalidArgument("save: no image names given")
    return Response(content_type=TAR, stream=save_images(engine, names))


def load(engine: Engine, req: Request) -> Response:
    from dockyard.engine.image_service import load as load_images

    lines: list[bytes] = []
    body = req.upload or io.BytesIO(req.body)  # an upload: the archive is read as it goes, never held whole
    load_images(engine, body, lambda text: lines.append(message("stream", text + "\n")))
    return Response(body=b"".join(lines), content_type=JSON)


def create(engine: Engine, req: Request) -> Response:
    """POST /images/create: `fromSrc` imports a tarball; `fromImage` (pull) is the registry client's."""
    from dockyard.engine.image_service import ImportRequest, import_image

    source = req.query.get("fromSrc", "")
    if not source:
        raise Unsupported("pull: not supported by this engine yet (use load or import)")
    request = ImportRequest(
        source=source,
        repo=req.query.get("repo", ""),
        tag=req.query.get("tag", ""),
        changes=tuple(multi(req, "changes")),
        message=req.query.get("message", ""),
    )
    lines: list[bytes] = []
    stream = (req.upload or io.BytesIO(req.body)) if source == "-" else None
    image = import_image(engine, stream, request, lambda text: lines.append(message("status", text)))
    lines.append(message("status", str(image.id)))
    return Response(body=b"".join(lines), content_type=JSON)
