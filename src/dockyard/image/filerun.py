"""The layer applier's fast lane: a run of plain files and directories created straight from the read chunk.

Most entries of a layer are regular files (and directories) with a plain ustar header whose record sits in the
chunk already read. For those, the per-entry Python work (header decode, name checks, cached parent lookup, the
file's system calls) is done in one loop, without a TarInfo, a generator step or a call per stage: interpreter
time per entry is what kept plain extraction behind GNU tar (docs/benchmarks.md, session 5). Directories go
through the applier's own `_dir`, so their rules (merge, replace, deferred modes and times) stay in one place.
Anything this loop does not recognise as plain, or whose parent directory is not cached yet, is left to the
general path (archive.py), which handles it and hands back to this loop; the checks are those of
`tarheaders.plain_file` and `safepath.clean_name`'s fast case, so both paths agree.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from typing import TYPE_CHECKING

from dockyard.image.tarheaders import PlainFile, known_ids, plain_ids

if TYPE_CHECKING:
    from dockyard.image.layerstream import LayerReader
    from dockyard.image.safepath import SafeRoot

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REGULAR = (0x30, 0x00)  # type flags b"0" and b"\0"
_DIRECTORY = 0x35  # b"5"
_KINDS = (*_REGULAR, _DIRECTORY)
_HEADER = 512
_WH = ".wh."
_NO_PAX: dict[str, str] = {}
_new_plain = tuple.__new__


class FileRuns:
    """Mixin for the applier: `file_run(offset)`, the `run` callback of `tarheaders.members`."""

    root: SafeRoot
    reader: LayerReader
    added: set[str]
    chown: bool
    owner: tuple[int, int]
    umask: int
    counts: dict[str, int]
    run_entries: int

    def _entry_error(self, name: str, err: OSError) -> Exception:
        raise NotImplementedError

    def _mark_added(self, rel: str) -> None:
        raise NotImplementedError

    def _replace(self, dirfd: int, name: str, *keep: int) -> None:
        raise NotImplementedError

    def _dir(self, pfd: int, rel: str, base: str, m: tarfile.TarInfo | PlainFile) -> None:
        raise NotImplementedError

    def file_run(self, offset: int) -> int:
        """Create the plain files and directories that start at stream position `offset`; the position of the first
        entry left to the general path."""
        buf, i = self.reader.window(offset)
        if i < 0 or i + _HEADER > len(buf):
            return offset
        start, end = i, len(buf)
        view = memoryview(buf)
        root = self.root
        dirs, inherits = root.caches()
        root_fd, added, chown, owner, umask = self.root.fd, self.added, self.chown, self.owner, self.umask
        adler, open_, write, utime, close = zlib.adler32, os.open, os.write, os.utime, os.close
        files = content = entries = 0
        raw = ""
        try:
            while i + _HEADER <= end:
                head = buf[i : i + _HEADER]
                kind = head[156]
                if kind not in _KINDS or head[345] or head[257:262] != b"ustar":
                    break
                nums = head[100:156].replace(b"\0", b" ")
                try:
                    chksum = int(nums[48:], 8)
                    # tarheaders.header_sum: an all-ASCII header sums to at most 512 × 127 < 65521, so one
                    # Adler-32 low half is its exact byte sum; otherwise each 256-byte half is summed alone
                    if head.isascii():
                        total = adler(head, 0) & 0xFFFF
                    else:
                        total = (adler(head[:256], 0) & 0xFFFF) + (adler(head[256:], 0) & 0xFFFF)
                    if chksum != total + 256 - (adler(head[148:156], 0) & 0xFFFF):
                        break
                    ids = known_ids(nums[:24])
                    if ids is None:
                        ids = plain_ids(nums[:24])
                    mode, uid, gid = ids
                    size, mtime = int(nums[24:36], 8), int(nums[36:48], 8)
                except ValueError:
                    break
                if kind == _DIRECTORY:
                    size = 0  # a directory's size field is not data (tarfile, Go)
                data = i + _HEADER
                following = data + ((size + 511) & ~511)
                if following > end:
                    break
                name_end = head.find(b"\0", 0, 100)
                name = raw = head[: name_end if name_end >= 0 else 100].decode("utf-8", "surrogateescape")
                if kind == _DIRECTORY:
                    name = name.rstrip("/")
                if name[:2] == "./":  # `tar -C dir .` names everything ./x
                    name = name[2:]
                # clean_name's fast case, and no whiteout: the name is already the relative path
                if not name or name[0] in "./" or name[-1] == "/" or "//" in name or "/." in name or _WH in name:
                    break
                parent, _, base = name.rpartition("/")
                pfd = dirs.get(parent) if parent else root_fd
                if pfd is None:
                    break
                inherit = inherits.get(pfd)
                if inherit is None:
                    break
                added.add(name)
                if parent not in added:
                    self._mark_added(parent)
                entries += 1
                if kind == _DIRECTORY:
                    self._dir(pfd, name, base, _new_plain(PlainFile, (name, mode, uid, gid, 0, mtime, _NO_PAX, None)))
                    i = following
                    root.trim()  # the directory joined the cache, which trim bounds
                    dirs, inherits = root.caches()  # _dir may have replaced them (a non-directory was there)
                    continue
                perm = mode & 0o7777
                exact = not inherit and not perm & (0o7000 | umask)
                replaced = False
                try:
                    fd = open_(base, _NEW_FILE, perm if exact else 0o600, dir_fd=pfd)
                except FileExistsError:
                    self._replace(pfd, base)  # may drop the caches: this entry is the run's last
                    replaced = True
                    fd = os.open(base, _NEW_FILE, perm if exact else 0o600, dir_fd=pfd)
                try:
                    if size and write(fd, view[data : data + size]) != size:  # short writes are rare: finish
                        chunk = view[data : data + size]
                        while chunk:
                            chunk = chunk[write(fd, chunk) :]
                    if chown and ((uid, gid) != owner or inherit):
                        os.fchown(fd, uid, gid)
                    if not exact:
                        os.fchmod(fd, perm)
                    utime(fd, (mtime, mtime))  # whole seconds (no PAX here): exact, and cheaper than ns=…
                finally:
                    close(fd)
                files += 1
                content += size
                i = following
                if replaced:
                    break
        except OSError as err:
            raise self._entry_error(raw, err) from err
        finally:
            counts = self.counts
            counts["files"] += files
            counts["content_bytes"] += content
            self.run_entries += entries
        offset += i - start
        self.reader.advance(offset)
        return offset
