"""Builds the stand-in `busybox:latest` image from Debian's busybox-static: /bin/busybox, its applet links, users.

Deterministic: the same busybox binary always gives the same image id, so building twice is a no-op. Writes only
inside the image store; never downloads anything.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime

from dockyard.errors import NotFound
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


def image_config(busybox_digest: str, created: str) -> ImageConfig:
    """The image config: Cmd ["sh"], Env PATH; the history names the busybox binary so the id follows it."""
    return ImageConfig(
        created=created,
        architecture=_GO_ARCH.get(platform.machine(), platform.machine()),
        os="linux",
        config=ContainerConfig(env=(f"PATH={DEFAULT_PATH}",), cmd=("sh",)),
        rootfs=RootFS(type="layers"),
        history=(History(created=created, created_by=f"dockyard busybox from sha256:{busybox_digest}"),),
    )


def populate(rootfs: str, busybox: str, applet_paths: list[str]) -> None:
    """Fill an empty directory with the busybox tree."""
    for rel, mode in _DIRS.items():
        path = os.path.join(rootfs, rel)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)
    shutil.copy2(busybox, os.path.join(rootfs, "bin/busybox"))
    for rel in applet_paths:
        link = os.path.join(rootfs, rel)
        if rel == "bin/busybox" or os.path.lexists(link):
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)
    for name, text in (("passwd", PASSWD), ("group", GROUP)):
        with open(os.path.join(rootfs, "etc", name), "w", encoding="ascii") as f:
            f.write(text)


def build_busybox(store: ImageStore, busybox: str = DEFAULT_BUSYBOX, name: str = "busybox:latest") -> Image:
    """Build (or find again) the busybox image and tag it `name`."""
    if not os.path.isfile(busybox):
        raise NotFound(f"build busybox image: `{busybox}` does not exist", hint="apt-get install busybox-static")
    with open(busybox, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    mtime = datetime.fromtimestamp(int(os.stat(busybox).st_mtime), tz=UTC)
    config = image_config(digest, mtime.strftime("%Y-%m-%dT%H:%M:%SZ"))
    existing = os.path.join(store.root, config.id().hex, "config.json")
    staging = store.staging_dir()
    if not os.path.isfile(existing):
        populate(staging, busybox, applets(busybox))
    return store.add(name, staging, config)
