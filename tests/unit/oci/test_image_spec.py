"""Image manifests, indexes and configs: validation naming the JSON path, byte-exact raw, chain and image IDs."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from dockyard.errors import InvalidArgument, SpecError
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import (
    Descriptor,
    ImageConfig,
    ImageSpecError,
    Index,
    Manifest,
    chain_ids,
    image_id,
    parse_document,
)

L1 = "sha256:" + hashlib.sha256(b"layer one").hexdigest()
L2 = "sha256:" + hashlib.sha256(b"layer two").hexdigest()
L3 = "sha256:" + hashlib.sha256(b"layer three").hexdigest()
CFG = "sha256:" + hashlib.sha256(b"config").hexdigest()

MANIFEST: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": mediatypes.DOCKER_MANIFEST,
    "config": {"mediaType": mediatypes.DOCKER_CONFIG, "size": 1469, "digest": CFG},
    "layers": [
        {"mediaType": mediatypes.DOCKER_LAYER_GZIP, "size": 2814446, "digest": L1},
        {"mediaType": mediatypes.DOCKER_LAYER_GZIP, "size": 120, "digest": L2, "urls": ["https://x/y"]},
    ],
}

CONFIG: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-01-02T03:04:05.123456789Z",
    "config": {
        "User": "1000:1000",
        "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Entrypoint": ["/docker-entrypoint.sh"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "Volumes": {"/data": {}},
        "WorkingDir": "/srv",
        "Labels": {"maintainer": "someone"},
        "StopSignal": "SIGQUIT",
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
        "OnBuild": None,
        "Shell": ["/bin/sh", "-c"],
        "ArgsEscaped": True,
    },
    "rootfs": {"type": "layers", "diff_ids": [L1, L2, L3]},
    "history": [
        {"created": "2024-01-02T03:04:05Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
        {"created": "2024-01-02T03:04:06+01:00", "created_by": 'CMD ["nginx"]', "empty_layer": True},
        {"created_by": "RUN true", "comment": "buildkit.dockerfile.v0", "author": "me"},
    ],
}


def pretty(data: Any) -> bytes:
    # Indented, with a trailing newline: anything but our canonical encoding, so raw must be kept as is.
    return (json.dumps(data, indent=3) + "\n").encode()


def test_manifest_round_trip_keeps_raw_bytes() -> None:
    raw = pretty(MANIFEST)
    m = Manifest.from_bytes(raw)
    assert m.raw == raw
    assert m.to_bytes() == raw
    assert m.digest() == Digest.of_bytes(raw)
    assert m.config.digest == Digest.parse(CFG) and m.config.size == 1469
    assert [layer.digest for layer in m.layers] == [Digest.parse(L1), Digest.parse(L2)]
    assert m.layers[1].urls == ("https://x/y",)
    assert m.to_json() == MANIFEST
    assert Manifest.from_json(m.to_json()) == m


def test_canonical_encoding_without_raw() -> None:
    m = Manifest.from_json(MANIFEST)
    assert m.raw == b""
    encoded = m.to_bytes()
    assert encoded.startswith(b'{"schemaVersion":2,"mediaType":')
    assert json.loads(encoded) == MANIFEST
    assert m.digest() == Digest.of_bytes(encoded)


def test_raw_is_not_a_json_key() -> None:
    data = dict(MANIFEST, raw="ignored")
    assert Manifest.from_json(data).raw == b""
    assert "raw" not in Manifest.from_json(MANIFEST).to_json()


def test_image_config_round_trip() -> None:
    raw = pretty(CONFIG)
    cfg = ImageConfig.from_bytes(raw)
    assert cfg.raw == raw
    assert cfg.id() == Digest.of_bytes(raw) == image_id(raw)
    c = cfg.config
    assert c is not None
    assert c.user == "1000:1000" and c.working_dir == "/srv" and c.stop_signal == "SIGQUIT"
    assert c.ports() == ("443/tcp", "80/tcp")
    assert c.volume_paths() == ("/data",)
    assert c.cmd == ("nginx", "-g", "daemon off;") and c.entrypoint == ("/docker-entrypoint.sh",)
    assert c.on_build is None and c.args_escaped is True and c.shell == ("/bin/sh", "-c")
    assert c.healthcheck is not None and c.healthcheck.interval == 30_000_000_000 and c.healthcheck.retries == 3
    assert cfg.rootfs.diff_ids == tuple(Digest.parse(x) for x in (L1, L2, L3))
    assert cfg.history is not None and cfg.history[1].empty_layer is True
    expected = copy.deepcopy(CONFIG)
    del expected["config"]["OnBuild"]  # null is left out on encoding
    assert cfg.to_json() == expected
    assert ImageConfig.from_json(cfg.to_json()) == cfg


def test_chain_ids_by_hand() -> None:
    diff_ids = [Digest.parse(x) for x in (L1, L2, L3)]
    c2 = "sha256:" + hashlib.sha256(f"{L1} {L2}".encode()).hexdigest()
    c3 = "sha256:" + hashlib.sha256(f"{c2} {L3}".encode()).hexdigest()
    assert [str(c) for c in chain_ids(diff_ids)] == [L1, c2, c3]
    assert chain_ids([]) == []
    assert ImageConfig.from_json(CONFIG).chain_ids() == chain_ids(diff_ids)


def test_chain_id_known_value() -> None:
    # Two layers whose diff IDs are the sha256 of empty input and of "a": the chain ID is fixed forever.
    empty = Digest.of_bytes(b"")
    a = Digest.of_bytes(b"a")
    line = b"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 " + (
        b"sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    )
    assert chain_ids([empty, a])[1].hex == hashlib.sha256(line).hexdigest()


def test_index_and_platform() -> None:
    data = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mediatypes.OCI_MANIFEST,
                "digest": L1,
                "size": 7,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8", "os.features": ["x"]},
            }
        ],
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }
    raw = json.dumps(data).encode()
    idx = Index.from_bytes(raw)
    platform = idx.manifests[0].platform
    assert platform is not None and (platform.architecture, platform.variant) == ("arm64", "v8")
    assert platform.os_features == ("x",)
    assert idx.to_json() == data and idx.digest() == Digest.of_bytes(raw)
    assert isinstance(parse_document(raw), Index)
    assert isinstance(parse_document(pretty(MANIFEST)), Manifest)
    assert isinstance(parse_document(raw, mediatypes.OCI_INDEX), Index)


def test_descriptor_from_json() -> None:
    d = Descriptor.from_json({"mediaType": mediatypes.OCI_LAYER_ZSTD, "digest": L1, "size": 0})
    assert d.to_json() == {"mediaType": mediatypes.OCI_LAYER_ZSTD, "digest": L1, "size": 0}
    with pytest.raises(ImageSpecError, match=r"^invalid descriptor `size`: -1 is negative$"):
        Descriptor.from_json({"mediaType": "x", "digest": L1, "size": -1})


def _bad_manifest(mutate: Any) -> dict[str, Any]:
    data = copy.deepcopy(MANIFEST)
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schemaVersion=1), "invalid manifest `schemaVersion`: unsupported schema version 1"),
        (
            lambda d: d.update(mediaType=mediatypes.OCI_INDEX),
            f"invalid manifest `mediaType`: unexpected media type `{mediatypes.OCI_INDEX}`",
        ),
        (lambda d: d.pop("config"), "invalid manifest `config`: required field is missing"),
        (
            lambda d: d["layers"][1].update(digest="sha256:abc"),
            "invalid manifest `layers[1].digest`: `sha256:abc`: invalid checksum digest length",
        ),
        (
            lambda d: d["layers"][0].update(digest="md5:" + "a" * 32),
            "invalid manifest `layers[0].digest`: `md5:" + "a" * 32 + "`: unsupported digest algorithm",
        ),
        (lambda d: d["layers"][0].update(size="12"), "invalid manifest `layers[0].size`: expected an integer"),
        (lambda d: d["config"].update(size=-5), "invalid manifest `config.size`: -5 is negative"),
        (lambda d: d["config"].update(mediaType=""), "invalid manifest `config.mediaType`: must not be empty"),
        (lambda d: d.update(layers={}), "invalid manifest `layers`: expected an array, got an object"),
    ],
)
def test_manifest_errors_name_the_path(mutate: Any, message: str) -> None:
    with pytest.raises(ImageSpecError) as info:
        Manifest.from_bytes(json.dumps(_bad_manifest(mutate)).encode())
    assert str(info.value).startswith(message)
    assert isinstance(info.value, SpecError) and isinstance(info.value, InvalidArgument)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rootfs"].update(type="zfs"), "invalid image config `rootfs.type`: unsupported rootfs type `zfs`"),
        (lambda d: d.pop("rootfs"), "invalid image config `rootfs`: required field is missing"),
        (lambda d: d.update(os=""), "invalid image config `os`: must not be empty"),
        (lambda d: d.update(created="yesterday"), "invalid image config `created`: `yesterday` is not an RFC 3339"),
        (
            lambda d: d["history"][0].update(created="2024-01-02 03:04:05"),
            "invalid image config `history[0].created`: `2024-01-02 03:04:05` is not an RFC 3339 time",
        ),
        (
            lambda d: d["rootfs"]["diff_ids"].append("sha256:XYZ"),
            "invalid image config `rootfs.diff_ids[3]`: `sha256:XYZ`: invalid checksum digest length",
        ),
        (lambda d: d["config"].update(Cmd="nginx"), "invalid image config `config.Cmd`: expected an array"),
        (lambda d: d["config"].update(ExposedPorts={"80/tcp": 1}), "invalid image config `config.ExposedPorts.80/tcp`"),
        (
            lambda d: d["config"]["Healthcheck"].update(Retries=-1),
            "invalid image config `config.Healthcheck.Retries`: -1 is negative",
        ),
    ],
)
def test_config_errors_name_the_path(mutate: Any, message: str) -> None:
    data = copy.deepcopy(CONFIG)
    mutate(data)
    with pytest.raises(ImageSpecError) as info:
        ImageConfig.from_bytes(json.dumps(data).encode())
    assert str(info.value).startswith(message)


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(ImageSpecError, match=r"^invalid manifest `\(root\)`: not valid JSON"):
        Manifest.from_bytes(b"{nope")
    with pytest.raises(ImageSpecError, match=r"^invalid index `\(root\)`: expected an object, got an array$"):
        Index.from_bytes(b"[]")
    with pytest.raises(InvalidArgument, match="^unsupported manifest media type `text/plain`$"):
        parse_document(b"{}", "text/plain")


def test_null_ports_value_is_accepted_like_docker() -> None:
    data = copy.deepcopy(CONFIG)
    data["config"]["ExposedPorts"] = {"53/udp": None}
    cfg = ImageConfig.from_json(data)
    assert cfg.config is not None and cfg.config.ports() == ("53/udp",)


def test_mediatype_predicates() -> None:
    assert mediatypes.is_manifest(mediatypes.OCI_MANIFEST) and mediatypes.is_index(mediatypes.DOCKER_MANIFEST_LIST)
    assert mediatypes.is_config(mediatypes.DOCKER_CONFIG) and not mediatypes.is_config(mediatypes.OCI_MANIFEST)
    assert mediatypes.layer_compression(mediatypes.DOCKER_LAYER_GZIP) == "gzip"
    assert mediatypes.layer_compression(mediatypes.OCI_LAYER_ZSTD) == "zstd"
    assert mediatypes.layer_compression(mediatypes.OCI_LAYER) is None
    assert mediatypes.is_non_distributable(mediatypes.DOCKER_LAYER_FOREIGN_GZIP)
    assert not mediatypes.is_non_distributable(mediatypes.OCI_LAYER_GZIP)
    with pytest.raises(KeyError):
        mediatypes.layer_compression(mediatypes.OCI_CONFIG)
