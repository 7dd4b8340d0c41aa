"""The thin `dockyard` launcher's side of the CLI zygote (cli/zygote.py) and the wire protocol both share;
imports only sys and the C modules posix (loaded by every interpreter already: `os` would cost ~0.8 ms of a
launcher's ~8), then _socket and _signal once a CLI socket exists (socket.py and signal.py import enum: ~4 ms).

Why: a CLI call through a daemon spends ~40 ms importing click, our modules and the client before any work. When
dockyardd runs, its CLI zygote holds them preloaded; the launcher sends it argv, the environment, the cwd, the
umask and fds 0/1/2 (SCM_RIGHTS), the zygote forks a worker that runs the ordinary CLI against the daemon, and the
launcher relays signals to that worker and exits with its status. With no socket (or one that refuses, or any
failure before the worker's pid arrives) `try_zygote` returns and the launcher runs the CLI itself.

Protocol, over a SOCK_STREAM unix socket: request = MAGIC, a 4-byte big-endian length, then NUL-separated fields
(cwd, umask in octal, argc, argv…, environment `K=V`…), fds 0/1/2 attached to the first bytes; replies are
5-byte records, b"P" + pid then b"X" + status (0–255, signal deaths as 128+N), or b"E" + length + a message
when the request was refused (nothing ran).
"""

from __future__ import annotations

import posix
import sys

TYPE_CHECKING = False  # why: typing and collections.abc cost ~3 ms to import; type checkers know this name
if TYPE_CHECKING:
    from _socket import socket as Socket
    from collections.abc import Mapping, Sequence

DEFAULT_CLI_SOCKET = "/run/dockyard-cli.sock"  # = daemon/cli_zygote.py's cli_socket_for(DEFAULT_SOCKET)
DEFAULT_DATA_ROOT = "/var/lib/dockyard"  # = dockyard.paths.DEFAULT_DATA_ROOT (not imported: it costs a dataclass)
MAGIC = b"dyc1"
MAX_REQUEST = 4 << 20  # argv + environment; Linux's ARG_MAX default is 2 MiB
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")
EXIT_LOST = 125  # no exit status came: the worker died by a signal while its zygote was gone
# global options that send the CLI somewhere else than the default daemon
_ELSEWHERE = ("-H", "--host", "--data-root", "--tls", "--tlsverify", "--tlscacert", "--tlscert", "--tlskey")


