"""Handlers for the lifecycle of /containers/{id}: start, stop, restart, kill, pause, unpause, wait, attach
(hijacked), resize and logs — API 1.41 semantics (304 when there is nothing to do, Docker's messages)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from dockyard.api import streams
from dockyard.api.messages import JSON, MULTIPLEXED_STREAM, RAW_STREAM, Duplex, Request, Response
from dockyard.engine.cancel import Cancel, Cancelled
from dockyard.errors import Conflict, InvalidArgument
from dockyard.oci.model import replace

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine
    from dockyard.engine.logs import LogEntry

ATTACH_CONNECT_WAIT = 60.0  # an attach made before the start waits this long for the container's monitor
ATTACH_POLL = 0.002  # s between looks for the monitor's socket (the monitor holds the start until attached)
ATTACH_RETRY = 0.01  # s between tries to connect to a socket that is there but refused


def _int_query(req: Request, name: str) -> int | None:
    value = req.query.get(name, "")
    if value == "":
        return None
    try:
        return int(value)
    except ValueError as err:
        raise InvalidArgument(f'strconv.Atoi: parsing "{value}": invalid syntax') from err


def start(engine: Engine, req: Request) -> Response:
    record = engine.containers.get(req.params["id"])
    if record.state.status in ("running", "restarting"):
        return Response.empty(304)
    engine.containers.start(record.id, record)
    return Response.empty(204)


def stop(engine: Engine, req: Request) -> Response:
    timeout = _int_query(req, "t")
    stopped = engine.containers.stop(req.params["id"], timeout=timeout, sig=req.query.get("signal") or None)
    return Response.empty(204 if stopped else 304)


def restart(engine: Engine, req: Request) -> Response:
    timeout = _int_query(req, "t")
    engine.containers.restart(req.params["id"], timeout=timeout, sig=req.query.get("signal") or None)
    return Response.empty(204)


def kill(engine: Engine, req: Request) -> Response:
    engine.containers.kill(req.params["id"], req.query.get("signal") or "SIGKILL")
    return Response.empty(204)


def pause(engine: Engine, req: Request) -> Response:
    engine.containers.pause(req.params["id"])
    return Response.empty(204)


def unpause(engine: Engine, req: Request) -> Response:
    engine.containers.unpause(req.params["id"])
    return Response.empty(204)


WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


def wait(engine: Engine, req: Request) -> Response:
    """POST /containers/{id}/wait: headers at once, the status when the condition is met.

    The docker CLI's `run` reads this response's headers before it calls start (ContainerWait posts
    synchronously), so a handler that blocked before answering would hang `docker run` for good.
    """
    condition = req.query.get("condition", "") or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise InvalidArgument(f"invalid condition: {condition}")
    cancel = Cancel()
    wait_for_exit = engine.containers.prepare_wait(req.params["id"], condition, cancel)

    def body() -> Iterator[bytes]:
        try:
            status = wait_for_exit()
        except Cancelled:
            return  # the client hung up (`docker run -d` abandons its wait): nobody reads the status
        finally:
            cancel.close()
        error = {"Message": status.error} if status.error else None
        yield json.dumps({"StatusCode": status.status_code, "Error": error}).encode() + b"\n"

    return Response(status=200, content_type=JSON, stream=body(), cancel=cancel.set)


def resize(engine: Engine, req: Request) -> Response:
    height, width = _int_query(req, "h") or 0, _int_query(req, "w") or 0
    engine.containers.resize(req.params["id"], height, width)
    return Response.empty(200)


# ---- attach ---------------------------------------------------------------------------------------------------


def attach(engine: Engine, req: Request) -> Response:
    """POST /containers/{id}/attach: a hijacked stream from the container's monitor (engine/attach.py)."""
    record = engine.containers.get(req.params["id"])
    stdin, stdout, stderr = req.flag("stdin"), req.flag("stdout"), req.flag("stderr")
    multiplexed = not record.config.tty and _version(req.version) >= (1, 42)
    content_type = MULTIPLEXED_STREAM if multiplexed else RAW_STREAM
    if not req.flag("stream"):
        return _logs_response(engine, record.id, want={"stdout", "stderr"} & {s for s in ("stdout", "stderr")
                              if req.flag(s)}, tty=record.config.tty, timestamps=False)  # fmt: skip
    pending = record.state.status not in ("running", "restarting")
    if pending:
        from dockyard.engine.lifecycle import register_pending_attach

        register_pending_attach(engine.containers, record.id)
    cid = record.id
    from dockyard.engine.attach import SOCKET_NAME  # lazy: the engine side of attach, loaded when first used

    monitor_socket = os.path.join(engine.paths.bundle(cid), SOCKET_NAME)

    def opener() -> socket.socket:
        deadline = time.monotonic() + (ATTACH_CONNECT_WAIT if pending else 0)
        while True:
            # why the stat first: a try reads and decodes the record, and the polls of an attach made before the
            # start took the GIL from the start's own thread; a stat is cheap enough to poll often
            if pending and not os.path.exists(monitor_socket) and time.monotonic() < deadline:
                time.sleep(ATTACH_POLL)
                continue
            try:
                return engine.containers.attach(cid, stdin=stdin, stdout=stdout, stderr=stderr, pending=pending)
            except Conflict:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(ATTACH_RETRY)  # a socket left by an earlier run: back to the slower pace

    return Response(content_type=content_type, hijack=lambda duplex: _relay(opener, duplex, stdin), direct=opener)


