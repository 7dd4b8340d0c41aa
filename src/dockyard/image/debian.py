"""Builds `debian:bookworm` with mmdebstrap (minbase) and imports a root file system tar as a one-layer image.

`build_debian` runs `mmdebstrap --variant=minbase <suite> <tar>` (Debian's mirror, ~40 s, needs the mmdebstrap
package) and hands the tar to `import_rootfs`, which the tests drive with a small fake root file system. The
tar is stored as the layer unchanged (gzip-compressed), so its sha256 is the layer's diff_id.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import BinaryIO

from dockyard.errors import InternalError, NotFound
from dockyard.image.mutate import append_layer, new_image, store_layer
from dockyard.image.store import Image, ImageStore
from dockyard.oci.image_spec import ContainerConfig, History, ImageConfig, RootFS

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le"}


def now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def import_rootfs(
    store: ImageStore,
    tar: BinaryIO,
    *,
    names: Sequence[str] = (),
    cmd: tuple[str, ...] = ("bash",),
    created: str | None = None,
    created_by: str = "dockyard import",
) -> Image:
    """Store the root file system tar `tar` as a one-layer image with Cmd `cmd` and PATH; tag it `names`."""
    created = created or now()
    config = ImageConfig(
        created=created,
        architecture=_GO_ARCH.get(platform.machine(), platform.machine()),
        os="linux",
        config=ContainerConfig(env=(f"PATH={DEFAULT_PATH}",), cmd=cmd),
        rootfs=RootFS(type="layers"),
    )
    with store.lease():
        layer, diff_id = store_layer(store.content, tar)
        built = append_layer(new_image(config), layer, diff_id, History(created=created, created_by=created_by))
        return store.add(built.manifest_raw, built.config_raw, names)


def build_debian(
    store: ImageStore, suite: str = "bookworm", name: str | None = None, mirror: str | None = None
) -> Image:
    """`debian:<suite>` from `mmdebstrap --variant=minbase <suite>`; the mirror defaults to the host's sources."""
    tool = shutil.which("mmdebstrap")
    if tool is None:
        raise NotFound("build debian image: `mmdebstrap` is not installed", hint="apt-get install -y mmdebstrap")
    with tempfile.TemporaryDirectory(prefix="dockyard-debian-", dir=store.root) as scratch:
        out = os.path.join(scratch, "rootfs.tar")
        argv = [tool, "--quiet", "--variant=minbase", "--format=tar", suite, out, *([mirror] if mirror else [])]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise InternalError(f"build debian image: mmdebstrap exited {proc.returncode}: {tail}")
        with open(out, "rb") as f:
            return import_rootfs(
                store, f, names=[name or f"debian:{suite}"], created_by=f"mmdebstrap --variant=minbase {suite}"
            )