def cli_socket(args: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The CLI socket to try: DOCKYARD_CLI_SOCKET (empty: none), else the default one when the CLI would use the
    default daemon (client/hosts.py's rule: no -H, DOCKYARD_HOST, DOCKER_HOST, docker context, private data root)."""
    explicit = env.get("DOCKYARD_CLI_SOCKET")
    if explicit is not None:
        return explicit or None
    if env.get("DOCKYARD_HOST") or env.get("DOCKER_HOST") or env.get("DOCKER_CONTEXT"):
        return None
    root = env.get("DOCKYARD_DATA_ROOT")
    if root and _normpath(root) != DEFAULT_DATA_ROOT:
        return None
    if args and (args[0].split("=", 1)[0] in _ELSEWHERE or args[0].startswith("-H")):
        return None
    config = env.get("DOCKER_CONFIG") or f"{env.get('HOME') or '/root'}/.docker"
    try:
        with open(f"{config}/config.json", "rb") as f:
            if b"currentContext" in f.read():
                return None  # a docker context may name another daemon: the full CLI decides
    except OSError:
        pass
    return DEFAULT_CLI_SOCKET


def _normpath(path: str) -> str:
    """posixpath.normpath for the one comparison above (posixpath imports os)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not path.startswith("/"):
                parts.append(part)
        elif part and part != ".":
            parts.append(part)
    joined = "/".join(parts)
    if not path.startswith("/"):
        return joined or "."
    lead = "//" if path.startswith("//") and not path.startswith("///") else "/"  # POSIX keeps exactly two
    return lead + joined


def _fs(text: str) -> bytes:
    """os.fsencode."""
    return text.encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def environ() -> dict[str, str]:
    """os.environ, as a plain dict (from posix.environ: bytes, as os.environ decodes it)."""
    enc, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    return {k.decode(enc, errors): v.decode(enc, errors) for k, v in posix.environ.items()}


def encode_request(args: Sequence[str], env: Mapping[str, str], cwd: str, umask: int) -> bytes:
    fields = [cwd, f"{umask:o}", str(len(args)), *args, *(f"{k}={v}" for k, v in env.items())]
    payload = b"\0".join(_fs(f) for f in fields)
    return MAGIC + len(payload).to_bytes(4, "big") + payload


def decode_request(payload: bytes) -> tuple[list[str], dict[str, str], str, int]:
    """(argv, environment, cwd, umask) from a request's payload; ValueError names what is wrong."""
    enc, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    fields = [f.decode(enc, errors) for f in payload.split(b"\0")]
    if len(fields) < 3:
        raise ValueError("expected cwd, umask and argc")
    cwd, umask_text, argc_text = fields[:3]
    try:
        umask, argc = int(umask_text, 8), int(argc_text)
    except ValueError as err:
        raise ValueError(f"umask/argc: {err}") from err
    if not cwd.startswith("/") or not 0 <= umask <= 0o777 or not 0 <= argc <= len(fields) - 3:
        raise ValueError("cwd, umask or argc out of range")
    args, pairs = fields[3 : 3 + argc], fields[3 + argc :]
    if any("=" not in pair for pair in pairs):
        raise ValueError("environment entry without `=`")
    env = dict(pair.split("=", 1) for pair in pairs)
    return args, env, cwd, umask


def record(kind: bytes, value: int) -> bytes:
    return kind + value.to_bytes(4, "big", signed=True)


def exit_code(wait_status: int) -> int:
    """A waitpid status as a shell reports it: the exit code, or 128+N for a death by signal N."""
    if posix.WIFSIGNALED(wait_status):
        return 128 + posix.WTERMSIG(wait_status)
    return posix.WEXITSTATUS(wait_status) if posix.WIFEXITED(wait_status) else EXIT_LOST


def _read_exact(sock: Socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _start(path: str, args: Sequence[str], env: Mapping[str, str]) -> tuple[Socket, int] | None:
    """Connect, send the request with fds 0/1/2, read the worker's pid; None (nothing ran) on any failure."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        data = encode_request(args, env, posix.getcwd(), _umask())
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))  # a C int[3], as array("i") packs it
        sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if sent < len(data):
            sock.sendall(data[sent:])
        reply = _read_exact(sock, 5)
    except OSError:
        sock.close()
        return None
    if len(reply) != 5 or reply[:1] != b"P":
        sock.close()
        return None
    return sock, int.from_bytes(reply[1:], "big", signed=True)


def _umask() -> int:
    mask = posix.umask(0o022)
    posix.umask(mask)
    return mask


def relay(sock: Socket, pid: int) -> int:
    """Forward signals to the worker until its status arrives; the status (EXIT_LOST when the connection ends)."""
    import _signal  # type: ignore[import-not-found]  # the C module behind signal.py; typeshed has no stub

    def forward(signum: int, _frame: object) -> None:
        try:
            posix.kill(pid, signum)
        except OSError:
            pass

    for name in FORWARDED:
        _signal.signal(getattr(_signal, name), forward)
    while True:
        try:
            reply = _read_exact(sock, 5)
        except OSError:
            reply = b""
        if len(reply) != 5:
            sys.stderr.write("dockyard: cli worker: connection lost before its exit status\n")
            return EXIT_LOST
        if reply[:1] == b"X":
            if posix.environ.get(b"DOCKYARD_TRACE"):
                from dockyard import tracing

                tracing.mark("launcher: exit status")
            return int.from_bytes(reply[1:], "big", signed=True) & 0xFF


def try_zygote(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> None:
    """Run this call in the CLI zygote and exit with its status; returns only when the zygote cannot take it."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = environ() if env is None else env
    if env.get("DOCKYARD_TRACE"):
        from dockyard import tracing

        tracing.mark("launcher: start")
    path = cli_socket(args, env)
    if path is None:
        return
    try:
        posix.stat(path)  # why: costs ~2 µs, where importing _socket and _signal (done next) costs ~0.3 ms
    except OSError:
        return
    started = _start(path, args, env)
    if started is None:
        return
    posix._exit(relay(*started))
