"""The image verbs: images (image ls), tag, rmi (image rm), history, image inspect, image prune, save, load,
import. Parse → client → render, with docker 28's flags, tables (cli/command/formatter/image.go, history.go),
messages and exit codes. Commands return their status or raise; they never exit."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO

import click

from dockyard.cli import formatting
from dockyard.cli.containers_info import confirm, created_at, daemon_error, ellipsis, fail, parse_filters
from dockyard.cli.exits import CONTEXT, client_of
from dockyard.cli.gotemplate_typed import RowContext
from dockyard.cli.template_error import TemplateError
from dockyard.client import images as api
from dockyard.client.client import APIError
from dockyard.units import human_duration, human_size

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_TABLE_DIGESTS = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
                  "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                  "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}  # fmt: skip
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                   "Size": "SIZE", "Comment": "COMMENT"}  # fmt: skip
SAVE_TO_TERMINAL = "cowardly refusing to save to a terminal. Use the -o flag or redirect"
LOAD_FROM_TERMINAL = "requested load from stdin, but stdin is empty"


def short_id(image_id: str) -> str:
    """stringid.TruncateID: no `sha256:`, 12 characters."""
    return image_id.partition(":")[2][:12] if ":" in image_id else image_id[:12]


def since(timestamp: int) -> str:
    return f"{human_duration(time.time() - timestamp)} ago"


def _render(fmt: str, rows: Sequence[Mapping[str, object]], default: str, headers: Mapping[str, str]) -> None:
    try:
        text = formatting.format_rows(fmt or None, rows, default_table=default, headers=headers)
    except TemplateError as err:
        raise fail(1, err.message) from err  # docker's formatter: exit 1 for parse and execution errors alike
    click.echo(text, nl=False)


class ImageRow(RowContext):
    """docker's formatter.imageContext: what `images --format` reaches."""

    go_name = "*formatter.imageContext"


def image_rows(
    summary: Mapping[str, Any], *, digests: bool, trunc: bool, need_digest: bool | None = None
) -> list[ImageRow]:
    """docker's imageFormat: a row per repository tag (× digest with --digests, or when the format has the
    literal `{{.Digest}}`: `need_digest`), `<none>` for a dangling image.
    Size uses HumanSizeWithPrecision(…, 3); VirtualSize, SharedSize and UniqueSize HumanSize (precision 4)."""
    size = int(summary.get("Size") or 0)
    base: dict[str, object] = {
        "ID": short_id(summary["Id"]) if trunc else summary["Id"],
        "CreatedSince": since(int(summary.get("Created") or 0)),
        "CreatedAt": created_at(int(summary.get("Created") or 0)),
        "Size": human_size(size, 3),
        "VirtualSize": human_size(size),
        "SharedSize": _na_size(summary.get("SharedSize")),
        "UniqueSize": _na_size(_unique(summary)),
        "Containers": "N/A" if int(summary.get("Containers", -1)) < 0 else str(summary["Containers"]),
    }
    need = digests if need_digest is None else need_digest
    return [ImageRow({**base, **names}) for names in _names(summary, digests=digests, need=need)]


def _names(summary: Mapping[str, Any], *, digests: bool, need: bool) -> list[dict[str, str]]:
    """Repository, Tag and Digest of each row of one image."""
    tags = [t for t in summary.get("RepoTags") or () if t != "<none>:<none>"]
    refs = [d for d in summary.get("RepoDigests") or () if d != "<none>@<none>"]
    if not tags and not refs:
        return [{"Repository": "<none>", "Tag": "<none>", "Digest": "<none>"}]
    by_repo: dict[str, list[str]] = {}
    for text in tags:
        repo, _, tag = text.rpartition(":")
        by_repo.setdefault(repo, []).append(tag)
    digests_of: dict[str, list[str]] = {}
    for text in refs:
        repo, _, digest = text.partition("@")
        digests_of.setdefault(repo, []).append(digest)
    rows = []
    for repo in sorted(by_repo):
        repo_digests = digests_of.pop(repo, [])  # shown on the tag rows, never as rows of their own
        found = repo_digests if need else []
        for tag in by_repo[repo]:
            for digest in found or ["<none>"]:
                rows.append({"Repository": repo, "Tag": tag, "Digest": digest})
    for repo in sorted(digests_of):
        for digest in digests_of[repo] if digests else [""]:  # a digest-only row shows no digest
            rows.append({"Repository": repo, "Tag": "<none>", "Digest": digest})
    return rows


def _unique(summary: Mapping[str, Any]) -> int:
    shared = int(summary.get("SharedSize", -1))
    return -1 if shared < 0 else int(summary.get("Size") or 0) - shared


def _na_size(value: Any) -> str:
    return "N/A" if value is None or int(value) < 0 else human_size(int(value))


