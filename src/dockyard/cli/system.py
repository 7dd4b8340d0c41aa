"""`stats`, `events`, `system df` and `system prune`, and the `container` command group. Parse → client → render
with docker's tables and messages; no engine imports, no exiting.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import click

from dockyard.cli import formatting
from dockyard.cli.containers_info import CONTEXT, PsRow, client_of, confirm, daemon_error, fail, parse_filters
from dockyard.cli.gotemplate import TemplateError, parse
from dockyard.cli.gotemplate_typed import RowContext
from dockyard.client import containers_info as api
from dockyard.client.client import APIError, Client
from dockyard.units import human_duration, human_size

STATS_TABLE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}"
               "\t{{.PIDs}}")  # fmt: skip
STATS_HEADERS = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                 "PIDs": "PIDS"}  # fmt: skip
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, `%.4g` (`1.5MiB`, `23.54GiB`, `0B`)."""
    i = 0
    while size >= 1024 and i < len(_BINARY) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{_BINARY[i]}"


class StatsRow(RowContext):
    """docker's container.statsContext: what `stats --format` reaches."""

    go_name = "*container.statsContext"


def stats_row(entry: Mapping[str, Any], container: str, *, trunc: bool) -> StatsRow:
    """docker's stats formatting context from one stats document (CPU % over its two samples)."""
    cpu, pre = entry.get("cpu_stats") or {}, entry.get("precpu_stats") or {}
    total = int((cpu.get("cpu_usage") or {}).get("total_usage") or 0)
    pre_total = int((pre.get("cpu_usage") or {}).get("total_usage") or 0)
    system, pre_system = int(cpu.get("system_cpu_usage") or 0), int(pre.get("system_cpu_usage") or 0)
    online = int(cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ()))
    cpu_percent = 0.0
    if system - pre_system > 0 and total - pre_total > 0:
        cpu_percent = (total - pre_total) / (system - pre_system) * online * 100.0
    mem = entry.get("memory_stats") or {}
    usage, limit, raw = int(mem.get("usage") or 0), int(mem.get("limit") or 0), dict(mem.get("stats") or {})
    inactive = int(raw.get("total_inactive_file", raw.get("inactive_file", 0)) or 0)
    used = usage - inactive if inactive < usage else usage
    rx = sum(int(n.get("rx_bytes") or 0) for n in (entry.get("networks") or {}).values())
    tx = sum(int(n.get("tx_bytes") or 0) for n in (entry.get("networks") or {}).values())
    read = write = 0
    for e in (entry.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ():
        op = str(e.get("op", "")).lower()
        read += int(e.get("value") or 0) if op == "read" else 0
        write += int(e.get("value") or 0) if op == "write" else 0
    cid = str(entry.get("id") or "")
    return StatsRow({
        "Container": container, "ID": cid[:12] if trunc else cid, "Name": str(entry.get("name") or "").lstrip("/"),
        "CPUPerc": f"{cpu_percent:.2f}%", "MemUsage": f"{bytes_size(used)} / {bytes_size(limit)}",
        "MemPerc": f"{(used / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx, 3)} / {human_size(tx, 3)}",
        "BlockIO": f"{human_size(read, 3)} / {human_size(write, 3)}",
        "PIDs": str(int((entry.get("pids_stats") or {}).get("current") or 0)),
    })  # fmt: skip


class _Watcher:
    """The latest stats document of one container, read from its stream in a thread."""

    def __init__(self, client: Client, name: str, stream: bool) -> None:
        self.name, self.error = name, ""
        self.latest: dict[str, Any] | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(client, stream), daemon=True, name=f"stats-{name}")
        self.thread.start()

    def _run(self, client: Client, stream: bool) -> None:
        try:
            for entry in api.stats(client, self.name, stream=stream):
                self.latest = entry
                self.done.set()
        except APIError as err:
            self.error = err.message
        finally:
            self.done.set()


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)")
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.argument("containers", nargs=-1)
@click.pass_context
def stats(ctx: click.Context, all_: bool, fmt: str, no_stream: bool, no_trunc: bool,
          containers: tuple[str, ...]) -> int:  # fmt: skip
    """Display a live stream of container(s) resource usage statistics."""
    client = client_of(ctx)
    try:
        formatting.format_rows(fmt or None, [], default_table=STATS_TABLE, headers=STATS_HEADERS)
    except TemplateError as err:
        raise fail(1, err.message) from err  # docker's formatter: exit 1
    names = list(containers)
    if not names:
        try:
            names = [c["Id"][:12] for c in api.containers(client, all=all_)]
        except APIError as err:
            raise daemon_error(err) from err
    watchers = {name: _Watcher(client, name, not no_stream) for name in names}
    for w in watchers.values():
        w.done.wait()
    errors = [f"Error response from daemon: {w.error}" for w in watchers.values() if w.error and w.latest is None]
    if errors and containers:
        raise fail(1, "\n".join(errors))
    while True:
        rows = [stats_row(w.latest, n, trunc=not no_trunc) for n, w in watchers.items() if w.latest is not None]
        try:
            text = formatting.format_rows(fmt or None, rows, default_table=STATS_TABLE, headers=STATS_HEADERS)
        except TemplateError as err:
            raise fail(1, err.message) from err
        if no_stream:
            click.echo(text, nl=False)
            return 0
        sys.stdout.write("\033[2J\033[H" + text)
        sys.stdout.flush()
        if all(not w.thread.is_alive() for w in watchers.values()):
            return 0
        time.sleep(1.0)


