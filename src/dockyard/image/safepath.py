"""Directory handles confined to a root: openat2(RESOLVE_IN_ROOT) through ctypes, name cleaning, fd-based removal.

Every path an image layer names is resolved here, relative to an fd of the root, so that `..`, absolute names and
symlinks (absolute ones included) can never lead outside it. Nothing here opens anything but directories.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections import deque

from dockyard.errors import InvalidArgument, NotFound, Unsupported

_SYS_OPENAT2 = 437  # x86_64 and aarch64 share the number (asm-generic)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_MAX_SYMLINK_HOPS = 40  # the kernel's MAXSYMLINKS
_MAX_CACHED_DIRS = 256


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]  # noqa: RUF012


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """openat2(2); raises OSError like os.open. Unsupported when the kernel lacks it (ENOSYS, before 5.6)."""
    how = _OpenHow(flags, 0, resolve)
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError("embedded null byte")
    fd = _syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), raw, ctypes.byref(how), ctypes.sizeof(how))
    if fd < 0:
        err = ctypes.get_errno()
        if err == errno.ENOSYS:
            raise Unsupported("openat2: not supported by this kernel (needs linux 5.6 or later)")
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def clean_name(name: str) -> tuple[str, bool]:
    """A tar name as a relative path inside the root ("" is the root), and whether `..` climbed above it.

    Leading slashes are stripped (as Docker does) and `..` at the top stays at the top, like Go's
    filepath.Clean("/" + name); the flag lets callers refuse what moby refuses (hardlinks out of the root).
    """
    stripped = name.strip("/")
    if stripped.startswith("./"):  # `tar -C dir .` names everything ./x
        stripped = stripped[2:]
    if "//" not in stripped and "/." not in stripped and not stripped.startswith("."):
        return stripped, False
    parts: list[str] = []
    escaped = False
    for part in stripped.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            else:
                escaped = True
            continue
        parts.append(part)
    return "/".join(parts), escaped


class SafeRoot:
    """An open root directory; hands out directory fds for relative paths, resolved as if the root were `/`.

    Directory fds are cached by path. Callers must call `forget()` after removing a directory or a symlink,
    since a cached path may have resolved through it. Why reusing a cached fd (instead of one openat2 per entry)
    is as safe: every cached fd was opened either by openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) or by
    mkdirat + openat(O_DIRECTORY|O_NOFOLLOW) of one component under an fd that was itself cached, so by
    induction it names a directory that was inside the root when it was opened. An fd names the inode, not the
    path: a later symlink cannot redirect it, and the only way for that directory to leave the root would be a
    rename, which the applier never does. What can change is what the *path* means (a directory replaced by a
    symlink later in the layer): the applier removes things only through `remove_entry`, and then calls
    `forget()`, so the next lookup of that path resolves again, confined, from the root.
    """

    def __init__(self, path: str, *, resolve: int = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) -> None:
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError as err:
            raise NotFound(f"open root `{path}`: no such directory") from err
        except NotADirectoryError as err:
            raise InvalidArgument(f"open root `{path}`: not a directory") from err
        self.path = path
        self.resolve = resolve
        self._dirs: dict[str, int] = {}
        self._inherits: dict[int, bool] = {}
        try:
            os.close(openat2(self.fd, ".", _DIR_FLAGS, resolve))
        except BaseException:
            os.close(self.fd)
            raise

    def __enter__(self) -> SafeRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.forget()
        os.close(self.fd)

    def forget(self, keep: tuple[int, ...] = ()) -> None:
        """Drop cached directory fds (after a removal changed what paths resolve to), except those in `keep`."""
        dirs, self._dirs = self._dirs, {}
        for rel, fd in dirs.items():
            if fd in keep:
                self._dirs[rel] = fd
            else:
                self._inherits.pop(fd, None)
                os.close(fd)

    def trim(self) -> None:
        """Bound the cache; call only between entries, when no caller holds a cached fd."""
        if len(self._dirs) >= _MAX_CACHED_DIRS:
            self.forget()

    def caches(self) -> tuple[dict[str, int], dict[int, bool]]:
        """The live directory-fd cache (path -> fd) and its `inherits` answers (fd -> bool), for hot loops.

        Read-only for callers, and only valid until the next `forget` or `trim`, which replace or empty them.
        """
        return self._dirs, self._inherits

    def remember(self, rel: str, fd: int, *, inherits: bool | None = None) -> None:
        """Cache `fd` as the directory at `rel`; the cache owns it from now on. `inherits`: see `inherits()`."""
        old = self._dirs.pop(rel, None)
        if old is not None and old != fd:
            self._inherits.pop(old, None)
            os.close(old)
        self._dirs[rel] = fd
        if inherits is not None:
            self._inherits[fd] = inherits

    def inherits(self, fd: int, *, refresh: bool = False) -> bool:
        """Whether entries made in directory `fd` take something from it: its group (S_ISGID) or a default ACL.

        Cached per fd; `refresh` after changing the directory's mode or xattrs.
        """
        flag = None if refresh else self._inherits.get(fd)
        if flag is None:
            flag = self._inherits[fd] = bool(os.fstat(fd).st_mode & stat.S_ISGID) or _has_default_acl(fd)
        return flag

    def dir_fd(self, rel: str, *, create: bool) -> int | None:
        """The fd of directory `rel` (symlinks followed, confined); None when missing and not `create`."""
        if not rel:
            return self.fd
        fd = self._dirs.get(rel)
        if fd is not None:
            return fd
        for _ in range(8):
            try:
                fd = openat2(self.fd, rel, _DIR_FLAGS, self.resolve)
                break
            except BlockingIOError:  # EAGAIN: a rename raced the lookup (openat2(2)); try again
                continue
            except FileNotFoundError:
                if not create:
                    return None
                fd = self._walk_create(rel)
                break
        else:
            raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), rel)
        self.remember(rel, fd)
        return fd

    def _walk_create(self, rel: str) -> int:
        """Resolve `rel` one component at a time like RESOLVE_IN_ROOT, creating missing directories (0755)."""
        comps = deque(rel.split("/"))
        stack: list[int] = []
        hops = 0
        try:
            while comps:
                comp = comps.popleft()
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if stack:
                        os.close(stack.pop())
                    continue
                cur = stack[-1] if stack else self.fd
                target = self._step(cur, comp)
                if isinstance(target, int):
                    stack.append(target)
                    continue
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), rel)
                if target.startswith("/"):
                    while stack:
                        os.close(stack.pop())
                comps.extendleft(reversed(target.split("/")))
            return stack.pop() if stack else os.open(".", _DIR_FLAGS, dir_fd=self.fd)
        finally:
            for fd in stack:
                os.close(fd)

    @staticmethod
    def _step(cur: int, comp: str) -> int | str:
        """One component under `cur`: an fd for a directory (made if missing) or a symlink's target."""
        try:
            st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
        except FileNotFoundError:
            os.mkdir(comp, 0o755, dir_fd=cur)
            fd = os.open(comp, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=cur)
            os.chmod(f"/proc/self/fd/{fd}", 0o755)  # mkdir(2) applied the umask
            return fd
        if stat.S_ISLNK(st.st_mode):
            return os.readlink(comp, dir_fd=cur)
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), comp)
        return os.open(comp, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=cur)


