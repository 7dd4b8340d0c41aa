"""Client calls for the lifecycle verbs: stop, restart, pause, unpause, wait, resize, logs with Docker's options,
and attach, whose answer is a raw stream (`AttachStream`: a socket, opened lazily in-process)."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.client.client import APIError, _demux

if TYPE_CHECKING:
    from dockyard.client.client import Client


@dataclass(frozen=True, slots=True)
class WaitResult:
    status_code: int
    error: str = ""


def _empty(client: Client, method: str, path: str, query: dict[str, str] | None = None) -> int:
    response = client._call(method, path, query=query)
    response.read()
    return response.status


def stop(client: Client, container: str, *, timeout: int | None = None, signal: str = "") -> bool:
    """False when the container was not running (304)."""
    query = {}
    if timeout is not None:
        query["t"] = str(timeout)
    if signal:
        query["signal"] = signal
    return _empty(client, "POST", f"/containers/{container}/stop", query) != 304


def restart(client: Client, container: str, *, timeout: int | None = None, signal: str = "") -> None:
    query = {}
    if timeout is not None:
        query["t"] = str(timeout)
    if signal:
        query["signal"] = signal
    _empty(client, "POST", f"/containers/{container}/restart", query)


def pause(client: Client, container: str) -> None:
    _empty(client, "POST", f"/containers/{container}/pause")


def unpause(client: Client, container: str) -> None:
    _empty(client, "POST", f"/containers/{container}/unpause")


def start(client: Client, container: str) -> bool:
    """False when it was already running (304)."""
    return _empty(client, "POST", f"/containers/{container}/start") != 304


def resize(client: Client, container: str, height: int, width: int) -> None:
    _empty(client, "POST", f"/containers/{container}/resize", {"h": str(height), "w": str(width)})


def wait(client: Client, container: str, condition: str = "not-running") -> WaitResult:
    data = client._json("POST", f"/containers/{container}/wait", query={"condition": condition})
    error = data.get("Error") or {}
    return WaitResult(int(data["StatusCode"]), str(error.get("Message") or "") if isinstance(error, dict) else "")


def logs(
    client: Client,
    container: str,
    *,
    follow: bool = False,
    timestamps: bool = False,
    tail: str = "all",
    since: str = "",
    until: str = "",
    details: bool = False,
) -> Iterator[tuple[str, bytes]]:
    """(stream, bytes) pairs; stdcopy frames are decoded, a tty's raw stream is all `stdout`."""
    query = {"stdout": "1", "stderr": "1", "tail": tail}
    for key, on in (("follow", follow), ("timestamps", timestamps), ("details", details)):
        if on:
            query[key] = "1"
    if since:
        query["since"] = since
    if until:
        query["until"] = until
    response = client._call("GET", f"/containers/{container}/logs", query=query)
    if "multiplexed" not in response.headers.get("content-type", "multiplexed"):
        return (("stdout", chunk) for chunk in response.chunks)
    return _demux(response.chunks)


class AttachStream:
    """A hijacked attach connection: raw bytes both ways (stdcopy frames out unless the container has a tty)."""

    def __init__(self, sock: socket.socket | None, opener: Callable[[], socket.socket] | None) -> None:
        self._sock = sock
        self._opener = opener

    def open(self) -> socket.socket:
        if self._sock is None:
            if self._opener is None:
                raise APIError(500, "attach: the server did not hijack the connection")
            try:
                self._sock = self._opener()
            except Exception as err:  # the engine's Conflict: the container is not running
                raise APIError(409, str(err)) from err
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()


def attach(
    client: Client, container: str, *, stdin: bool, stdout: bool = True, stderr: bool = True, logs: bool = False
) -> AttachStream:
    query = {"stream": "1", "stdin": "1" if stdin else "0", "stdout": "1" if stdout else "0"}
    query["stderr"] = "1" if stderr else "0"
    if logs:
        query["logs"] = "1"
    hijack = getattr(client.transport, "hijack", None)
    if hijack is None:
        response = client._call("POST", f"/containers/{container}/attach", query=query)
        return AttachStream(response.sock, response.opener)
    from dockyard.client.client import API_VERSION

    response = hijack("POST", f"/v{API_VERSION}/containers/{container}/attach", query=query)
    if response.status >= 400:
        try:
            message = str(json.loads(response.read())["message"])
        except (ValueError, KeyError, TypeError):
            message = f"status {response.status}"
        raise APIError(response.status, message)
    return AttachStream(response.sock, response.opener)


def demux(chunks: Iterator[bytes]) -> Iterator[tuple[str, bytes]]:
    return _demux(chunks)


def inspect_state(client: Client, container: str) -> dict[str, object]:
    data = client.inspect_container(container)
    state = data.get("State") or {}
    return {"Id": data.get("Id", ""), "Tty": (data.get("Config") or {}).get("Tty", False), **state}


__all__ = ["AttachStream", "WaitResult", "json"]
