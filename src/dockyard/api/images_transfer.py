"""GET /images/get and /images/{name}/get (save), POST /images/load, POST /images/create?fromSrc= (import).

Progress goes out as Docker's JSON messages (`{"stream": "Loaded image: x\\n"}` / `{"status": "sha256:…"}`, each
ended by CRLF as moby's streamformatter writes them). Errors found before any output answer with an error status.
Multi-valued query parameters (`names`, `changes`) arrive joined by newlines.
"""

from __future__ import annotations

import io
import json
from contextlib import ExitStack
from typing import TYPE_CHECKING, BinaryIO

from dockyard.api.messages import JSON, Request, Response
from dockyard.errors import InvalidArgument, Unsupported

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

TAR = "application/x-tar"


def multi(req: Request, key: str) -> list[str]:
    """A repeated query parameter's values (the transports join repeats with newlines)."""
    value = req.query.get(key, "")
    return [v for v in value.split("\n") if v]


def message(key: str, text: str) -> bytes:
    return json.dumps({key: text}).encode() + b"\r\n"


def save(engine: Engine, req: Request) -> Response:
    from dockyard.image.transfer.local import save_items, stream_save

    names = [req.params["name"]] if "name" in req.params else multi(req, "names")
    if not names:
        raise InvalidArgument("save: no image names given")
    items = save_items(engine.images, names)
    return Response(content_type=TAR, stream=stream_save(engine.images, items))


def load(engine: Engine, req: Request) -> Response:
    from dockyard.image.transfer.load import load as load_archive

    lines: list[bytes] = []
    load_archive(engine.images, io.BytesIO(req.body), lambda text: lines.append(message("stream", text + "\n")))
    return Response(body=b"".join(lines), content_type=JSON)


def create(engine: Engine, req: Request) -> Response:
    """POST /images/create: `fromSrc` imports a tarball; `fromImage` (pull) is the registry client's."""
    source = req.query.get("fromSrc", "")
    if not source:
        raise Unsupported("pull: not supported by this engine yet (use load or import)")
    return import_(engine, req, source)


def import_(engine: Engine, req: Request, source: str) -> Response:
    from dockyard.image.transfer.importer import ImportOptions, import_image, open_url

    options = ImportOptions(
        source=source,
        repo=req.query.get("repo", ""),
        tag=req.query.get("tag", ""),
        changes=tuple(multi(req, "changes")),
        message=req.query.get("message", ""),
    )
    lines: list[bytes] = []
    with ExitStack() as stack:
        stream: BinaryIO
        if source == "-":
            stream = io.BytesIO(req.body)
        else:
            url = source if "://" in source else "http://" + source
            stream = stack.enter_context(open_url(url))
            lines.append(message("status", f"Downloading from {url}"))
        image = import_image(engine.images, stream, options)
    lines.append(message("status", str(image.id)))
    return Response(body=b"".join(lines), content_type=JSON)