def event_time(nanos: int) -> str:
    """Go's RFC3339NanoFixed in local time (`2026-11-28T12:12:22.649511677Z`, `…+01:00` elsewhere)."""
    seconds, frac = divmod(nanos, 1_000_000_000)
    local = time.localtime(seconds)
    offset = local.tm_gmtoff or 0
    sign = "+" if offset > 0 else "-"
    zone = "Z" if offset == 0 else f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{frac:09d}{zone}"


def event_line(e: Mapping[str, Any]) -> str:
    actor = e.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    text = f"{event_time(int(e.get('timeNano') or 0))} {e.get('Type')} {e.get('Action')} {actor.get('ID', '')}"
    if attrs:
        text += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return text


def go_event(e: Mapping[str, Any]) -> dict[str, Any]:
    """The event with Go's field names, for `--format` templates (`.Status`, `.Actor.ID`, `.TimeNano`…)."""
    return {"Status": e.get("status", ""), "ID": e.get("id", ""), "From": e.get("from", ""),
            "Type": e.get("Type", ""), "Action": e.get("Action", ""), "Actor": e.get("Actor") or {},
            "Scope": e.get("scope", ""), "Time": e.get("time", 0), "TimeNano": e.get("timeNano", 0)}  # fmt: skip


@click.command(context_settings=CONTEXT)
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option("--since", default="", help="Show all events created since timestamp")
@click.option("--until", default="", help="Stream events until this timestamp")
@click.pass_context
def events(ctx: click.Context, filters: tuple[str, ...], fmt: str, since: str, until: str) -> int:
    """Get real time events from the server."""
    template = None
    if fmt and fmt not in ("json", "{{json .}}"):
        from dockyard.cli.gotemplate_types import event_view

        try:  # docker checks the template on an empty events.Message first (makeTemplate): both fail alike
            template = parse(fmt)
            template.execute(event_view({}))
        except TemplateError as err:
            raise fail(64, f"Error parsing format: {err.detail}") from err
    try:
        for e in api.events(client_of(ctx), since=since, until=until, filters=parse_filters(filters)):
            if fmt in ("json", "{{json .}}"):
                import json

                line = json.dumps(e, separators=(",", ":"), ensure_ascii=False)
            elif template is not None:
                line = template.execute(event_view(go_event(e)))
            else:
                line = event_line(e)
            click.echo(line)
    except APIError as err:
        raise daemon_error(err) from err
    except TemplateError as err:
        raise fail(125, err.message) from err
    return 0


# ---- system df / prune ------------------------------------------------------------------------------------------


