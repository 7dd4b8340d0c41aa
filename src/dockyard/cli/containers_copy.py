"""`cp` (both directions, `-` for tar streams, -a, -L) and `export` (-o), with docker's copy rules: which name an
entry gets at the destination, and the errors for missing or mismatched paths.

Host-side extraction uses tarfile's `tar` filter (no entry may land outside the destination, also through a
symlink the archive made) with the modes kept whole, a check that hard links point inside, and our own rename of
the top entry. Both directions stream: nothing holds a whole archive in memory. No engine imports, no exiting.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

import click

from dockyard.cli.containers_info import CONTEXT, client_of, daemon_error, fail
from dockyard.client import containers_info as api
from dockyard.client.client import APIError, Client
from dockyard.client.tarstream import add_tree, piped_tar

GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27


def split_arg(arg: str) -> tuple[str, str]:
    """docker's splitCpArg: `container:path` → (container, path); a local path (absolute, `.`-relative, or without
    `:`) → ("", path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return "", arg
    container, _, path = arg.partition(":")
    return container, path


@click.command(context_settings=CONTEXT)
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information)")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output during copy")
@click.argument("src")
@click.argument("dest")
@click.pass_context
def cp(ctx: click.Context, archive: bool, follow_link: bool, quiet: bool, src: str, dest: str) -> int:
    """Copy files/folders between a container and the local filesystem."""
    src_container, src_path = split_arg(src)
    dest_container, dest_path = split_arg(dest)
    if src_container and dest_container:
        raise fail(1, "copying between containers is not supported")
    if not src_container and not dest_container:
        raise fail(1, "must specify at least one container source")
    if not (src_path if src_container else dest_path):
        raise fail(1, "filepath cannot be empty")
    client = client_of(ctx)
    if src_container:
        from_container(client, src_container, src_path, dest_path, archive=archive, follow=follow_link)
    else:
        to_container(client, src_path, dest_container, dest_path, archive=archive, follow=follow_link)
    return 0


def _not_found(err: APIError, container: str, path: str) -> Exception:
    if err.http_status == 404:
        return fail(1, f"Error: No such container:path: {container}:{path}")
    return daemon_error(err)


def from_container(client: Client, container: str, path: str, dest: str, *, archive: bool, follow: bool) -> None:
    try:
        if follow:
            info = api.archive_stat(client, container, path)
            if int(info.get("mode", 0)) & GO_SYMLINK and info.get("linkTarget"):
                path = str(info["linkTarget"])
        info, chunks = api.archive_get(client, container, path)
    except APIError as err:
        raise _not_found(err, container, path) from err
    if dest == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    src_is_dir = bool(int(info.get("mode", 0)) & GO_DIR)
    contents_only = path.endswith("/.") or path == "."
    target, rebase = _local_target(dest, str(info.get("name", "")), src_is_dir, contents_only)
    extract(_ChunkReader(chunks), target, rebase, keep_owner=archive)