@click.command("images", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images)")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--digests", is_flag=True, help="Show digests")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.argument("reference", required=False)
@click.pass_context
def images(ctx: click.Context, all_: bool, quiet: bool, digests: bool, no_trunc: bool, filters: tuple[str, ...],
           fmt: str, reference: str | None) -> int:  # fmt: skip
    """List images."""
    wanted = parse_filters(filters)
    if reference:
        wanted.setdefault("reference", []).append(reference)
    try:
        found = api.list_images(client_of(ctx), all_=all_, filters=wanted)
    except APIError as err:
        raise daemon_error(err) from err
    fmt = image_format(fmt, quiet=quiet, digests=digests)
    need = digests or "{{.Digest}}" in fmt  # docker's needDigest
    rows = [row for s in found for row in image_rows(s, digests=digests, need_digest=need, trunc=not no_trunc)]
    _render(fmt, rows, IMAGES_TABLE, IMAGES_HEADERS)
    return 0


def image_format(fmt: str, *, quiet: bool, digests: bool) -> str:
    """docker's NewImageFormat: `table` (the default) and `raw` follow -q and --digests; a custom format wins
    over -q, and a custom table gets a digest column with --digests."""
    if fmt in ("", "table"):
        return "{{.ID}}" if quiet else IMAGES_TABLE_DIGESTS if digests else IMAGES_TABLE
    if fmt == "raw":
        if quiet:
            return "image_id: {{.ID}}"
        digest = "digest: {{.Digest}}\n" if digests else ""
        return (f"repository: {{{{ .Repository }}}}\ntag: {{{{.Tag}}}}\n{digest}image_id: {{{{.ID}}}}\n"
                "created_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n")  # fmt: skip
    if fmt.startswith("table") and digests and "{{.Digest}}" not in fmt:
        return fmt + "\t{{.Digest}}"
    return fmt


@click.command("tag", context_settings=CONTEXT)
@click.argument("source")
@click.argument("target")
@click.pass_context
def tag(ctx: click.Context, source: str, target: str) -> int:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    repo, tag_ = split_tag(target)
    try:
        api.tag(client_of(ctx), source, repo, tag_)
    except APIError as err:
        if err.http_status == 400 and "digest" in err.message:
            raise fail(1, err.message) from err
        if err.http_status == 400:  # the daemon's reference parser: docker's CLI words it as its own check
            raise fail(1, f'Error parsing reference: "{target}" is not a valid repository/tag: {err.message}') from err
        raise daemon_error(err) from err
    return 0


def split_tag(target: str) -> tuple[str, str]:
    """`localhost:5000/a/b:v1` → (`localhost:5000/a/b`, `v1`); the daemon validates both parts."""
    name, _, digest = target.partition("@")
    repo, sep, tag_ = name.rpartition(":")
    if not sep or "/" in tag_:
        repo, tag_ = name, ""
    return (f"{repo}@{digest}" if digest else repo), tag_


