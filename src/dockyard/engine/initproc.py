"""`--init`: Docker's docker-init as the container's pid 1, a reaper that forwards signals to the command.

Docker bind-mounts its `docker-init` (tini, built static) at /sbin/docker-init and runs `docker-init -- cmd…`.
We do exactly that with the same program: Debian's `tini` package ships `/usr/bin/tini-static`, which needs no
library inside the container. A Python init is not an option (images such as busybox have no Python), and a pid-1
stub inside the runtime would not work with runc. DOCKYARD_INIT_PATH names another binary (`--init-path`).
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from dockyard.errors import InternalError
from dockyard.oci.model import replace

if TYPE_CHECKING:
    from dockyard.engine.records import ContainerRecord
    from dockyard.oci.runtime_spec import Spec

INIT_PATH_IN_CONTAINER = "/sbin/docker-init"
CANDIDATES = ("docker-init", "tini-static", "/usr/bin/tini-static", "/usr/libexec/docker/docker-init")


def find_init() -> str:
    """The host path of the init binary: DOCKYARD_INIT_PATH, else docker-init or Debian's tini-static."""
    given = os.environ.get("DOCKYARD_INIT_PATH")
    for name in (given,) if given else CANDIDATES:
        path = name if "/" in name else shutil.which(name)
        if path and os.access(path, os.X_OK):
            return os.path.realpath(path)
    raise InternalError('exec: "docker-init": executable file not found in $PATH', hint="apt-get install tini")


def apply(spec: Spec, record: ContainerRecord) -> Spec:
    """The spec with the init mounted read-only and put in front of the command, when the container has --init."""
    if not record.host_config.init or spec.process is None:
        return spec
    from dockyard.oci.runtime_spec import Mount

    mount = Mount(destination=INIT_PATH_IN_CONTAINER, type="bind", source=find_init(), options=("bind", "ro"))
    process = replace(spec.process, args=(INIT_PATH_IN_CONTAINER, "--", *spec.process.args))
    new_spec: Spec = replace(spec, process=process, mounts=(*spec.mounts, mount))
    return new_spec