def _local_target(dest: str, src_name: str, src_is_dir: bool, contents_only: bool) -> tuple[str, str | None]:
    """(directory to extract into, new name for the archive's top entry or None to keep it)."""
    if os.path.isdir(dest):
        if src_is_dir and contents_only:
            return dest, "."
        return dest, None
    if os.path.lexists(dest):
        if src_is_dir:
            raise fail(1, "cannot copy directory")
        return os.path.dirname(os.path.abspath(dest)), os.path.basename(dest)
    if dest.endswith(os.sep) and not src_is_dir:
        raise fail(1, "no such directory")
    parent = os.path.dirname(os.path.abspath(dest.rstrip(os.sep)))
    if not os.path.isdir(parent):
        raise fail(1, f"lstat {parent}: no such file or directory")
    return parent, os.path.basename(dest.rstrip(os.sep))


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (the archive stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _rebased(name: str, rebase: str) -> str:
    top, sep, rest = name.partition("/")
    return rebase + sep + rest if rebase != "." or rest else "."


def extract(stream: Any, target: str, rebase: str | None, *, keep_owner: bool) -> None:
    """Extract a tar into `target`, renaming its top entry to `rebase` (`.`: its content goes into `target`).
    Modes are kept whole (setuid too), as docker's Untar keeps them; hard links are renamed with their target."""
    uid, gid = os.geteuid(), os.getegid()

    def member_filter(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        if rebase is not None:
            link = _rebased(member.linkname, rebase) if member.islnk() else member.linkname
            member = member.replace(name=_rebased(member.name, rebase), linkname=link, deep=False)
            if member.name in (".", "./"):
                return None
        if not keep_owner:
            member = member.replace(uid=uid, gid=gid, uname="", gname="", deep=False)
        if member.islnk():  # why: the `tar` filter checks where an entry lands, not what a hard link points at
            linked = os.path.realpath(os.path.join(path, member.linkname))
            if os.path.commonpath([linked, os.path.realpath(path)]) != os.path.realpath(path):
                raise tarfile.LinkOutsideDestinationError(member, linked)
        # why: the `tar` filter also clears setuid/setgid/sticky and group/other write; docker's cp keeps them
        return tarfile.tar_filter(member, path).replace(mode=member.mode, deep=False)

    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            tar.extractall(target, filter=member_filter)
    except (tarfile.TarError, OSError) as err:
        raise fail(1, f"Error: {err}") from err


def to_container(client: Client, src: str, container: str, dest: str, *, archive: bool, follow: bool) -> None:
    if src == "-":
        data = sys.stdin.buffer  # streamed as it is read: a large `cp -` never sits in memory
        try:
            stat = api.archive_stat(client, container, dest)
            if not int(stat.get("mode", 0)) & GO_DIR:
                raise fail(1, f'Error response from daemon: destination "{container}:{dest}" must be a directory')
            api.archive_put(client, container, dest, data, copy_uid_gid=archive)
        except APIError as err:
            raise _not_found(err, container, dest) from err
        return
    if not os.path.lexists(src):
        raise fail(1, f"lstat {os.path.abspath(src)}: no such file or directory")
    src_is_dir = os.path.isdir(src) if follow or not os.path.islink(src) else False
    try:
        info: dict[str, Any] | None = api.archive_stat(client, container, dest)
    except APIError as err:
        if err.http_status != 404:
            raise daemon_error(err) from err
        info = None
    if info is not None and int(info.get("mode", 0)) & GO_DIR:
        where, name = dest, ("." if src.endswith("/.") else os.path.basename(os.path.abspath(src)))
    elif info is not None:
        if src_is_dir:
            raise fail(1, "cannot copy directory")
        where, name = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest.rstrip("/"))
    else:
        if dest.endswith("/") and not src_is_dir:
            raise fail(1, "no such directory")
        where, name = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest.rstrip("/"))
    try:
        with local_tar(src, name, follow=follow, keep_owner=archive) as tar:
            api.archive_put(client, container, where, tar, copy_uid_gid=archive)
    except APIError as err:
        raise _not_found(err, container, where) from err
    except OSError as err:  # a local file that could not be read: the tar ended early, this is the cause
        raise fail(1, f"read `{err.filename or src}`: {(err.strerror or str(err)).lower()}") from err


def local_tar(src: str, name: str, *, follow: bool, keep_owner: bool) -> AbstractContextManager[BinaryIO]:
    """A tar of the local `src` whose top entry is called `name` (`.`: the directory's content), written while it
    is read (never whole in memory); without `keep_owner` every entry is owned by 0:0, as docker's."""

    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if not keep_owner:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
        return info

    path = os.path.realpath(src) if follow else src.rstrip("/") if src not in ("/",) else src
    return piped_tar(lambda tar: add_tree(tar, path, name, filter=owner))


@click.command(context_settings=CONTEXT)
@click.option("-o", "--output", default="", help="Write to a file, instead of STDOUT")
@click.argument("container")
@click.pass_context
def export(ctx: click.Context, output: str, container: str) -> int:
    """Export a container's filesystem as a tar archive."""
    if not output and sys.stdout.isatty():
        raise fail(1, "cowardly refusing to save to a terminal. Use the -o flag or redirect")
    try:
        chunks = api.export(client_of(ctx), container)
        if output:
            tmp = f"{output}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
            os.replace(tmp, output)
        else:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    except APIError as err:
        raise daemon_error(err) from err
    except OSError as err:
        raise fail(1, f"failed to export container: {err.strerror or err}") from err
    return 0


COMMANDS = (cp, export)
