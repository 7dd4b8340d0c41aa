"""`docker exec` (-i, -t, -d, -u, -e, --env-file, -w, --privileged, --detach-keys): create, start (hijacked: stdin
out, output in — stdcopy frames without a terminal), then the exec's exit code as ours. No engine imports.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import click

from dockyard.cli.containers_info import CONTEXT, client_of, daemon_error, fail
from dockyard.client import containers_info as api
from dockyard.client.client import APIError, Client


def env_file_entries(paths: tuple[str, ...]) -> list[str]:
    """docker's --env-file: `KEY=VALUE` lines, `#` comments and blanks skipped, a bare KEY taken from our env."""
    out = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as err:
            raise fail(125, f"open {path}: {(err.strerror or str(err)).lower()}") from err
        for line in lines:
            text = line.lstrip()
            if not text or text.startswith("#"):
                continue
            key, sep, value = text.partition("=")
            if not key.strip() or " " in key.strip():
                raise fail(125, f"variable '{key}' contains whitespaces" if key.strip() else
                           f"invalid environment variable: {text}")  # fmt: skip
            if sep:
                out.append(f"{key}={value}")
            elif key in os.environ:
                out.append(f"{key}={os.environ[key]}")
    return out


@click.command("exec", context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.option("--detach-keys", default="", help="Override the key sequence for detaching a container")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.option("-w", "--workdir", default="", help="Working directory inside the container")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_(ctx: click.Context, /, container: str, command: tuple[str, ...], **opts: Any) -> int:
    """Execute a command in a running container."""
    env = env_file_entries(opts["env_file"])
    for value in opts["env"]:
        key, sep, _ = value.partition("=")
        if sep:
            env.append(value)
        elif key in os.environ:
            env.append(f"{key}={os.environ[key]}")
    detach = opts["detach"]
    body = {"User": opts["user"], "Privileged": opts["privileged"], "Tty": opts["tty"],
            "AttachStdin": opts["interactive"] and not detach, "AttachStderr": not detach,
            "AttachStdout": not detach, "Detach": detach, "DetachKeys": opts["detach_keys"], "Env": env or None,
            "WorkingDir": opts["workdir"], "Cmd": list(command)}  # fmt: skip
    client = client_of(ctx)
    try:
        exec_id = api.exec_create(client, container, body)
        if detach:
            api.exec_start_detached(client, exec_id, tty=opts["tty"])
            return 0
        _run_attached(client, exec_id, tty=opts["tty"], stdin=opts["interactive"])
        result = api.exec_inspect(client, exec_id)
    except APIError as err:
        raise daemon_error(err, 126 if "OCI runtime" in err.message else 1) from err
    code = result.get("ExitCode")
    return int(code) if code is not None else 126


def _run_attached(client: Client, exec_id: str, *, tty: bool, stdin: bool) -> None:
    data = b'{"Detach":false,"Tty":%s}' % (b"true" if tty else b"false")
    hijack = getattr(client.transport, "hijack", None)
    if hijack is None:
        response = api.raw(client, "POST", f"/exec/{exec_id}/start", data=data)
    else:  # over a socket, stdin needs the connection hijacked (docker's Upgrade: tcp), as attach does
        from dockyard.client.client import API_VERSION

        response = hijack("POST", f"/v{API_VERSION}/exec/{exec_id}/start", body=data)
        if response.status >= 400:
            raise APIError(response.status, _message(response.read(), response.status))
    if response.sock is None:
        _write_output(response.chunks, tty)
        return
    sock = response.sock
    with contextlib.ExitStack() as stack:
        if tty and sys.stdin.isatty():
            stack.enter_context(_raw_terminal())
            _resize(client, exec_id)
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGWINCH, lambda *_: _resize(client, exec_id))
        _pump(sock, tty=tty, stdin=stdin)
    sock.close()


def _message(raw: bytes, status: int) -> str:
    import json

    try:
        return str(json.loads(raw)["message"])
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace").strip() or f"status {status}"


def _write_output(chunks: Iterator[bytes], tty: bool) -> None:
    buf = b""
    for chunk in chunks:
        if tty:
            _emit(1, chunk)
            continue
        buf = _demux(buf + chunk)


def _demux(buf: bytes) -> bytes:
    while len(buf) >= 8:
        size = int.from_bytes(buf[4:8], "big")
        if len(buf) < 8 + size:
            break
        _emit(2 if buf[0] == 2 else 1, buf[8 : 8 + size])
        buf = buf[8 + size :]
    return buf


def _emit(stream: int, data: bytes) -> None:
    target = sys.stderr.buffer if stream == 2 else sys.stdout.buffer
    target.write(data)
    target.flush()


def _pump(sock: socket.socket, *, tty: bool, stdin: bool) -> None:
    """Copy our stdin to the socket (half-closing at EOF) and the socket to stdout/stderr until it ends."""
    fds = [sock.fileno()]
    stdin_fd = sys.stdin.fileno() if stdin else None
    if stdin_fd is not None:
        fds.append(stdin_fd)
    buf = b""
    while True:
        ready, _, _ = select.select(fds, [], [])
        if stdin_fd is not None and stdin_fd in ready:
            data = os.read(stdin_fd, 65536)
            if data:
                sock.sendall(data)
            else:
                fds.remove(stdin_fd)
                stdin_fd = None
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
        if sock.fileno() in ready:
            data = sock.recv(65536)
            if not data:
                return
            if tty:
                _emit(1, data)
            else:
                buf = _demux(buf + data)


@contextlib.contextmanager
def _raw_terminal() -> Iterator[None]:
    import termios
    import tty as tty_module

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty_module.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _resize(client: Client, exec_id: str) -> None:
    with contextlib.suppress(APIError, OSError):
        size = os.get_terminal_size(sys.stdout.fileno())
        api.exec_resize(client, exec_id, size.lines, size.columns)


COMMANDS = (exec_,)
