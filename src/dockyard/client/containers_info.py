"""Client calls for the observing and maintenance verbs: ps, inspect, top, diff, stats, export, cp (archive),
update, rename, prune, commit, events, system df, and exec (create, start, inspect, resize).

Functions over a `Client` (its transport and error mapping); they return Docker's JSON as plain data, or raw
byte streams for tars, stats and events. Never imports the engine.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from dockyard.client.client import API_VERSION, APIError, Client
from dockyard.client.transport import RawResponse


def _filters(filters: Mapping[str, Sequence[str]] | None) -> dict[str, str]:
    if not filters:
        return {}
    data = {k: dict.fromkeys(v, True) for k, v in filters.items() if v}
    return {"filters": json.dumps(data, separators=(",", ":"))}


def raw(client: Client, method: str, path: str, *, query: Mapping[str, str] | None = None,
        data: bytes | BinaryIO | None = None) -> RawResponse:  # fmt: skip
    """A call with a raw body (tar uploads; a file is streamed as it is read); errors as Client's."""
    body, upload = (data, None) if data is None or isinstance(data, bytes) else (None, data)
    response = client.transport.request(method, f"/v{API_VERSION}{path}", query=query, body=body, upload=upload)
    if response.status >= 400:
        body = response.read()
        try:
            message = str(json.loads(body)["message"])
        except (ValueError, KeyError, TypeError):
            message = body.decode(errors="replace").strip() or f"status {response.status}"
        raise APIError(response.status, message)
    return response


def containers(client: Client, *, all: bool = False, limit: int = 0, size: bool = False,
               filters: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    query = {"all": "1" if all else "0", **_filters(filters)}
    if limit:
        query["limit"] = str(limit)
    if size:
        query["size"] = "1"
    data: list[dict[str, Any]] = client.request_json("GET", "/containers/json", query=query)
    return data


def inspect(client: Client, kind: str, name: str, *, size: bool = False) -> dict[str, Any]:
    """GET the inspect document of a container, image, network or volume."""
    paths = {"container": f"/containers/{name}/json", "image": f"/images/{name}/json",
             "network": f"/networks/{name}", "volume": f"/volumes/{name}"}  # fmt: skip
    query = {"size": "1"} if size and kind == "container" else None
    data: dict[str, Any] = client.request_json("GET", paths[kind], query=query)
    return data


def top(client: Client, container: str, ps_args: str = "") -> dict[str, Any]:
    query = {"ps_args": ps_args} if ps_args else None
    data: dict[str, Any] = client.request_json("GET", f"/containers/{container}/top", query=query)
    return data


def changes(client: Client, container: str) -> list[dict[str, Any]]:
    data = client.request_json("GET", f"/containers/{container}/changes")
    return list(data or [])


def stats(client: Client, container: str, *, stream: bool) -> Iterator[dict[str, Any]]:
    response = raw(client, "GET", f"/containers/{container}/stats", query={"stream": "1" if stream else "0"})
    buf = b""
    for chunk in response.chunks:
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if buf.strip():
        yield json.loads(buf)


def export(client: Client, container: str) -> Iterator[bytes]:
    return raw(client, "GET", f"/containers/{container}/export").chunks


def path_stat(headers: Mapping[str, str]) -> dict[str, Any]:
    text = headers.get("x-docker-container-path-stat", "")
    try:
        data: dict[str, Any] = json.loads(base64.b64decode(text)) if text else {}
    except ValueError:
        data = {}
    return data


def archive_stat(client: Client, container: str, path: str) -> dict[str, Any]:
    response = raw(client, "HEAD", f"/containers/{container}/archive", query={"path": path})
    response.read()
    return path_stat(response.headers)


def archive_get(client: Client, container: str, path: str) -> tuple[dict[str, Any], Iterator[bytes]]:
    response = raw(client, "GET", f"/containers/{container}/archive", query={"path": path})
    return path_stat(response.headers), response.chunks


def archive_put(
    client: Client, container: str, path: str, tar: bytes | BinaryIO, *, copy_uid_gid: bool = False
) -> None:
    query = {"path": path, "noOverwriteDirNonDir": "true"}
    if copy_uid_gid:
        query["copyUIDGID"] = "true"
    raw(client, "PUT", f"/containers/{container}/archive", query=query, data=tar).read()


def update(client: Client, container: str, body: Mapping[str, Any]) -> None:
    client.request_json("POST", f"/containers/{container}/update", body=dict(body))


def rename(client: Client, container: str, name: str) -> None:
    client.request_json("POST", f"/containers/{container}/rename", query={"name": name})


def prune(client: Client, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = client.request_json("POST", "/containers/prune", query=_filters(filters))
    return data


def commit(client: Client, container: str, *, repo: str = "", tag: str = "", author: str = "", comment: str = "",
           changes: Sequence[str] = (), pause: bool = True) -> str:  # fmt: skip
    query = {"container": container, "repo": repo, "tag": tag, "author": author, "comment": comment,
             "pause": "1" if pause else "0"}  # fmt: skip
    if changes:
        query["changes"] = "\n".join(changes)
    return str(client.request_json("POST", "/commit", query=query)["Id"])


def events(client: Client, *, since: str = "", until: str = "",
           filters: Mapping[str, Sequence[str]] | None = None) -> Iterator[dict[str, Any]]:  # fmt: skip
    query = _filters(filters)
    if since:
        query["since"] = since
    if until:
        query["until"] = until
    response = raw(client, "GET", "/events", query=query)
    buf = b""
    for chunk in response.chunks:
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)


def system_df(client: Client) -> dict[str, Any]:
    data: dict[str, Any] = client.request_json("GET", "/system/df")
    return data


def post_json(client: Client, path: str, query: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """A POST whose answer is JSON; None when the endpoint does not exist (an engine without that service)."""
    try:
        data: dict[str, Any] = client.request_json("POST", path, query=query)
    except APIError as err:
        if err.http_status == 404 and err.message == "page not found":
            return None
        raise
    return data


# ---- exec ----------------------------------------------------------------------------------------------------


def exec_create(client: Client, container: str, body: Mapping[str, Any]) -> str:
    return str(client.request_json("POST", f"/containers/{container}/exec", body=dict(body))["Id"])


def exec_start_detached(client: Client, exec_id: str, *, tty: bool = False) -> None:
    raw(client, "POST", f"/exec/{exec_id}/start", data=json.dumps({"Detach": True, "Tty": tty}).encode()).read()


def exec_inspect(client: Client, exec_id: str) -> dict[str, Any]:
    data: dict[str, Any] = client.request_json("GET", f"/exec/{exec_id}/json")
    return data


def exec_resize(client: Client, exec_id: str, height: int, width: int) -> None:
    client.request_json("POST", f"/exec/{exec_id}/resize", query={"h": str(height), "w": str(width)})
