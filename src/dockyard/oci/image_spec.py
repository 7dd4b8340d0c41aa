"""OCI image-spec 1.1 / Docker schema 2 documents as frozen models (oci/model.py): descriptor, manifest, index, config.

`from_bytes` validates untrusted JSON (errors name the JSON path) and keeps the exact bytes in `raw`, because
a document's digest is the hash of those bytes, never of a re-encoding. Inside an image config's "config"
object the keys are PascalCase (Docker's names, kept by OCI). Pure data: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from dockyard.errors import InvalidArgument, SpecError
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.jsonmodel import decode, encode
from dockyard.oci.model import Model, field, replace

T = TypeVar("T")

# Go's time.Time only unmarshals RFC 3339, so Docker rejects any other "created".
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)


class ImageSpecError(SpecError):
    """A manifest, index or image config field is invalid; names the document kind and the JSON path."""

    def __init__(self, what: str, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.what = what
        self.message = f"invalid {what} `{path}`: {reason}"
        self.args = (self.message,)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _load(cls: type[T], what: str, raw: bytes) -> T:
    """Decode `raw` as JSON into `cls`, keeping `raw`; every failure is an ImageSpecError naming `what`."""
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise ImageSpecError(what, "(root)", f"not valid JSON: {err}") from err
    return _from_json(cls, what, data, raw)


def _from_json(cls: type[T], what: str, data: Any, raw: bytes) -> T:
    if isinstance(data, dict) and "raw" in data:
        data = {k: v for k, v in data.items() if k != "raw"}  # `raw` is ours, never a JSON key
    try:
        obj = decode(cls, data)
    except ImageSpecError:
        raise
    except SpecError as err:
        raise ImageSpecError(what, err.path, err.reason) from err
    return replace(obj, raw=raw)


def _dump(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = encode(obj)
    out.pop("raw", None)
    return out


def _canonical(data: dict[str, Any]) -> bytes:
    """Compact JSON in field order, as Go's json.Marshal writes it (digests of our own documents use this)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _check_schema(what: str, version: int, media_type: str | None, allowed: frozenset[str]) -> None:
    if version != 2:
        raise ImageSpecError(what, "schemaVersion", f"unsupported schema version {version}")
    if media_type is not None and media_type not in allowed:
        raise ImageSpecError(what, "mediaType", f"unexpected media type `{media_type}`")


class Platform(Model):
    architecture: str
    os: str
    os_version: str | None = field(json="os.version", default=None)
    os_features: tuple[str, ...] | None = field(json="os.features", default=None)
    variant: str | None = None
    features: tuple[str, ...] | None = None

    def _check(self, path: str) -> None:
        for key in ("architecture", "os"):
            if not getattr(self, key):
                raise SpecError(_join(path, key), "must not be empty")


class Descriptor(Model):
    """A typed pointer to a blob: its media type, digest and size (the size is checked when it is read)."""

    media_type: str = field(json="mediaType")
    digest: Digest
    size: int
    urls: tuple[str, ...] | None = None
    annotations: dict[str, str] | None = None
    data: str | None = None
    platform: Platform | None = None
    artifact_type: str | None = field(json="artifactType", default=None)

    def _check(self, path: str) -> None:
        if not self.media_type:
            raise SpecError(_join(path, "mediaType"), "must not be empty")
        if self.size < 0:
            raise SpecError(_join(path, "size"), f"{self.size} is negative")

    @classmethod
    def from_json(cls, data: Any) -> Descriptor:
        try:
            return decode(cls, data)
        except SpecError as err:
            raise ImageSpecError("descriptor", err.path, err.reason) from err

    def to_json(self) -> dict[str, Any]:
        return _dump(self)


class Manifest(Model):
    """An image manifest (OCI or Docker schema 2). Equality ignores `raw`; the digest does not."""

    schema_version: int = field(json="schemaVersion")
    media_type: str | None = field(json="mediaType", default=None)
    artifact_type: str | None = field(json="artifactType", default=None)
    config: Descriptor
    layers: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None
    raw: bytes = field(default=b"", compare=False, repr=False)

    def _check(self, path: str) -> None:
        _check_schema("manifest", self.schema_version, self.media_type, mediatypes.MANIFESTS)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        return _load(cls, "manifest", raw)

    @classmethod
    def from_json(cls, data: Any, raw: bytes = b"") -> Manifest:
        return _from_json(cls, "manifest", data, raw)

    def to_json(self) -> dict[str, Any]:
        return _dump(self)

    def to_bytes(self) -> bytes:
        """The stored bytes when there are any, else the canonical encoding."""
        return self.raw or _canonical(self.to_json())

    def digest(self) -> Digest:
        return Digest.of_bytes(self.to_bytes())


class Index(Model):
    """An OCI image index or a Docker manifest list."""

    schema_version: int = field(json="schemaVersion")
    media_type: str | None = field(json="mediaType", default=None)
    artifact_type: str | None = field(json="artifactType", default=None)
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None
    raw: bytes = field(default=b"", compare=False, repr=False)

    def _check(self, path: str) -> None:
        _check_schema("index", self.schema_version, self.media_type, mediatypes.INDEXES)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Index:
        return _load(cls, "index", raw)

    @classmethod
    def from_json(cls, data: Any, raw: bytes = b"") -> Index:
        return _from_json(cls, "index", data, raw)

    def to_json(self) -> dict[str, Any]:
        return _dump(self)

    def to_bytes(self) -> bytes:
        return self.raw or _canonical(self.to_json())

    def digest(self) -> Digest:
        return Digest.of_bytes(self.to_bytes())


