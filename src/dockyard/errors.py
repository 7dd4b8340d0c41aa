"""The error tree of dockyard and the tables that map an error kind to an HTTP status and a CLI exit code.

    DockyardError
    ├── NotFound          404
    ├── InvalidArgument   400
    │   └── SpecError     400  (a config.json field is wrong; names the JSON path)
    ├── Conflict          409
    ├── Unauthorized      401
    ├── Forbidden         403
    ├── Unsupported       501
    ├── Unavailable       503
    └── InternalError     500
        └── SyscallError  500  (a kernel call failed; names the call, the object and errno)

Messages name the operation, the quoted object and the reason, lowercase, no final period:
``pivot_root `/var/lib/dockyard/…/rootfs`: invalid argument``. Nothing here prints or exits.
"""

from __future__ import annotations

import errno as errno_module
import os


class DockyardError(Exception):
    """Root of every error dockyard raises on purpose."""

    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NotFound(DockyardError):
    http_status = 404


class InvalidArgument(DockyardError):
    http_status = 400


class Conflict(DockyardError):
    http_status = 409


class Unauthorized(DockyardError):
    http_status = 401


class Forbidden(DockyardError):
    http_status = 403


class Unsupported(DockyardError):
    http_status = 501


class Unavailable(DockyardError):
    http_status = 503


class InternalError(DockyardError):
    http_status = 500


class SpecError(InvalidArgument):
    """A runtime or image spec field is invalid; `path` is the JSON path of the field (e.g. `process.args`)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"invalid config `{path}`: {reason}")
        self.path = path
        self.reason = reason


class SyscallError(InternalError):
    """A system call failed. Keeps errno so callers can branch on it (ENOENT, EBUSY, …)."""

    def __init__(self, call: str, target: str, err: int) -> None:
        reason = os.strerror(err).lower() if err else "unknown error"
        what = f" `{target}`" if target else ""
        super().__init__(f"{call}{what}: {reason}")
        self.call = call
        self.target = target
        self.errno = err

    @property
    def errno_name(self) -> str:
        return errno_module.errorcode.get(self.errno, str(self.errno))


# Docker's CLI exit codes: 125 when the engine fails, 126 when the command cannot be invoked,
# 127 when it is not found; otherwise the container's own status.
EXIT_ENGINE_ERROR = 125
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127


def http_status(err: BaseException) -> int:
    """The HTTP status an error maps to in the Engine API (500 for anything unexpected)."""
    return err.http_status if isinstance(err, DockyardError) else 500
