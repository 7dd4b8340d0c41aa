"""The data a volume store hands out: Volume (what `docker volume inspect` shows) and PruneReport; no behaviour.

Field names are Python's; the api layer maps them to Docker's JSON (Name, Driver, Mountpoint, CreatedAt, Labels,
Options, Scope). Labels and Options keep None apart from {} because Docker shows `null` for one and `{}` for the other.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.oci.model import Model

LOCAL_DRIVER = "local"
LOCAL_SCOPE = "local"
# moby volume/service/service.go AnonymousLabel: set on every volume created without a name
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


class Volume(Model):
    name: str
    mountpoint: str  # <root>/<name>/_data
    created_at: str  # RFC 3339 in the host's time zone, seconds precision, `Z` for UTC (Go's time.RFC3339)
    labels: Mapping[str, str] | None
    options: Mapping[str, str] | None
    driver: str = LOCAL_DRIVER
    scope: str = LOCAL_SCOPE
    refs: tuple[str, ...] = ()  # who uses it (container ids), sorted

    @property
    def anonymous(self) -> bool:
        return self.labels is not None and ANONYMOUS_LABEL in self.labels

    @property
    def in_use(self) -> bool:
        return bool(self.refs)


class PruneReport(Model):
    volumes_deleted: tuple[str, ...]
    space_reclaimed: int  # bytes
