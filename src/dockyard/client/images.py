"""Image calls of the Engine API over a Client: list, history, tag, remove, prune, save, load, import.

Knows Docker's query names and JSON messages; answers are plain JSON data for the CLI to render. Tar bodies are
sent as they are (not JSON). Multi-valued parameters (`names`, `changes`) are joined by newlines, which the
server splits again. Never imports the engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from dockyard.client.client import API_VERSION, APIError, Client
from dockyard.client.transport import RawResponse


def filters_json(filters: Mapping[str, Sequence[str]]) -> str:
    """{"label": ["a=b"]} → Docker's `{"label":{"a=b":true}}`."""
    return json.dumps({key: {value: True for value in values} for key, values in filters.items()})


def _raw(
    client: Client,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    body: bytes | BinaryIO | None = None,
) -> RawResponse:
    """One request; a file `body` goes as an upload (streamed in process, never read whole first)."""
    if body is None or isinstance(body, bytes):
        response = client.transport.request(method, f"/v{API_VERSION}{path}", query=query, body=body)
    else:
        response = client.transport.request(method, f"/v{API_VERSION}{path}", query=query, upload=body)
    if response.status >= 400:
        raw = response.read()
        try:
            message = str(json.loads(raw)["message"])
        except (ValueError, KeyError, TypeError):
            message = raw.decode(errors="replace").strip() or f"status {response.status}"
        raise APIError(response.status, message)
    return response


def messages(response: RawResponse) -> Iterator[dict[str, Any]]:
    """The JSON messages of a progress stream; an `error` message raises APIError (as docker's jsonmessage)."""
    buffer = b""
    for chunk in response.chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        yield from _decode(lines)
    yield from _decode([buffer])


def _decode(lines: list[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            if data.get("error") or data.get("errorDetail"):
                detail = data.get("errorDetail") or {}
                raise APIError(500, str(detail.get("message") or data.get("error")))
            yield data


def list_images(
    client: Client, *, all_: bool = False, filters: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    query = {"all": "1"} if all_ else {}
    if filters:
        query["filters"] = filters_json(filters)
    return list(client.request_json("GET", "/images/json", query=query) or [])


def history(client: Client, name: str) -> list[dict[str, Any]]:
    return list(client.request_json("GET", f"/images/{name}/history") or [])


def tag(client: Client, source: str, repo: str, tag_: str) -> None:
    query = {"repo": repo, "tag": tag_} if tag_ else {"repo": repo}
    _raw(client, "POST", f"/images/{source}/tag", query=query).read()


def remove(client: Client, name: str, *, force: bool = False, prune: bool = True) -> list[dict[str, str]]:
    query = {"force": "1" if force else "0", "noprune": "0" if prune else "1"}
    return list(client.request_json("DELETE", f"/images/{name}", query=query) or [])


def prune(client: Client, filters: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    data: dict[str, Any] = client.request_json("POST", "/images/prune", query={"filters": filters_json(filters)})
    return data


def save(client: Client, names: Sequence[str]) -> Iterator[bytes]:
    """The archive's bytes as they arrive (the request fails before the first chunk for an unknown name)."""
    return _raw(client, "GET", "/images/get", query={"names": "\n".join(names)}).chunks


def load(client: Client, data: bytes | BinaryIO, *, quiet: bool = True) -> Iterator[dict[str, Any]]:
    return messages(_raw(client, "POST", "/images/load", query={"quiet": "1" if quiet else "0"}, body=data))


def import_image(
    client: Client,
    source: str,
    data: bytes | BinaryIO | None,
    *,
    repo: str = "",
    changes: Sequence[str] = (),
    message: str = "",
) -> Iterator[dict[str, Any]]:
    """POST /images/create?fromSrc=…: `source` is "-" with `data` as the body, or a URL the server fetches."""
    query = {"fromSrc": source, "repo": repo}
    if changes:
        query["changes"] = "\n".join(changes)
    if message:
        query["message"] = message
    return messages(_raw(client, "POST", "/images/create", query=query, body=data if source == "-" else None))