STDIN_DRAIN_SECONDS = 2.0  # how long a finished attach waits for its client to hang up


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else (1, 41)


def _relay(opener: Callable[[], socket.socket], duplex: Duplex, stdin: bool) -> None:
    """The daemon's side: copy between the client's connection and the monitor's socket."""
    try:
        sock = opener()
    except Conflict:
        with contextlib.suppress(OSError):
            duplex.close_write()
        return
    pump = None
    with sock:
        if stdin:
            pump = threading.Thread(target=_pump_stdin, args=(duplex, sock), name="attach-stdin", daemon=True)
            pump.start()
        else:
            sock.shutdown(socket.SHUT_WR)
        hangup = _hangup_watch(sock, duplex)
        while data := _recv(sock, hangup):
            try:
                duplex.write(data)
            except (BrokenPipeError, OSError):
                return
        with contextlib.suppress(OSError):
            duplex.close_write()
    if pump is not None:
        # why: closing a connection with unread input resets it (unix(7), like TCP), and a reset can reach the
        # client before it read the end of the output; the client hangs up once it has read that end
        pump.join(STDIN_DRAIN_SECONDS)


def _hangup_watch(sock: socket.socket, duplex: Duplex) -> select.poll | None:
    """A poll of the monitor's output and of the client's hang-up, when the duplex has a socket (dockyardd)."""
    fileno = getattr(duplex, "fileno", None)
    if fileno is None:
        return None
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    # why: events 0 still reports POLLHUP/POLLERR; a unix stream socket reports POLLHUP only once the peer
    # closed both ways, so a client that half-closed its stdin (`docker attach < file`) keeps its output
    poller.register(fileno(), 0)
    return poller


def _recv(sock: socket.socket, hangup: select.poll | None = None) -> bytes:
    """The monitor's next output; b"" at its end, or once the client hung up (a silent container would
    otherwise hold this thread until its next output)."""
    if hangup is not None:
        events = dict(hangup.poll())
        if events.get(sock.fileno(), 0) == 0 and len(events) > 0:
            return b""
    # why: a monitor that closes while stdin it never read is queued resets the socket (unix(7) stream sockets
    # do, like TCP); the output before it was already read, so for the client this is the stream's end
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def _pump_stdin(duplex: Duplex, sock: socket.socket) -> None:
    """Client → container stdin; once the container stops reading, the client's bytes are read and dropped."""
    with contextlib.suppress(OSError):
        while data := duplex.read(65536):
            try:
                sock.sendall(data)
            except OSError:
                break
        else:
            sock.shutdown(socket.SHUT_WR)
            return
        while duplex.read(65536):
            pass


# ---- logs -----------------------------------------------------------------------------------------------------


def parse_timestamp(text: str, name: str) -> int:
    """Docker's `since`/`until` query values: Unix seconds with an optional `.nanoseconds` part → ns (0: unset)."""
    if text in ("", "0"):
        return 0
    seconds, _, fraction = text.partition(".")
    if not seconds.lstrip("-").isdigit() or (fraction and not fraction.isdigit()):
        raise InvalidArgument(f'invalid value for "{name}": failed to parse value as time or duration: "{text}"')
    return int(seconds) * 1_000_000_000 + int(fraction[:9].ljust(9, "0") if fraction else 0)


def logs(engine: Engine, req: Request) -> Response:
    from dockyard.engine.logs import LogQuery

    want = {name for name in ("stdout", "stderr") if req.flag(name)}
    if not want:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail_text = req.query.get("tail", "all") or "all"
    tail = -1
    if tail_text != "all":
        try:
            tail = int(tail_text)
        except ValueError:
            tail = -1  # Docker reads an unparsable tail as "all"
    cancel = Cancel()
    query = LogQuery(
        cancel=cancel,
        follow=req.flag("follow"),
        tail=tail if tail >= 0 else -1,
        since_ns=parse_timestamp(req.query.get("since", ""), "since"),
        until_ns=parse_timestamp(req.query.get("until", ""), "until"),
    )
    record = engine.containers.get(req.params["id"])
    entries = engine.containers.logs(record.id, query)
    tty, timestamps, details = record.config.tty, req.flag("timestamps"), req.flag("details")
    return replace(_render(entries, want, tty=tty, timestamps=timestamps, details=details), cancel=cancel.set)


def _logs_response(engine: Engine, cid: str, *, want: set[str], tty: bool, timestamps: bool) -> Response:
    from dockyard.engine.logs import LogQuery

    return _render(engine.containers.logs(cid, LogQuery()), want, tty=tty, timestamps=timestamps, details=False)


def _render(entries: Iterator[LogEntry], want: set[str], *, tty: bool, timestamps: bool, details: bool) -> Response:
    def render() -> Iterator[bytes]:
        for e in entries:
            if e.stream not in want:
                continue
            payload = e.data
            if details:
                attrs = ",".join(f"{_escape(k)}={_escape(v)}" for k, v in e.attrs)
                payload = f"{attrs} ".encode() + payload
            if timestamps:
                payload = f"{e.time} ".encode() + payload
            yield payload if tty else streams.frame(streams.STREAMS[e.stream], payload)

    content_type = RAW_STREAM if tty else MULTIPLEXED_STREAM
    return Response(status=200, content_type=content_type, stream=render())


def _escape(text: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(text)
