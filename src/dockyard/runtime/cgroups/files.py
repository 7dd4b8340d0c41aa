"""Reading and writing cgroupfs files and removing cgroup directories; knows no controller and no layout.

Every write is one write(2) on a fresh O_WRONLY|O_TRUNC descriptor, as runc's cgroups.WriteFile does: cgroupfs
parses each write on its own, and O_TRUNC lets unit tests use plain files that mimic the kernel's.
"""

from __future__ import annotations

import errno
import os
import time

from dockyard.errors import InvalidArgument, SyscallError, Unavailable

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable

# errnos with which the kernel refuses a value (rather than the file or the cgroup being missing)
_VALUE_ERRNOS = frozenset({errno.EINVAL, errno.ERANGE, errno.EOPNOTSUPP, errno.EBUSY, errno.EOVERFLOW})

REMOVE_TIMEOUT = 2.0  # seconds rmdir retries EBUSY while the last tasks exit (runc: 5 tries, 10 ms doubling)


class CgroupValueError(InvalidArgument):
    """The kernel refused a value written to a cgroup file: names the file, the value and the errno."""

    def __init__(self, name: str, value: str, err: int, detail: str = "") -> None:
        reason = os.strerror(err).lower()
        super().__init__(f"cgroup `{name}` = `{value}`: {reason}{detail}")
        self.name = name
        self.value = value
        self.errno = err


def write(directory: str, name: str, value: str) -> None:
    """Write `value` to the cgroup file `directory/name`; a refused value raises CgroupValueError."""
    path = os.path.join(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as err:
        if err.errno in _VALUE_ERRNOS:
            raise CgroupValueError(name, value, err.errno) from err
        raise SyscallError("write", path, err.errno or 0) from err


def read(directory: str, name: str) -> str:
    """The stripped contents of `directory/name`; OSError propagates (callers decide what missing means)."""
    # why: binary, then bytes.decode: a text-mode open looks the codec up, which imports encodings.ascii (≈ 0.3 ms)
    # in every process that has not yet, such as each container's monitor, which runs `start` itself
    with open(os.path.join(directory, name), "rb") as f:
        return f.read().decode("ascii", "replace").strip()


def read_optional(directory: str, name: str) -> str | None:
    """Like read, but None when the file cannot be read (controller or file absent)."""
    try:
        return read(directory, name)
    except OSError:
        return None


def read_int(directory: str, name: str) -> int | None:
    """An integer file; None when absent, unparsable, or "max" (cgroup v2's no-limit)."""
    text = read_optional(directory, name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def read_keyed(directory: str, name: str) -> dict[str, int]:
    """A flat-keyed file ("key value" per line, e.g. memory.stat, cpu.stat); {} when absent."""
    result: dict[str, int] = {}
    for line in (read_optional(directory, name) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            result[parts[0]] = int(parts[1])
    return result


def exists(directory: str, name: str) -> bool:
    return os.path.exists(os.path.join(directory, name))


def procs(directory: str) -> list[int]:
    """The pids in cgroup.procs of `directory`; [] when the cgroup does not exist."""
    text = read_optional(directory, "cgroup.procs")
    return [int(line) for line in (text or "").split()]


def wait_for(what: str, target: str, done: Callable[[], bool], timeout: float) -> None:
    """Poll `done` with a growing sleep until it holds; Unavailable names `what` and `target` on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not done():
        if time.monotonic() > deadline:
            raise Unavailable(f"{what} `{target}`: timed out")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _rmdir(path: str) -> None:
    """One rmdir; a seam for unit tests, whose plain directories still hold the files cgroupfs would drop."""
    os.rmdir(path)


def remove_tree(top: str) -> None:
    """Remove the cgroup `top` and any child cgroups, deepest first; a missing `top` is fine.

    why: rmdir of a cgroup fails with EBUSY while a task is still in it, and tasks that were just killed
    leave the cgroup a little after their parent sees them die; runc's RemovePath retries for that reason.
    """
    if not os.path.isdir(top):
        return
    for dirpath, _dirnames, _files in os.walk(top, topdown=False):  # children come before their parent
        _rmdir_retrying(dirpath)


def _rmdir_retrying(path: str) -> None:
    deadline = time.monotonic() + REMOVE_TIMEOUT
    delay = 0.005
    while True:
        try:
            _rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                raise SyscallError("rmdir", path, err.errno or 0) from err
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
