"""The engine's composition root: wires the paths, the image store and the container service together.

Holds no behaviour of its own beyond construction and host facts for /version; handlers reach the services as
`engine.containers` and `engine.images`. Everything is built lazily so `dockyard version` stays cheap.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import cached_property

from dockyard.engine.containers import Containers
from dockyard.image.store import ImageStore
from dockyard.paths import Paths

VERSION = "0.1.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemInfo:
    version: str
    os: str
    arch: str
    kernel: str
    python: str


class Engine:
    def __init__(self, paths: Paths, runtime: str | None = None) -> None:
        self.paths = paths
        self._runtime = runtime

    @classmethod
    def from_env(cls, data_root: str | None = None) -> Engine:
        """Roots from DOCKYARD_DATA_ROOT/DOCKYARD_EXEC_ROOT (or `data_root`), runtime from DOCKYARD_RUNTIME."""
        return cls(Paths.from_env(data_root), os.environ.get("DOCKYARD_RUNTIME") or None)

    @cached_property
    def images(self) -> ImageStore:
        return ImageStore(self.paths.images)

    @cached_property
    def containers(self) -> Containers:
        return Containers(self.paths, self.images, self._runtime)

    def system_info(self) -> SystemInfo:
        machine = platform.machine()
        return SystemInfo(
            version=VERSION,
            os="linux",
            arch={"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine),
            kernel=os.uname().release,
            python=platform.python_version(),
        )

    def build_busybox(self) -> str:
        """Build (or find again) `busybox:latest`; returns its id."""
        from dockyard.image.busybox import build_busybox

        return str(build_busybox(self.images).id)
