"""secure_join: resolve a container path inside a rootfs, following symlinks as the container would see them.

Also small file helpers (mkdir -p, touch) that report failures as SyscallError. Nothing here mounts.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.errors import SyscallError

# Linux gives up after 40 nested links (path_resolution(7)); any rootfs that needs more is hostile.
MAX_SYMLINKS = 40


def secure_join(root: str, unsafe: str) -> str:
    """`root` joined with `unsafe` as if `root` were "/": symlinks are followed component by component,
    absolute targets are rooted at `root` and ".." stops at `root`, so the result never leaves `root`.

    Components that do not exist are kept as given (the caller creates them). The result is a host path
    (absolute when `root` is), without a trailing slash; `root` itself for "/" or "".
    """
    root = os.path.abspath(root)
    pending = [p for p in unsafe.split("/") if p]
    pending.reverse()  # a stack: the next component is at the end
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            info = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(part)
            continue
        if not stat.S_ISLNK(info.st_mode):
            resolved.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise SyscallError("resolve", os.path.join(root, unsafe.lstrip("/")), errno.ELOOP)
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []  # why: an absolute link inside the container is relative to the container's root
        pending.extend(reversed([p for p in target.split("/") if p]))
    return os.path.join(root, *resolved) if resolved else root


def is_within(root: str, path: str) -> bool:
    """Whether host path `path` is `root` or lies below it (lexically; both are absolute and clean)."""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root == "/" else root + "/")


def os_error(call: str, path: str, err: OSError) -> SyscallError:
    """An OSError from a plain file operation as a SyscallError naming the call and the path."""
    return SyscallError(call, path, err.errno or 0)


def make_dirs(path: str) -> None:
    """mkdir -p with mode 0755; an error names the directory."""
    try:
        os.makedirs(path, 0o755, exist_ok=True)
    except OSError as err:
        raise os_error("mkdir", path, err) from err


def touch(path: str, mode: int = 0o644) -> None:
    """Create an empty file (and its parents) if nothing is at `path`; never follows a final symlink."""
    make_dirs(os.path.dirname(path))
    if os.path.lexists(path):
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as err:
        raise os_error("create", path, err) from err
    try:
        os.fchmod(fd, mode)  # why: open(2) applies the umask to `mode`
    finally:
        os.close(fd)
