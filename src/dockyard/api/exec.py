"""Handlers for exec: POST /containers/{id}/exec, POST /exec/{id}/start (detached, or a hijacked stream carrying
stdin in and stdcopy frames — raw bytes with a TTY — out), POST /exec/{id}/resize, GET /exec/{id}/json.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from dockyard.api import streams
from dockyard.api.messages import Duplex, Request, Response
from dockyard.engine import exec as ex
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

RAW_STREAM = "application/vnd.docker.raw-stream"
_SESSIONS: dict[str, Any] = {}  # exec id → running ExecSession (resize reaches its pty)


def _strings(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid field `{key}`: expected an array of strings")
    return tuple(value)


def create(engine: Engine, req: Request) -> Response:
    body = req.json()
    if not isinstance(body, dict):
        raise InvalidArgument("exec config cannot be empty")
    cmd = _strings(body, "Cmd")
    if not cmd:
        raise InvalidArgument("No exec command specified")
    config = ex.ExecConfig(
        cmd=cmd,
        env=_strings(body, "Env"),
        user=str(body.get("User") or ""),
        working_dir=str(body.get("WorkingDir") or ""),
        tty=bool(body.get("Tty")),
        privileged=bool(body.get("Privileged")),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
        detach_keys=str(body.get("DetachKeys") or ""),
    )
    record = ex.create(engine.containers, req.params["id"], config)
    return Response.json({"Id": record.id}, status=201)


def inspect(engine: Engine, req: Request) -> Response:
    record = ex.inspect(engine.containers, req.params["id"])
    c = record.config
    return Response.json(
        {
            "ID": record.id,
            "Running": record.running,
            "ExitCode": record.exit_code,
            "ProcessConfig": {"tty": c.tty, "entrypoint": c.cmd[0], "arguments": list(c.cmd[1:]),
                              "privileged": c.privileged, **({"user": c.user} if c.user else {})},
            "OpenStdin": c.attach_stdin,
            "OpenStderr": c.attach_stderr,
            "OpenStdout": c.attach_stdout,
            "CanRemove": False,
            "ContainerID": record.container_id,
            "DetachKeys": c.detach_keys,
            "Pid": record.pid,
        }
    )  # fmt: skip


def start(engine: Engine, req: Request) -> Response:
    from dockyard.engine.exec_session import ExecSession

    body = req.json() or {}
    record = ex.inspect(engine.containers, req.params["id"])
    if record.started:
        raise InvalidArgument(f"Error: Exec command {record.id} has already run")
    if isinstance(body, dict) and body.get("Detach"):
        ex.start_detached(engine.containers, record)
        return Response.empty(200)
    session = ExecSession(engine.containers, record)
    session.start()  # errors (container stopped meanwhile) are answered before the hijack
    return Response(content_type=RAW_STREAM, hijack=lambda duplex: _relay(session, duplex))


def _relay(session: Any, duplex: Duplex) -> None:
    """Pump the client's bytes into the process and its output back, framed unless it has a terminal."""
    _SESSIONS[session.record.id] = session
    if session.record.config.attach_stdin:
        threading.Thread(target=_pump_stdin, args=(session, duplex), name="exec-stdin", daemon=True).start()
    try:
        config = session.record.config
        for stream, data in session.output():
            if (stream == "stdout" and not config.attach_stdout) or (stream == "stderr" and not config.attach_stderr):
                continue
            payload = data if session.tty else streams.frame(streams.STREAMS[stream], data)
            with contextlib.suppress(BrokenPipeError, OSError):
                duplex.write(payload)
        if session.error:
            with contextlib.suppress(BrokenPipeError, OSError):
                message = f"OCI runtime exec failed: {session.error}\r\n".encode()
                duplex.write(message if session.tty else streams.frame(streams.STDERR, message))
    finally:
        _SESSIONS.pop(session.record.id, None)
        with contextlib.suppress(OSError):
            duplex.close_write()


def _pump_stdin(session: Any, duplex: Duplex) -> None:
    while True:
        try:
            data = duplex.read(65536)
        except OSError:
            data = b""
        if not data:
            session.close_stdin()
            return
        session.write_stdin(data)


def resize(engine: Engine, req: Request) -> Response:
    record = ex.inspect(engine.containers, req.params["id"])
    try:
        height, width = int(req.query.get("h", "0")), int(req.query.get("w", "0"))
    except ValueError as err:
        raise InvalidArgument(f"invalid resize: {err}") from err
    session = _SESSIONS.get(record.id)
    if session is None:
        raise InvalidArgument("cannot resize a stopped container: unknown")
    session.resize(height, width)
    return Response.empty(200)