@click.command("rmi", context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def rmi(ctx: click.Context, force: bool, no_prune: bool, names: tuple[str, ...]) -> int:
    """Remove one or more images."""
    client = client_of(ctx)
    errors = []
    for name in names:
        try:
            items = api.remove(client, name, force=force, prune=not no_prune)
        except APIError as err:
            errors.append(f"Error response from daemon: {err.message}")
            continue
        for item in items:
            click.echo(f"Deleted: {item['Deleted']}" if item.get("Deleted") else f"Untagged: {item.get('Untagged')}")
    if errors:
        raise fail(1, "\n".join(errors))
    return 0


class HistoryRow(RowContext):
    """docker's image.historyContext: what `history --format` reaches."""

    go_name = "*image.historyContext"


def history_row(entry: Mapping[str, Any], *, human: bool, trunc: bool) -> HistoryRow:
    created = int(entry.get("Created") or 0)
    created_by = str(entry.get("CreatedBy") or "").replace("\t", " ")
    size = int(entry.get("Size") or 0)
    image_id = str(entry.get("Id") or "")
    return HistoryRow({
        "ID": short_id(image_id) if trunc and image_id != "<missing>" else image_id,
        "CreatedSince": since(created) if human else rfc3339(created),
        "CreatedAt": rfc3339(created),
        "CreatedBy": ellipsis(created_by, 45) if trunc else created_by,
        "Size": human_size(size, 3) if human else str(size),
        "Comment": str(entry.get("Comment") or ""),
    })  # fmt: skip


def rfc3339(timestamp: int) -> str:
    """Go's time.RFC3339 in local time (`Z` for UTC)."""
    text = datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _bool(value: str, flag: str) -> bool:
    text = value.removeprefix("=").lower()
    if text in ("1", "t", "true"):
        return True
    if text in ("0", "f", "false"):
        return False
    reason = f'strconv.ParseBool: parsing "{value}": invalid syntax'
    raise fail(125, f'invalid argument "{value}" for "{flag}" flag: {reason}')


@click.command("history", context_settings=CONTEXT)
@click.option("-H", "--human", default="true", is_flag=False, flag_value="true",
              help="Print sizes and dates in human readable format")  # fmt: skip
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.argument("name")
@click.pass_context
def history(ctx: click.Context, human: str, no_trunc: bool, quiet: bool, fmt: str, name: str) -> int:
    """Show the history of an image."""
    readable = _bool(human, "-H, --human")
    try:
        entries = api.history(client_of(ctx), name)
    except APIError as err:
        raise daemon_error(err) from err
    rows = [history_row(e, human=readable, trunc=not no_trunc) for e in entries]
    _render("{{.ID}}" if quiet and fmt in ("", "table") else fmt, rows, HISTORY_TABLE, HISTORY_HEADERS)
    return 0


@click.command("inspect", context_settings=CONTEXT)
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def image_inspect(ctx: click.Context, fmt: str, names: tuple[str, ...]) -> int:
    """Display detailed information on one or more images."""
    from dockyard.cli.containers_info import print_inspect

    return print_inspect(client_of(ctx), names, fmt, ("image",), size=False)


@click.command("prune", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones")
@click.option("--filter", "filters", multiple=True, help='Provide filter values (e.g. "until=<timestamp>")')
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_context
def image_prune(ctx: click.Context, all_: bool, filters: tuple[str, ...], force: bool) -> int:
    """Remove unused images."""
    wanted = parse_filters(filters)
    wanted["dangling"] = ["false" if all_ else "true"]
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if all_
        else "WARNING! This will remove all dangling images."
    )
    if not force and not confirm(warning):
        return 0
    try:
        report = api.prune(client_of(ctx), wanted)
    except APIError as err:
        raise daemon_error(err) from err
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        click.echo("Deleted Images:")
        for item in deleted:
            click.echo(f"deleted: {item['Deleted']}" if item.get("Deleted") else f"untagged: {item.get('Untagged')}")
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(int(report.get('SpaceReclaimed') or 0))}")
    return 0


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@click.command("save", context_settings=CONTEXT)
@click.option("-o", "--output", default="", help="Write to a file, instead of STDOUT")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def save(ctx: click.Context, output: str, names: tuple[str, ...]) -> int:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    if not output and _is_terminal(sys.stdout):
        raise fail(1, SAVE_TO_TERMINAL)
    try:
        chunks = api.save(client_of(ctx), names)
    except APIError as err:
        raise daemon_error(err) from err
    if output:
        _write_file(output, chunks)
    else:
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
        out.flush()
    return 0


def _write_file(path: str, chunks: Iterator[bytes]) -> None:
    """Write next to `path` and rename, so a failed save never leaves a truncated archive under its name."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    except OSError as err:
        raise fail(1, f"failed to save image: {err.strerror.lower() if err.strerror else err}: {path}") from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _open_input(path: str, what: str) -> contextlib.AbstractContextManager[BinaryIO]:
    """The archive as a file, passed on unread: the engine reads (or spools) it as it goes, never whole in memory."""
    if path and path != "-":
        try:
            return open(path, "rb")
        except OSError as err:
            raise fail(1, f"open {path}: {(err.strerror or str(err)).lower()}") from err
    if what == "load" and _is_terminal(sys.stdin):
        raise fail(1, LOAD_FROM_TERMINAL)
    return contextlib.nullcontext(sys.stdin.buffer)


@click.command("load", context_settings=CONTEXT)
@click.option("-i", "--input", "input_", default="", help="Read from tar archive file, instead of STDIN")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
@click.pass_context
def load(ctx: click.Context, input_: str, quiet: bool) -> int:
    """Load an image from a tar archive or STDIN (plain, gzip, zstd, bzip2 or xz)."""
    with _open_input(input_, "load") as data:
        try:
            for msg in api.load(client_of(ctx), data, quiet=True):
                if "stream" in msg:
                    click.echo(str(msg["stream"]), nl=False)
                elif msg.get("status"):
                    click.echo(str(msg["status"]))
        except APIError as err:
            raise daemon_error(err) from err
    return 0


@click.command("import", context_settings=CONTEXT)
@click.option("-c", "--change", multiple=True, help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", default="", help="Set commit message for imported image")
@click.option("--platform", default="", help="Set platform if server is multi-platform capable")
@click.argument("source")
@click.argument("reference", required=False, default="")
@click.pass_context
def import_(ctx: click.Context, change: tuple[str, ...], message: str, platform: str, source: str,
            reference: str) -> int:  # fmt: skip
    """Import the contents from a tarball to create a filesystem image."""
    is_url = source.startswith(("http://", "https://"))
    with contextlib.nullcontext(None) if is_url else _open_input(source, "import") as data:
        try:
            for msg in api.import_image(client_of(ctx), source if is_url else "-", data, repo=reference,
                                        changes=change, message=message):  # fmt: skip
                if msg.get("status"):
                    click.echo(str(msg["status"]))
        except APIError as err:
            raise daemon_error(err) from err
    return 0