class EmptyObject(Model):
    """The `{}` values of ExposedPorts and Volumes (Go's struct{})."""


class HealthConfig(Model):
    """Docker's HEALTHCHECK extension; durations are nanoseconds, as Docker stores them."""

    test: tuple[str, ...] | None = field(json="Test", default=None)
    interval: int | None = field(json="Interval", default=None)
    timeout: int | None = field(json="Timeout", default=None)
    start_period: int | None = field(json="StartPeriod", default=None)
    start_interval: int | None = field(json="StartInterval", default=None)
    retries: int | None = field(json="Retries", default=None)

    def _check(self, path: str) -> None:
        for key in ("interval", "timeout", "start_period", "start_interval", "retries"):
            value = getattr(self, key)
            if value is not None and value < 0:
                json_key = "".join(part.capitalize() for part in key.split("_"))
                raise SpecError(_join(path, json_key), f"{value} is negative")


class ContainerConfig(Model):
    """The "config" object of an image config: the defaults a container of the image starts with."""

    user: str | None = field(json="User", default=None)
    exposed_ports: dict[str, EmptyObject | None] | None = field(json="ExposedPorts", default=None)
    env: tuple[str, ...] | None = field(json="Env", default=None)
    entrypoint: tuple[str, ...] | None = field(json="Entrypoint", default=None)
    cmd: tuple[str, ...] | None = field(json="Cmd", default=None)
    volumes: dict[str, EmptyObject | None] | None = field(json="Volumes", default=None)
    working_dir: str | None = field(json="WorkingDir", default=None)
    labels: dict[str, str] | None = field(json="Labels", default=None)
    stop_signal: str | None = field(json="StopSignal", default=None)
    healthcheck: HealthConfig | None = field(json="Healthcheck", default=None)
    on_build: tuple[str, ...] | None = field(json="OnBuild", default=None)
    shell: tuple[str, ...] | None = field(json="Shell", default=None)
    args_escaped: bool | None = field(json="ArgsEscaped", default=None)

    def ports(self) -> tuple[str, ...]:
        """Exposed ports as written (`80/tcp`), sorted."""
        return tuple(sorted(self.exposed_ports or {}))

    def volume_paths(self) -> tuple[str, ...]:
        return tuple(sorted(self.volumes or {}))


class RootFS(Model):
    type: str
    diff_ids: tuple[Digest, ...] = ()

    def _check(self, path: str) -> None:
        if self.type != "layers":
            raise SpecError(_join(path, "type"), f"unsupported rootfs type `{self.type}`")


class History(Model):
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None

    def _check(self, path: str) -> None:
        _check_time(_join(path, "created"), self.created)


def _check_time(path: str, value: str | None) -> None:
    if value is not None and not _RFC3339.fullmatch(value):
        raise SpecError(path, f"`{value}` is not an RFC 3339 time")


class ImageConfig(Model):
    """The image config blob; its sha256 is the image ID. Equality ignores `raw`."""

    created: str | None = None
    author: str | None = None
    architecture: str
    os: str
    os_version: str | None = field(json="os.version", default=None)
    os_features: tuple[str, ...] | None = field(json="os.features", default=None)
    variant: str | None = None
    config: ContainerConfig | None = None
    rootfs: RootFS
    history: tuple[History, ...] | None = None
    raw: bytes = field(default=b"", compare=False, repr=False)

    def _check(self, path: str) -> None:
        _check_time("created", self.created)
        for key in ("architecture", "os"):
            if not getattr(self, key):
                raise SpecError(key, "must not be empty")

    @classmethod
    def from_bytes(cls, raw: bytes) -> ImageConfig:
        return _load(cls, "image config", raw)

    @classmethod
    def from_json(cls, data: Any, raw: bytes = b"") -> ImageConfig:
        return _from_json(cls, "image config", data, raw)

    def to_json(self) -> dict[str, Any]:
        return _dump(self)

    def to_bytes(self) -> bytes:
        return self.raw or _canonical(self.to_json())

    def id(self) -> Digest:
        """The image ID: the digest of the config bytes."""
        return image_id(self.to_bytes())

    def chain_ids(self) -> list[Digest]:
        return chain_ids(self.rootfs.diff_ids)


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """OCI ChainIDs: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256("ChainID(Ln-1) DiffID(Ln)")."""
    out: list[Digest] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else Digest.of_bytes(f"{out[-1]} {diff_id}".encode()))
    return out


def image_id(config_raw: bytes) -> Digest:
    """The image ID Docker shows: sha256 of the image config bytes exactly as stored."""
    return Digest.of_bytes(config_raw)


def parse_document(raw: bytes, media_type: str | None = None) -> Manifest | Index:
    """Decode a manifest or an index, by `media_type` or else by the document's own `mediaType`/shape."""
    if media_type is None:
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise InvalidArgument(f"invalid manifest: not valid JSON: {err}") from err
        declared = data.get("mediaType") if isinstance(data, dict) else None
        if isinstance(declared, str):
            media_type = declared
        elif isinstance(data, dict) and "manifests" in data:
            return Index.from_json(data, raw)
        else:
            return Manifest.from_json(data, raw)
    if mediatypes.is_index(media_type):
        return Index.from_bytes(raw)
    if mediatypes.is_manifest(media_type):
        return Manifest.from_bytes(raw)
    raise InvalidArgument(f"unsupported manifest media type `{media_type}`")
