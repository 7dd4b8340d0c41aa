"""A simple image store: one unpacked rootfs and one OCI image config per image, and a names.json map.

Owns <data>/images/ (see dockyard.paths). The image id is the sha256 of the config bytes, as in Docker. This is
the interim store for daemonless `run`; the content-addressed store replaces it, keeping `get`, `add`, `list`.
It does not unpack layers, pull or garbage-collect, and never mounts anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from dockyard.errors import InternalError, InvalidArgument, NotFound
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import ContainerConfig, ImageConfig
from dockyard.oci.reference import normalize

_NAMES = "names.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    id: Digest
    names: tuple[str, ...]  # familiar references, e.g. `busybox:latest`
    rootfs: str  # an unpacked directory, used read-only (an overlay lowerdir)
    config: ImageConfig

    @property
    def run_config(self) -> ContainerConfig:
        return self.config.config or ContainerConfig()


def familiar(ref: str) -> str:
    """`busybox` → `busybox:latest`, `docker.io/library/busybox:1` → `busybox:1` (raises on a bad reference)."""
    return normalize(ref).familiar_string()


class ImageStore:
    def __init__(self, root: str) -> None:
        self.root = root

    def get(self, ref: str) -> Image:
        """The image a name, a full or short id or `sha256:<hex>` names; else NotFound `No such image: x:latest`."""
        names = self._names()
        image_hex = self._resolve(ref, names)
        if image_hex is None:
            raise NotFound(f"No such image: {_display(ref)}")
        return self._load(image_hex, names)

    def list(self) -> list[Image]:
        names = self._names()
        out = []
        for entry in sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []:
            if os.path.isfile(os.path.join(self.root, entry, "config.json")):
                out.append(self._load(entry, names))
        return out

    def add(self, name: str, rootfs: str, config: ImageConfig) -> Image:
        """Move the prepared directory `rootfs` into the store as an image named `name`; idempotent per id.

        When an image with the same id exists already, `rootfs` is deleted and the name is (re)pointed at it.
        """
        tag = familiar(name)
        raw = config.to_bytes()
        image_id = Digest.of_bytes(raw)
        target = os.path.join(self.root, image_id.hex)
        with self._locked():
            if os.path.isfile(os.path.join(target, "config.json")):
                shutil.rmtree(rootfs, ignore_errors=True)
            else:
                shutil.rmtree(target, ignore_errors=True)
                os.makedirs(target)
                os.rename(rootfs, os.path.join(target, "rootfs"))
                _write_atomic(os.path.join(target, "config.json"), raw)
            names = self._names()
            names[tag] = image_id.hex
            _write_atomic(os.path.join(self.root, _NAMES), json.dumps(names, indent=1, sort_keys=True).encode())
        return self._load(image_id.hex, names)

    def staging_dir(self) -> str:
        """A fresh empty directory inside the store (same filesystem, so `add` can rename it in)."""
        os.makedirs(self.root, exist_ok=True)
        return tempfile.mkdtemp(prefix=".staging-", dir=self.root)

    def _resolve(self, ref: str, names: dict[str, str]) -> str | None:
        text = ref.removeprefix("sha256:")
        if 4 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text):
            matches = [e for e in _entries(self.root) if e.startswith(text)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1 and len(text) < 64:
                raise InvalidArgument(f"image id `{text}` is ambiguous")
        try:
            tag = familiar(ref)
        except InvalidArgument:
            return None
        return names.get(tag)

    def _load(self, image_hex: str, names: dict[str, str]) -> Image:
        directory = os.path.join(self.root, image_hex)
        try:
            with open(os.path.join(directory, "config.json"), "rb") as f:
                raw = f.read()
        except OSError as err:
            raise NotFound(f"No such image: sha256:{image_hex}") from err
        config = ImageConfig.from_bytes(raw)
        return Image(
            id=Digest(algorithm="sha256", hex=image_hex),
            names=tuple(sorted(n for n, h in names.items() if h == image_hex)),
            rootfs=os.path.join(directory, "rootfs"),
            config=config,
        )

    def _names(self) -> dict[str, str]:
        try:
            with open(os.path.join(self.root, _NAMES), "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise InternalError(f"read `{os.path.join(self.root, _NAMES)}`: {err}") from err
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(self.root, exist_ok=True)
        fd = os.open(os.path.join(self.root, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _display(ref: str) -> str:
    try:
        return familiar(ref)
    except InvalidArgument:
        return ref


def _entries(root: str) -> list[str]:
    try:
        return [e for e in os.listdir(root) if not e.startswith(".") and e != _NAMES]
    except FileNotFoundError:
        return []


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
