"""`docker ps`'s rows: formatter.ContainerContext's values for a container summary (PsRow), and ps's check of a
`--format` over an empty context before anything is listed. Values only; the verb and printing are
cli/containers_info.py's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from dockyard.cli import formatting, ports_column
from dockyard.cli.exits import CliExit
from dockyard.cli.gotemplate_typed import NIL_POINTER, RowContext
from dockyard.cli.template_error import TemplateError
from dockyard.units import human_duration, human_size


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def go_quote(text: str) -> str:
    """Go's strconv.Quote for the printable text docker ps shows (JSON escapes match for these)."""
    return json.dumps(text, ensure_ascii=False)


def created_at(timestamp: int) -> str:
    """Go's time.Time.String() in local time: `2026-11-28 12:12:27 +0000 UTC`."""
    local = time.localtime(timestamp)
    offset = time.strftime("%z", local)
    return time.strftime("%Y-%m-%d %H:%M:%S ", local) + f"{offset} {time.strftime('%Z', local)}"


class PsRow(RowContext):
    """docker's formatter.ContainerContext: the fields `ps --format` reaches, plus `.Label "key"`."""

    go_name = "*formatter.ContainerContext"

    def __init__(self, c: Mapping[str, Any], *, trunc: bool) -> None:
        self._labels = dict(c.get("Labels") or {})
        super().__init__(ps_fields(c, trunc=trunc))

    def Label(self, name: str) -> str:
        return str(self._labels.get(name, ""))


def ps_fields(c: Mapping[str, Any], *, trunc: bool) -> dict[str, object]:
    """The values of ContainerContext's methods for one container summary (an empty one for ps's pre-check)."""
    image, image_id = str(c.get("Image") or ""), str(c.get("ImageID") or "")
    if trunc and image and image == image_id:
        image = image_id.removeprefix("sha256:")[:12]
    command = str(c.get("Command") or "")
    names = [n.removeprefix("/") for n in c.get("Names") or ()]
    if trunc:
        names = [n for n in names if "/" not in n][:1] or names[:1]
    size = human_size(int(c.get("SizeRw") or 0), 3)
    if int(c.get("SizeRootFs") or 0) > 0:
        size += f" (virtual {human_size(int(c.get('SizeRootFs') or 0), 3)})"
    labels = dict(c.get("Labels") or {})
    networks = sorted((c.get("NetworkSettings") or {}).get("Networks") or {})
    return {
        "ID": str(c.get("Id") or "")[:12] if trunc else str(c.get("Id") or ""),
        "Image": image or "<no image>",
        "Command": go_quote(ellipsis(command, 20) if trunc else command),
        "CreatedAt": created_at(int(c.get("Created") or 0)),
        "RunningFor": f"{human_duration(time.time() - int(c.get('Created') or 0))} ago",
        "Platform": _platform(c),
        "Ports": ports_text(c.get("Ports") or ()),
        "State": str(c.get("State") or ""),
        "Status": str(c.get("Status") or ""),
        "Size": size,
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Mounts": ",".join(str(m.get("Name") or m.get("Source") or "") for m in c.get("Mounts") or ()),
        "Networks": ",".join(networks),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or () if m.get("Driver") == "local")),
    }


def _platform(c: Mapping[str, Any]) -> object:
    """ContainerContext.Platform: a *Platform, nil (`<nil>`, JSON null) unless the daemon sent the image's
    manifest descriptor with a platform; then platforms.FormatAll's `os/arch[/variant]`."""
    platform = (c.get("ImageManifestDescriptor") or {}).get("Platform")
    if not platform:
        return NIL_POINTER
    parts = [platform.get("os") or "unknown", platform.get("architecture") or "unknown", platform.get("variant")]
    return "/".join(str(p) for p in parts if p)


def check_ps_format(fmt: str) -> bool:
    """docker ps's check of a `--format` before it lists anything: the text as given (`table ` and all) is
    parsed and run over an empty ContainerContext; an error stops ps with exit 1. True if it read `.Size`
    (then ps asks the daemon for sizes, as docker does)."""
    fields = formatting.simple_fields(fmt)
    if fields is not None and all(field in _EMPTY_PS for field in fields):
        return "Size" in fields  # plain `{{.Field}}` actions cannot fail: no template engine needed
    from dockyard.cli.gotemplate import parse

    try:
        template = parse(fmt)
    except TemplateError as err:
        raise CliExit(1, f"failed to parse template: {err.detail}") from err
    probe = PsRow({}, trunc=False)
    try:
        template.execute(probe)
    except TemplateError as err:
        raise CliExit(1, f"failed to execute template: {err.detail}") from err
    return "Size" in probe.used


def ports_text(ports: Any) -> str:
    """docker's DisplayablePorts: sorted, ranges merged (cli/ports_column.py)."""
    return ports_column.displayable_ports(ports)


_EMPTY_PS = ps_fields({}, trunc=False)  # docker ps checks a --format over an empty ContainerContext