def _percent(part: int, total: int) -> str:
    return f"{human_size(part)} ({int(part * 100 / total)}%)" if total > 0 else human_size(part)


class DiskUsageRow(RowContext):
    """One row of `system df`: docker's diskUsageImagesContext, …ContainersContext, …VolumesContext or
    …BuilderContext (`go_name` set per row, as their methods are the same)."""

    def __init__(self, go_name: str, values: dict[str, object]) -> None:
        super().__init__(values)
        self.go_name = go_name


def df_rows(data: Mapping[str, Any]) -> list[DiskUsageRow]:
    kinds = ("Images", "Containers", "Volumes", "Builder")
    return [DiskUsageRow(f"*formatter.diskUsage{kind}Context", dict(row))
            for kind, row in zip(kinds, _df_values(data), strict=True)]  # fmt: skip


def _df_values(data: Mapping[str, Any]) -> list[dict[str, str]]:
    images = data.get("Images") or []
    used = sum(int(i.get("Size") or 0) - int(i.get("SharedSize") or 0) for i in images if int(i.get("Containers") or 0))
    layers = int(data.get("LayersSize") or 0)
    containers = data.get("Containers") or []
    c_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    c_free = sum(int(c.get("SizeRw") or 0) for c in containers if c.get("State") != "running")
    volumes = data.get("Volumes") or []
    v_size = sum(int((v.get("UsageData") or {}).get("Size") or 0) for v in volumes)
    v_active = sum(1 for v in volumes if int((v.get("UsageData") or {}).get("RefCount") or 0) > 0)
    v_free = sum(int((v.get("UsageData") or {}).get("Size") or 0) for v in volumes
                 if not int((v.get("UsageData") or {}).get("RefCount") or 0))  # fmt: skip
    cache = data.get("BuildCache") or []
    cache_size = sum(int(b.get("Size") or 0) for b in cache)
    return [
        {"Type": "Images", "TotalCount": str(len(images)), "Active": str(sum(1 for i in images if i.get("Containers"))),
         "Size": human_size(layers), "Reclaimable": _percent(max(layers - used, 0), layers)},
        {"Type": "Containers", "TotalCount": str(len(containers)),
         "Active": str(sum(1 for c in containers if c.get("State") == "running")), "Size": human_size(c_size),
         "Reclaimable": _percent(c_free, c_size)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)), "Active": str(v_active), "Size": human_size(v_size),
         "Reclaimable": _percent(v_free, v_size)},
        {"Type": "Build Cache", "TotalCount": str(len(cache)), "Active": "0", "Size": human_size(cache_size),
         "Reclaimable": human_size(cache_size)},
    ]  # fmt: skip


DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}


@click.command("df", context_settings=CONTEXT)
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage")
@click.pass_context
def df(ctx: click.Context, fmt: str, verbose: bool) -> int:
    """Show docker disk usage."""
    try:
        data = api.system_df(client_of(ctx))
    except APIError as err:
        raise daemon_error(err) from err
    try:
        if not verbose:
            click.echo(formatting.format_rows(fmt or None, df_rows(data), default_table=DF_TABLE, headers=DF_HEADERS),
                       nl=False)  # fmt: skip
            return 0
        click.echo(df_verbose(data), nl=False)
    except TemplateError as err:
        raise fail(1, err.message) from err  # docker's formatter: exit 1
    return 0


