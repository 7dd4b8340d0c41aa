"""Rendering for the terminal: docker-style tables, relative times, the run command's output streams."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence

from dockyard.units import human_duration


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded like docker's tabwriter (three spaces between columns, none after the last)."""
    body = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in body) for i in range(len(headers))]
    lines = []
    for row in body:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def ago(timestamp: float, now: float | None = None) -> str:
    """`5 seconds ago`, `About a minute ago`, … (docker ps CREATED)."""
    return f"{human_duration((time.time() if now is None else now) - timestamp)} ago"


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def write_stream(stream: str, data: bytes) -> None:
    target = sys.stderr.buffer if stream == "stderr" else sys.stdout.buffer
    target.write(data)
    target.flush()
