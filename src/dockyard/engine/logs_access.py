"""Reading a container's log the way its log driver allows: json-file with its rotation settings, `none` refused
with Docker's message; following stops once the container's monitor is gone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from dockyard.engine.logs import LogEntry, LogQuery, read_log, validate_log_config
from dockyard.errors import Unsupported
from dockyard.oci.model import replace

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers


def container_logs(c: Containers, ref: str, query: LogQuery) -> Iterator[LogEntry]:
    record = c.get(ref)
    hc = record.host_config
    if hc.log_driver == "none":
        raise Unsupported("configured logging driver does not support reading")
    options = validate_log_config(hc.log_driver or "json-file", hc.log_opts)
    cid = record.id
    follow = query.follow and record.state.status in ("running", "restarting")
    query = replace(query, follow=follow, max_files=options.max_files)
    return read_log(c.paths.log(cid), query, done=lambda: not c._monitor_alive(cid))