def df_verbose(data: Mapping[str, Any]) -> str:
    now = time.time()
    images = []
    for i in data.get("Images") or []:
        for tag in i.get("RepoTags") or ["<none>:<none>"]:
            repo, _, name = str(tag).rpartition(":")
            size, shared = int(i.get("Size") or 0), int(i.get("SharedSize") or 0)
            images.append(
                "\t".join(
                    (
                        repo,
                        name,
                        str(i["Id"]).removeprefix("sha256:")[:12],
                        f"{human_duration(now - int(i.get('Created') or 0))} ago",
                        human_size(size),
                        human_size(shared),
                        human_size(size - shared),
                        str(i.get("Containers") or 0),
                    )
                )
            )
    containers = []
    for c in data.get("Containers") or []:
        row = {key: str(value) for key, value in PsRow(c, trunc=True).items()}
        containers.append("\t".join((row["ID"], row["Image"], row["Command"], row["LocalVolumes"],
                                     human_size(int(c.get("SizeRw") or 0)), row["RunningFor"], row["Status"],
                                     row["Names"])))  # fmt: skip
    volumes = ["\t".join((str(v.get("Name")), str((v.get("UsageData") or {}).get("RefCount", 0)),
                          human_size(int((v.get("UsageData") or {}).get("Size") or 0))))
               for v in data.get("Volumes") or []]  # fmt: skip
    cache = sum(int(b.get("Size") or 0) for b in data.get("BuildCache") or [])
    sections = [
        "Images space usage:\n\n" + formatting.tabwrite("\n".join(
            ["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS", *images]) + "\n"),
        "Containers space usage:\n\n" + formatting.tabwrite("\n".join(
            ["CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES", *containers]) + "\n"),
        "Local Volumes space usage:\n\n"
        + formatting.tabwrite("\n".join(["VOLUME NAME\tLINKS\tSIZE", *volumes]) + "\n"),
        f"Build cache usage: {human_size(cache)}\n\n"
        + formatting.tabwrite("CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n"),
    ]  # fmt: skip
    return "\n".join(sections)


@click.command("prune", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images not just dangling ones")
@click.option("--filter", "filters", multiple=True, help='Provide filter values (e.g. "label=<key>=<value>")')
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes")
@click.pass_context
def system_prune(ctx: click.Context, all_: bool, filters: tuple[str, ...], force: bool, volumes: bool) -> int:
    """Remove unused data."""
    wanted = parse_filters(filters)
    warning = ["WARNING! This will remove:", "  - all stopped containers", "  - all networks not used by at least one "
               "container"]  # fmt: skip
    if volumes:
        warning.append("  - all anonymous volumes not used by at least one container")
    warning.append("  - all images without at least one container associated to them" if all_
                   else "  - all dangling images")  # fmt: skip
    warning.append("  - unused build cache" if not all_ else "  - all build cache")
    if not force and not confirm("\n".join(warning) + "\n"):
        return 0
    client, reclaimed, out = client_of(ctx), 0, list[str]()
    try:
        report = api.prune(client, wanted) or {}
        reclaimed += _section(out, "Deleted Containers:", report.get("ContainersDeleted"), report)
        report = api.post_json(client, "/networks/prune", _query(wanted)) or {}
        _section(out, "Deleted Networks:", report.get("NetworksDeleted"), {})
        if volumes:
            report = api.post_json(client, "/volumes/prune", _query(wanted)) or {}
            reclaimed += _section(out, "Deleted Volumes:", report.get("VolumesDeleted"), report)
        image_filters = {**wanted, "dangling": ["false" if all_ else "true"]}
        report = api.post_json(client, "/images/prune", _query(image_filters)) or {}
        items = [f"{k.lower()}: {v}" for d in report.get("ImagesDeleted") or () for k, v in d.items()]
        reclaimed += _section(out, "Deleted Images:", items, report)
        report = api.post_json(client, "/build/prune", {"all": "1"} if all_ else None) or {}
        reclaimed += _section(out, "Deleted build cache objects:", report.get("CachesDeleted"), report)
    except APIError as err:
        raise daemon_error(err) from err
    out.append(f"Total reclaimed space: {human_size(reclaimed)}")
    click.echo("\n".join(out))
    return 0


def _query(filters: Mapping[str, list[str]]) -> dict[str, str]:
    import json

    return {"filters": json.dumps({k: dict.fromkeys(v, True) for k, v in filters.items() if v})} if filters else {}


def _section(out: list[str], title: str, items: Any, report: Mapping[str, Any]) -> int:
    if items:
        out.extend([title, *[str(i) for i in items], ""])
    return int(report.get("SpaceReclaimed") or 0)
