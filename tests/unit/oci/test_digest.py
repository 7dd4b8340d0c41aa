"""Digests: parsing with go-digest's rules and messages, hashing, the jsonmodel hooks."""

from __future__ import annotations

import ast
import hashlib
import io
import pathlib

import pytest

import dockyard.oci
from dockyard.errors import InvalidArgument, SpecError
from dockyard.oci.digest import Digest, is_digest, new_hasher

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_parse_round_trip() -> None:
    d = Digest.parse(f"sha256:{EMPTY_SHA256}")
    assert (d.algorithm, d.hex) == ("sha256", EMPTY_SHA256)
    assert str(d) == f"sha256:{EMPTY_SHA256}"
    assert d.short() == EMPTY_SHA256[:12]
    assert Digest.parse(str(d)) == d
    assert hash(d) == hash(Digest(algorithm="sha256", hex=EMPTY_SHA256))


def test_sha512_and_sha384() -> None:
    h512 = hashlib.sha512(b"x").hexdigest()
    assert Digest.parse(f"sha512:{h512}").hex == h512
    assert Digest.of_bytes(b"x", "sha512") == Digest.parse(f"sha512:{h512}")
    assert Digest.of_bytes(b"x", "sha384").hex == hashlib.sha384(b"x").hexdigest()


def test_of_bytes_and_stream() -> None:
    assert str(Digest.of_bytes(b"")) == f"sha256:{EMPTY_SHA256}"
    data = b"hello" * 500_000
    assert Digest.of_stream(io.BytesIO(data)) == Digest.of_bytes(data)
    assert Digest.of_bytes(data).hex == hashlib.sha256(data).hexdigest()


def test_hasher_matches_algorithm() -> None:
    d = Digest.of_bytes(b"abc", "sha512")
    h = d.hasher()
    h.update(b"abc")
    assert h.hexdigest() == d.hex


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid checksum digest format"),
        ("sha256", "invalid checksum digest format"),
        ("sha256:", "invalid checksum digest format"),
        (f":{EMPTY_SHA256}", "invalid checksum digest format"),
        (f"sha256:{EMPTY_SHA256.upper()}", "invalid checksum digest format"),
        (f"sha256:{EMPTY_SHA256[:-1]}g", "invalid checksum digest format"),
        (f"sha256:{EMPTY_SHA256[:-1]}", "invalid checksum digest length"),
        (f"sha256:{EMPTY_SHA256}0", "invalid checksum digest length"),
        (f"sha512:{EMPTY_SHA256}", "invalid checksum digest length"),
        (f"md5:{'a' * 32}", "unsupported digest algorithm"),
        (f"sha256+b64u:{'a' * 43}", "unsupported digest algorithm"),
        (f"SHA256:{EMPTY_SHA256}", "invalid checksum digest format"),
        (f"sha 256:{EMPTY_SHA256}", "invalid checksum digest format"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Digest.parse(text)
    assert str(info.value) == message
    assert not is_digest(text)


def test_constructor_validates() -> None:
    with pytest.raises(InvalidArgument, match="^invalid checksum digest length$"):
        Digest(algorithm="sha256", hex="abc")
    with pytest.raises(InvalidArgument, match="^unsupported digest algorithm$"):
        new_hasher("md5")


def test_ordering_is_by_algorithm_then_hex() -> None:
    a = Digest(algorithm="sha256", hex="0" * 64)
    b = Digest(algorithm="sha256", hex="1" * 64)
    assert sorted([b, a]) == [a, b]


def test_json_hooks() -> None:
    d = Digest.of_bytes(b"x")
    assert d.__json_encode__() == str(d)
    assert Digest.__json_decode__(str(d), "config.digest") == d
    with pytest.raises(SpecError) as info:
        Digest.__json_decode__("sha256:zz", "config.digest")
    assert str(info.value) == "invalid config `config.digest`: `sha256:zz`: invalid checksum digest length"
    with pytest.raises(SpecError, match="expected a digest string"):
        Digest.__json_decode__(5, "layers[0].digest")


def test_oci_package_imports_only_errors_oci_and_stdlib() -> None:
    for path in pathlib.Path(dockyard.oci.__path__[0]).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("dockyard"):
                    assert name == "dockyard.errors" or name.startswith("dockyard.oci"), f"{path.name}: {name}"
