"""The image store: names → manifest digests and image records by ID, over a content store and a snapshotter.

Owns `<image root>/images.json` (names and records, rewritten atomically under `images.lock`) and the lease lock
`gc.lock` (writers hold it shared while they add content that no record references yet; garbage collection
takes it exclusively). Manifests, configs and layers live in the content store, unpacked layers in snapshots
keyed by chain ID. The image ID is the config digest, as in Docker. Lookups follow Docker's rules (`get`).
Knows nothing of containers: callers pass what containers use (rmi, gc).
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator

from dockyard.errors import InternalError, InvalidArgument, NotFound
from dockyard.image.content import ContentStore, read_blob, write_blob
from dockyard.image.snapshots.base import Snapshotter
from dockyard.image.snapshots.common import write_atomic
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import ContainerConfig, ImageConfig, Manifest
from dockyard.oci.model import Model
from dockyard.oci.reference import Reference, normalize, parse_any, parse_docker_ref

_HEX = frozenset("0123456789abcdef")


class Record(Model):
    """What images.json keeps per image: the manifest, when it was added, its size and whether it is unpacked."""

    manifest: Digest
    added: float
    size: int
    unpacked: str = ""  # the snapshotter that holds its layers, "" when not unpacked


class Image(Model):
    id: Digest  # the config digest
    manifest_digest: Digest
    manifest: Manifest
    config: ImageConfig
    names: tuple[Reference, ...]  # normalised references that point at it, sorted
    added: float
    size: int  # bytes unpacked (sum of the layer snapshots), or of the layer blobs when not unpacked
    unpacked: str

    @property
    def run_config(self) -> ContainerConfig:
        return self.config.config or ContainerConfig()

    @property
    def created(self) -> str:
        return self.config.created or ""

    @property
    def repo_tags(self) -> tuple[str, ...]:
        """`busybox:latest` for each tag name (Docker's RepoTags)."""
        return tuple(n.familiar_string() for n in self.names if n.tag is not None and n.digest is None)

    @property
    def repo_digests(self) -> tuple[str, ...]:
        """`busybox@sha256:<manifest>` for each repository holding the image (RepoDigests, containerd store)."""
        repos = sorted({n.familiar_name() for n in self.names})
        return tuple(f"{repo}@{self.manifest_digest}" for repo in repos)

    @property
    def chain_ids(self) -> list[Digest]:
        return self.config.chain_ids()

    @property
    def top_layer(self) -> str | None:
        """The snapshot key of the image's top layer (its chain ID), None for an image without layers."""
        chain = self.chain_ids
        return str(chain[-1]) if chain else None


class _State(Model):
    names: dict[str, Digest]  # normalised reference string → manifest digest
    records: dict[Digest, Record]  # image id → record

    def image_of_manifest(self) -> dict[Digest, Digest]:
        return {r.manifest: image_id for image_id, r in self.records.items()}


def normalize_name(name: str) -> Reference:
    """A name as stored: `busybox` → docker.io/library/busybox:latest; `name:tag@digest` keeps the digest only."""
    return parse_docker_ref(name)


_DECODED_CACHE = 64  # images whose decoded manifest and config a store keeps


class ImageStore:
    def __init__(self, root: str, content: ContentStore, snapshotter: Snapshotter | None = None) -> None:
        self.root = os.path.abspath(root)
        self.content = content
        self.snapshotter = snapshotter
        self.locks_dir = os.path.join(self.root, "locks")
        self._meta = os.path.join(self.root, "images.json")
        self._blob_cache: dict[tuple[Digest, Digest], tuple[Manifest, ImageConfig]] = {}
        os.makedirs(self.locks_dir, exist_ok=True)

    # ---- reading -----------------------------------------------------------------------------------------

    def get(self, ref: str) -> Image:
        """The image `ref` names, by Docker's rules (daemon/images GetImage):

        a full ID (64 hex or `sha256:<hex>`); else a reference (`busybox` = docker.io/library/busybox:latest,
        `name@sha256:<manifest digest>`); else a unique prefix of an ID (`sha256:` optional, ≥ 1 character).
        Raises NotFound `No such image: busybox:latest`, InvalidArgument for a bad reference or an ambiguous prefix.
        """
        state = self._load()
        return self._image(state, self._resolve(state, ref))

    def resolve_id(self, ref: str) -> Digest:
        """The ID of the image `ref` names (same rules as `get`, without reading blobs)."""
        return self._resolve(self._load(), ref)

    def list(self) -> builtins.list[Image]:
        state = self._load()
        return [self._image(state, image_id) for image_id in sorted(state.records)]

    def exists(self, image_id: Digest) -> bool:
        return image_id in self._load().records

    def ids(self) -> builtins.list[Digest]:
        return sorted(self._load().records)

    def _resolve(self, state: _State, ref: str) -> Digest:
        parsed = parse_any(ref)
        if isinstance(parsed, Digest):
            if parsed in state.records:
                return parsed
            raise NotFound(f"No such image: {parsed}")
        named = parsed if parsed.tag is not None or parsed.digest is not None else parsed.with_tag("latest")
        found = self._by_name(state, named)
        if found is not None:
            return found
        text = ref.removeprefix("sha256:")
        if text and set(text) <= _HEX:
            matches = [i for i in state.records if i.algorithm == "sha256" and i.hex.startswith(text)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidArgument(f"resolve image `{ref}`: ambiguous, the prefix of {len(matches)} image IDs")
        raise NotFound(f"No such image: {named.familiar_string()}")

    def _by_name(self, state: _State, ref: Reference) -> Digest | None:
        by_manifest = state.image_of_manifest()
        if ref.digest is not None:
            for name, target in state.names.items():
                if target == ref.digest and normalize_name(name).name == ref.name:
                    return by_manifest.get(target)
            return None
        found = state.names.get(ref.string())
        return by_manifest.get(found) if found is not None else None

    def _image(self, state: _State, image_id: Digest) -> Image:
        record = state.records.get(image_id)
        if record is None:
            raise NotFound(f"No such image: {image_id}")
        try:
            manifest, config = self._decoded(record.manifest, image_id)
        except NotFound as err:
            raise InternalError(f"image `{image_id}`: {err.message}") from err
        names = tuple(sorted((normalize_name(n) for n, m in state.names.items() if m == record.manifest), key=str))
        return Image(
            id=image_id, manifest_digest=record.manifest, manifest=manifest, config=config, names=names,
            added=record.added, size=record.size, unpacked=record.unpacked,
        )  # fmt: skip

    def _decoded(self, manifest_digest: Digest, image_id: Digest) -> tuple[Manifest, ImageConfig]:
        """The image's manifest and config, decoded once per process: blobs are content-addressed, so the same
        digests always decode the same (every create resolved its image: two blob reads and decodes, ~0.3 ms)."""
        key = (manifest_digest, image_id)
        found = self._blob_cache.get(key)
        if found is None:
            found = (Manifest.from_bytes(read_blob(self.content, manifest_digest)),
                     ImageConfig.from_bytes(read_blob(self.content, image_id)))  # fmt: skip
            if len(self._blob_cache) >= _DECODED_CACHE:
                self._blob_cache.clear()
            self._blob_cache[key] = found
        return found

    # ---- writing -----------------------------------------------------------------------------------------

    def add(
        self, manifest_raw: bytes, config_raw: bytes | None = None, names: Iterable[str] = (), *, unpack: bool = True
    ) -> Image:
        """Store an image: its manifest (and config when given; layer blobs must be in the content store already),
        unpack its layers when a snapshotter is set and `unpack`, then publish the record and point `names` at it.

        Idempotent. A name that pointed at another image moves (that image stays, untagged). Raises
        InvalidArgument for a bad manifest or config, NotFound when a blob it needs is missing; the store is
        unchanged then (blobs written stay unreferenced until garbage collection).
        """
        refs = [normalize_name(n) for n in names]
        with self.lease():
            manifest = _parse_manifest(manifest_raw)
            manifest_digest = Digest.of_bytes(manifest_raw)
            config = self._config(manifest, config_raw)
            for name in refs:
                if name.digest is not None and name.digest != manifest_digest:
                    raise InvalidArgument(f"add image `{name}`: digest does not match manifest {manifest_digest}")
            self._check_layers(manifest, config)
            write_blob(self.content, manifest_raw, manifest_digest)
            size, unpacked = sum(layer.size for layer in manifest.layers), ""
            if unpack and self.snapshotter is not None:
                size, unpacked = self.unpack_layers(manifest, config), self.snapshotter.name
            image_id = manifest.config.digest
            with self._locked() as state:
                old = state.records.get(image_id)
                if old is not None and old.manifest != manifest_digest:
                    for stored, target in builtins.list(state.names.items()):
                        if target == old.manifest:
                            state.names[stored] = manifest_digest
                if old is not None and old.manifest == manifest_digest and not unpacked:
                    size, unpacked = old.size, old.unpacked
                state.records[image_id] = Record(manifest=manifest_digest, added=time.time(), size=size,
                                                 unpacked=unpacked)  # fmt: skip
                for name in refs:
                    state.names[name.string()] = manifest_digest
        return self.get(str(image_id))

    def unpack(self, image: Image) -> Image:
        """Make sure the image's layers are unpacked in the snapshotter (idempotent); returns the updated image."""
        if self.snapshotter is None:
            raise InternalError(f"unpack image `{image.id}`: no snapshotter")
        if image.unpacked == self.snapshotter.name and all(self.snapshotter.exists(str(c)) for c in image.chain_ids):
            return image
        with self.lease():
            size = self.unpack_layers(image.manifest, image.config)
            with self._locked() as state:
                record = state.records.get(image.id)
                if record is None:
                    raise NotFound(f"No such image: {image.id}")
                state.records[image.id] = Record(manifest=record.manifest, added=record.added, size=size,
                                                 unpacked=self.snapshotter.name)  # fmt: skip
        return self.get(str(image.id))

    def unpack_layers(self, manifest: Manifest, config: ImageConfig) -> int:
        from dockyard.image.unpack import unpack

        assert self.snapshotter is not None
        return unpack(self.content, self.snapshotter, manifest, config, self.locks_dir, self.root)

    def tag(self, source: str, target: str) -> Image:
        """Point the name `target` at the image `source` names (docker tag)."""
        image_id = self.resolve_id(source)
        ref = normalize(target)
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        with self._locked() as state:
            record = state.records.get(image_id)
            if record is None:
                raise NotFound(f"No such image: {source}")
            state.names[ref.string()] = record.manifest
        return self.get(str(image_id))

    def untag(self, name: str) -> Digest:
        """Remove the name `name`; returns the ID of the image it pointed at (which stays)."""
        ref = normalize_name(name)
        with self._locked() as state:
            manifest = state.names.pop(ref.string(), None)
            if manifest is None:
                raise NotFound(f"No such image: {ref.familiar_string()}")
            image_id = state.image_of_manifest().get(manifest)
        if image_id is None:
            raise InternalError(f"untag `{ref.familiar_string()}`: it pointed at no image")
        return image_id

    def delete(self, image_id: Digest) -> builtins.list[str]:
        """Remove the image record and every name pointing at it; returns those names (familiar). Blobs and
        snapshots stay until garbage collection (`dockyard.image.gc.collect`)."""
        with self._locked() as state:
            record = state.records.pop(image_id, None)
            if record is None:
                raise NotFound(f"No such image: {image_id}")
            gone = sorted(n for n, m in state.names.items() if m == record.manifest)
            for name in gone:
                del state.names[name]
        return [normalize_name(n).familiar_string() for n in gone]

    def _config(self, manifest: Manifest, config_raw: bytes | None) -> ImageConfig:
        descriptor = manifest.config
        if not mediatypes.is_config(descriptor.media_type):
            raise InvalidArgument(f"add image: unsupported config media type `{descriptor.media_type}`")
        if config_raw is None:
            try:
                config_raw = read_blob(self.content, descriptor.digest)
            except NotFound as err:
                raise NotFound(f"add image: config blob `{descriptor.digest}` not found") from err
        elif Digest.of_bytes(config_raw, descriptor.digest.algorithm) != descriptor.digest:
            raise InvalidArgument(f"add image: config does not match the manifest's digest {descriptor.digest}")
        config = ImageConfig.from_bytes(config_raw)
        write_blob(self.content, config_raw, descriptor.digest)
        return config

    def _check_layers(self, manifest: Manifest, config: ImageConfig) -> None:
        if len(manifest.layers) != len(config.rootfs.diff_ids):
            raise InvalidArgument(
                f"add image: the manifest has {len(manifest.layers)} layers, the config"
                f" {len(config.rootfs.diff_ids)} diff_ids"
            )
        for layer in manifest.layers:
            if not mediatypes.is_layer(layer.media_type):
                raise InvalidArgument(f"add image: unsupported layer media type `{layer.media_type}`")
            if not self.content.exists(layer.digest):
                raise NotFound(f"add image: layer blob `{layer.digest}` not found")

    # ---- metadata and locks ------------------------------------------------------------------------------

    def _load(self) -> _State:
        try:
            with open(self._meta, "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            return _State(names={}, records={})
        except (OSError, ValueError) as err:
            raise InternalError(f"read `{self._meta}`: {err}") from err
        try:
            names = {str(k): Digest.parse(v) for k, v in data["names"].items()}
            records = {
                Digest.parse(k): Record(
                    manifest=Digest.parse(v["manifest"]),
                    added=float(v["added"]),
                    size=int(v["size"]),
                    unpacked=str(v.get("unpacked", "")),
                )  # fmt: skip
                for k, v in data["images"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError, InvalidArgument) as err:
            raise InternalError(f"read `{self._meta}`: malformed: {err}") from err
        return _State(names=names, records=records)

    def _save(self, state: _State) -> None:
        data = {
            "names": {k: str(v) for k, v in sorted(state.names.items())},
            "images": {
                str(k): {"manifest": str(r.manifest), "added": r.added, "size": r.size, "unpacked": r.unpacked}
                for k, r in sorted(state.records.items())
            },
        }
        write_atomic(self._meta, json.dumps(data, indent=1).encode())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[_State]:
        """Read-modify-write of images.json under its flock; the state yielded is saved when the block ends."""
        fd = os.open(os.path.join(self.root, "images.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._clean_temporaries()
            state = self._load()
            yield state
            self._save(state)
        finally:
            os.close(fd)

    def _clean_temporaries(self) -> None:
        """images.json.tmp-* of a writer killed mid-write (every writer holds the lock, so none is live now)."""
        for entry in os.listdir(self.root):
            if entry.startswith("images.json.tmp-"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.root, entry))

    @contextlib.contextmanager
    def lease(self, *, exclusive: bool = False) -> Iterator[None]:
        """Hold off garbage collection (shared) while adding content no record references yet; `exclusive` is
        what the collector takes. Do not call gc while holding a lease in the same process (it would wait)."""
        fd = os.open(os.path.join(self.root, "gc.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def references(self) -> tuple[dict[str, Digest], dict[Digest, Record]]:
        """Names and records as stored (for gc and check)."""
        state = self._load()
        return dict(state.names), dict(state.records)


def _parse_manifest(raw: bytes) -> Manifest:
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise InvalidArgument(f"add image: manifest is not valid JSON: {err}") from err
    media_type = data.get("mediaType") if isinstance(data, dict) else None
    if isinstance(media_type, str) and mediatypes.is_index(media_type):
        raise InvalidArgument(f"add image: `{media_type}` is an index, add one of its platform manifests")
    return Manifest.from_json(data, raw)
