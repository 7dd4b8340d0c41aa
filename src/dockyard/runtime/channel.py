"""Typed sync messages between the runtime and the container's init over a SOCK_SEQPACKET socketpair; no policy.

Each message is one datagram of JSON `{"type": tag, ...fields}`; SEQPACKET keeps message boundaries and still
reports EOF when the peer dies, which is how either side learns the other is gone (no timeouts, no polling).
The fds are close-on-exec: a successful execve in the child closes its end, which the parent reads as EOF.

The create protocol (→ child to parent, ← parent to child):
    → UsernsReady      the child unshared a user namespace; the parent writes uid_map/gid_map
    ← UsernsMapped
    → InitPid(pid)     namespaces set up; the host pid of the init when this child forked it (a user or joined pid
                       namespace), else its own pid as it sees it (1 in a new pid namespace: the parent forked it)
    ← Proceed(state)   createRuntime/prestart hooks ran; `state` is the OCI state JSON for createContainer hooks
    ← CgroupMade       the container's cgroup directories exist (the init may bind them before it is inside)
    ← CgroupJoined     the init is in the container's cgroup (the parent adds it while the init sets up its rootfs)
    → Ready            everything is set up; init now waits on the exec fifo
    → Failure(...)     at any point: the child's error, re-raised by the parent with the same kind
The exec protocol: → InitPid(pid), ← Proceed(""), → Ready, then EOF once execve succeeded (or → Failure).
"""

from __future__ import annotations

import _socket  # why: socket.py builds enums of every constant at import (~1.5 ms); the C module suffices

from dockyard import errors
from dockyard.oci.model import Model
from dockyard.runtime import jsonio

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's

MAX_MESSAGE = 1 << 16


class UsernsReady(Model, kw_only=False):
    pass


class UsernsMapped(Model, kw_only=False):
    pass


class InitPid(Model, kw_only=False):
    pid: int


class Proceed(Model, kw_only=False):
    state: str


class Ready(Model, kw_only=False):
    pass


class CgroupMade(Model, kw_only=False):
    pass


class CgroupJoined(Model, kw_only=False):
    pass


class Failure(Model, kw_only=False):
    message: str
    kind: str = "InternalError"
    exit_code: int = 1

    def to_error(self) -> errors.DockyardError:
        cls = getattr(errors, self.kind, errors.InternalError)
        if not (isinstance(cls, type) and issubclass(cls, errors.DockyardError)) or cls in (
            errors.SpecError,
            errors.SyscallError,
        ):
            cls = errors.InvalidArgument if self.kind == "SpecError" else errors.InternalError
        return cls(self.message)

    @classmethod
    def from_exception(cls, err: BaseException) -> Failure:
        if isinstance(err, errors.DockyardError):
            return cls(err.message, type(err).__name__)
        if isinstance(err, OSError):
            reason = (err.strerror or str(err)).lower()
            what = f" `{err.filename}`" if err.filename else ""
            return cls(f"init{what}: {reason}")
        return cls(f"init: {type(err).__name__}: {err}")


Message = UsernsReady | UsernsMapped | InitPid | Proceed | CgroupMade | CgroupJoined | Ready | Failure
_TAGS: dict[str, type[Message]] = {
    "userns-ready": UsernsReady,
    "userns-mapped": UsernsMapped,
    "init-pid": InitPid,
    "proceed": Proceed,
    "cgroup-made": CgroupMade,
    "cgroup-joined": CgroupJoined,
    "ready": Ready,
    "failure": Failure,
}
_TAG_OF = {cls: tag for tag, cls in _TAGS.items()}
_FIELDS: dict[type[Message], dict[str, type]] = {
    InitPid: {"pid": int},
    Proceed: {"state": str},
    Failure: {"message": str, "kind": str, "exit_code": int},
}

if TYPE_CHECKING:
    from typing import TypeVar

    M = TypeVar("M", UsernsReady, UsernsMapped, InitPid, Proceed, CgroupMade, CgroupJoined, Ready, Failure)


class ChannelClosed(errors.InternalError):
    """The peer closed its end (exited, was killed, or exec'd) before sending the expected message."""


class ProtocolError(errors.InternalError):
    """The peer sent a message that does not parse or was not expected at this point."""


def encode(msg: Message) -> bytes:
    body: dict[str, object] = {"type": _TAG_OF[type(msg)]}
    for name in _FIELDS.get(type(msg), {}):
        body[name] = getattr(msg, name)
    return jsonio.dumps(body).encode()


def decode(raw: bytes) -> Message:
    try:
        body = jsonio.loads(raw)
    except ValueError as err:
        raise ProtocolError("sync message: not json") from err
    if not isinstance(body, dict) or body.get("type") not in _TAGS:
        raise ProtocolError(f"sync message: unknown type `{body.get('type') if isinstance(body, dict) else body}`")
    cls = _TAGS[body["type"]]
    kwargs: dict[str, object] = {}
    for name, tp in _FIELDS.get(cls, {}).items():
        if name not in body:
            continue
        value = body[name]
        if not isinstance(value, tp) or isinstance(value, bool):
            raise ProtocolError(f"sync message `{body['type']}`: field `{name}` has the wrong type")
        kwargs[name] = value
    try:
        return cls(**kwargs)  # type: ignore[arg-type]
    except TypeError as err:
        raise ProtocolError(f"sync message `{body['type']}`: missing field") from err


class Channel:
    """One end of the socketpair. `recv` raises ChannelClosed on EOF; `expect` also re-raises a Failure."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, msg: Message) -> None:
        try:
            self.sock.send(encode(msg))
        except OSError as err:
            raise ChannelClosed(f"send `{_TAG_OF[type(msg)]}` to peer: {(err.strerror or str(err)).lower()}") from err

    def recv(self) -> Message | None:
        """The next message, or None at EOF."""
        try:
            raw = self.sock.recv(MAX_MESSAGE)
        except ConnectionResetError:
            return None
        return decode(raw) if raw else None

    def expect(self, kind: type[M], waiting_for: str) -> M:
        msg = self.recv()
        if msg is None:
            raise ChannelClosed(f"{waiting_for}: container init exited before it was ready")
        if isinstance(msg, Failure) and kind is not Failure:
            raise msg.to_error()
        if not isinstance(msg, kind):
            raise ProtocolError(f"{waiting_for}: unexpected message `{_TAG_OF[type(msg)]}`")
        return msg

    def close(self) -> None:
        self.sock.close()


def pair() -> tuple[Channel, Channel]:
    """(parent end, child end), both close-on-exec."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    return Channel(a), Channel(b)
