"""Builds the stand-in `busybox:latest` from Debian's busybox-static: one gzip layer (busybox, its applet links,
/etc/passwd and /etc/group), an OCI manifest and a config with Cmd ["sh"] and PATH.

Reproducible: entries sorted, owned by 0:0, every mtime the busybox binary's, gzip without name or time, so the
same binary always gives the same layer, config and manifest digests (building twice is a no-op). Writes only
through the image store; never downloads anything.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import subprocess
import tarfile
from datetime import UTC, datetime

from dockyard.errors import NotFound
from dockyard.image.mutate import append_layer, new_image, store_layer
from dockyard.image.store import Image, ImageStore
from dockyard.oci.image_spec import ContainerConfig, History, ImageConfig, RootFS

DEFAULT_BUSYBOX = "/bin/busybox"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""
_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700, "sys": 0o555,
         "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "sbin": 0o755, "var": 0o755,
         "var/spool": 0o755, "var/spool/mail": 0o755, "var/www": 0o755}  # fmt: skip
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le"}


def applets(busybox: str) -> list[str]:
    """The applet paths `busybox --list-full` names (relative, e.g. `bin/sh`), without `linuxrc`."""
    try:
        out = subprocess.run([busybox, "--list-full"], capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise NotFound(f"run `{busybox} --list-full`: {err}", hint="apt-get install busybox-static") from err
    return [line.strip() for line in out.splitlines() if line.strip() and "/" in line.strip()]


def image_config(created: str) -> ImageConfig:
    """The image config before its layer: Cmd ["sh"], Env PATH, the host's architecture."""
    return ImageConfig(
        created=created,
        architecture=_GO_ARCH.get(platform.machine(), platform.machine()),
        os="linux",
        config=ContainerConfig(env=(f"PATH={DEFAULT_PATH}",), cmd=("sh",)),
        rootfs=RootFS(type="layers"),
    )


def layer_tar(busybox: str, applet_paths: list[str], mtime: int) -> bytes:
    """The layer as an uncompressed tar, byte-for-byte reproducible for the same inputs."""
    entries: dict[str, tarfile.TarInfo] = {}
    payload: dict[str, bytes] = {}

    def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.linkname, info.size = kind, mode, mtime, link, len(data)
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        entries[name] = info
        payload[name] = data

    for rel, mode in _DIRS.items():
        add(rel, tarfile.DIRTYPE, mode)
    with open(busybox, "rb") as f:
        add("bin/busybox", tarfile.REGTYPE, 0o755, f.read())
    for rel in applet_paths:
        if rel not in entries:
            parent = os.path.dirname(rel)
            if parent and parent not in entries:
                add(parent, tarfile.DIRTYPE, 0o755)
            add(rel, tarfile.SYMTYPE, 0o777, link="/bin/busybox")
    add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode())
    add("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode())
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name in sorted(entries):
            tf.addfile(entries[name], io.BytesIO(payload[name]) if entries[name].isreg() else None)
    return out.getvalue()


def build_busybox(store: ImageStore, busybox: str = DEFAULT_BUSYBOX, name: str = "busybox:latest") -> Image:
    """Build (or find again) the busybox image and tag it `name`."""
    if not os.path.isfile(busybox):
        raise NotFound(f"build busybox image: `{busybox}` does not exist", hint="apt-get install busybox-static")
    with open(busybox, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    mtime = int(os.stat(busybox).st_mtime)
    created = datetime.fromtimestamp(mtime, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tar = layer_tar(busybox, applets(busybox), mtime)
    with store.lease():
        layer, diff_id = store_layer(store.content, io.BytesIO(tar))
        history = History(created=created, created_by=f"dockyard image build-busybox (busybox sha256:{digest})")
        built = append_layer(new_image(image_config(created)), layer, diff_id, history)
        return store.add(built.manifest_raw, built.config_raw, [name])