def _has_default_acl(fd: int) -> bool:
    try:
        os.getxattr(f"/proc/self/fd/{fd}", "system.posix_acl_default")  # works for O_PATH fds too
    except OSError:
        return False  # ENODATA (none) or EOPNOTSUPP (no ACLs on this file system)
    return True


def remove_entry(dirfd: int, name: str) -> int | None:
    """Remove `name` under `dirfd` (recursively for a directory, never following symlinks); its old st_mode."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode):
        remove_tree(dirfd, name)
    else:
        os.unlink(name, dir_fd=dirfd)
    return st.st_mode


def remove_tree(dirfd: int, name: str) -> None:
    """rm -rf `name` under `dirfd` through fds only (iterative: no recursion limit, one fd per level)."""
    top = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    stack: list[tuple[int, str]] = [(top, name)]
    try:
        while stack:
            fd, dname = stack[-1]
            child = _empty_files(fd)
            if child is None:
                stack.pop()
                parent = stack[-1][0] if stack else dirfd
                os.close(fd)
                os.rmdir(dname, dir_fd=parent)
                continue
            sub = os.open(child, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            stack.append((sub, child))
    finally:
        for fd, _name in stack:
            os.close(fd)


def _empty_files(fd: int) -> str | None:
    """Unlink every non-directory in `fd`; return one subdirectory's name, or None when the directory is empty."""
    subdir = None
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdir = subdir or entry.name
            else:
                os.unlink(entry.name, dir_fd=fd)
    return subdir
