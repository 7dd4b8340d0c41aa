"""Image references: Docker's normalisation and error wording, case by case (distribution/reference's tables)."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest
from dockyard.oci.reference import (
    Reference,
    normalize,
    parse,
    parse_any,
    parse_docker_ref,
    parse_normalized_named,
    validate_tag,
)

H = "a" * 64
F = "f" * 64
D = f"sha256:{H}"
S512 = "sha512:" + "f" * 128

# input, full string after `normalize`, familiar name (what `docker images` shows)
VALID = [
    ("ubuntu", "docker.io/library/ubuntu:latest", "ubuntu"),
    ("ubuntu:22.04", "docker.io/library/ubuntu:22.04", "ubuntu"),
    ("user/app", "docker.io/user/app:latest", "user/app"),
    ("library/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu"),
    ("docker.io/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu"),
    ("docker.io/library/ubuntu:1", "docker.io/library/ubuntu:1", "ubuntu"),
    ("index.docker.io/debian", "docker.io/library/debian:latest", "debian"),
    ("index.docker.io/docker/docker", "docker.io/docker/docker:latest", "docker/docker"),
    ("library/foo/bar", "docker.io/library/foo/bar:latest", "library/foo/bar"),
    ("store/foo/bar", "docker.io/store/foo/bar:latest", "store/foo/bar"),
    ("other/library", "docker.io/other/library:latest", "other/library"),
    ("localhost:5000/myapp:dev", "localhost:5000/myapp:dev", "localhost:5000/myapp"),
    ("localhost/foo", "localhost/foo:latest", "localhost/foo"),
    ("localhost", "docker.io/library/localhost:latest", "localhost"),
    ("localhost:5000", "docker.io/library/localhost:5000", "localhost"),
    ("gcr.io/p/app", "gcr.io/p/app:latest", "gcr.io/p/app"),
    ("example.com/privatebase", "example.com/privatebase:latest", "example.com/privatebase"),
    (
        "example.com:8000/private/moonbase",
        "example.com:8000/private/moonbase:latest",
        "example.com:8000/private/moonbase",
    ),
    ("test_com/foo", "docker.io/test_com/foo:latest", "test_com/foo"),
    ("test-com:8080/foo", "test-com:8080/foo:latest", "test-com:8080/foo"),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage"),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io/test.example.com/my-app",
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com/bar/baz/quux",
    ),
    ("127.0.0.1:5000/debian", "127.0.0.1:5000/debian:latest", "127.0.0.1:5000/debian"),
    ("192.168.1.1/repo", "192.168.1.1/repo:latest", "192.168.1.1/repo"),
    ("192.168.0.1", "docker.io/library/192.168.0.1:latest", "192.168.0.1"),
    ("192.168.0.1:80", "docker.io/library/192.168.0.1:80", "192.168.0.1"),
    ("[::1]:5000/foo", "[::1]:5000/foo:latest", "[::1]:5000/foo"),
    ("[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker:latest", "[fc00::1]:5000/docker/docker"),
    ("[2001:db8::1]/repo:tag", "[2001:db8::1]/repo:tag", "[2001:db8::1]/repo"),
    ("Foo/bar", "Foo/bar:latest", "Foo/bar"),
    ("DOCKER/docker", "DOCKER/docker:latest", "DOCKER/docker"),
    ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "lowercase"),
    ("docker---rules/docker", "docker.io/docker---rules/docker:latest", "docker---rules/docker"),
    ("dock__er/docker", "docker.io/dock__er/docker:latest", "dock__er/docker"),
    ("d/docker", "docker.io/d/docker:latest", "d/docker"),
    ("ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base:latest", "ubuntu-12.04-base"),
    ("a" * 63, f"docker.io/library/{'a' * 63}:latest", "a" * 63),
    (f"docker.io/{H}", f"docker.io/library/{H}:latest", H),
    ("foo:" + "t" * 128, "docker.io/library/foo:" + "t" * 128, "foo"),
    ("foo:_x", "docker.io/library/foo:_x", "foo"),
    (f"ubuntu@{D}", f"docker.io/library/ubuntu@{D}", "ubuntu"),
    (f"ubuntu:22.04@{D}", f"docker.io/library/ubuntu:22.04@{D}", "ubuntu"),
    (f"test:5000/repo@sha256:{F}", f"test:5000/repo@sha256:{F}", "test:5000/repo"),
    (f"xn--7o8h.com/myimage:xn--7o8h.com@{S512}", f"xn--7o8h.com/myimage:xn--7o8h.com@{S512}", "xn--7o8h.com/myimage"),
    (f"sha256:{H}", f"docker.io/library/sha256:{H}", "sha256"),
]

UPPER = "invalid reference format: repository name ({}) must be lowercase"

INVALID = [
    ("", "invalid reference format"),
    ("Ubuntu", UPPER.format("library/Ubuntu")),
    ("UPPERCASE:tag", UPPER.format("library/UPPERCASE")),
    ("docker/Docker", UPPER.format("docker/Docker")),
    ("docker.io/docker/Docker", UPPER.format("docker/Docker")),
    ("test:5000/Uppercase/lowercase:tag", UPPER.format("Uppercase/lowercase")),
    ("localhost:5000/MyApp", UPPER.format("MyApp")),
    (f"foo@SHA256:{H}", UPPER.format("library/foo@SHA256")),
    ("foo//bar", "invalid reference format"),
    ("docker///docker", "invalid reference format"),
    ("docker.io/docker///docker", "invalid reference format"),
    ("foo:", "invalid reference format"),
    ("foo:bar:baz", "invalid reference format"),
    (":5000", "invalid reference format"),
    (":justtag", "invalid reference format"),
    (f"@{D}", "invalid reference format"),
    ("foo@", "invalid reference format"),
    ("foo@latest", "invalid reference format"),
    ("docker/", "invalid reference format"),
    ("/foo", "invalid reference format"),
    ("-docker", "invalid reference format"),
    ("-docker/docker", "invalid reference format"),
    ("docker-/docker", "invalid reference format"),
    ("____/____", "invalid reference format"),
    ("_docker/_docker", "invalid reference format"),
    ("dock..er/docker", "invalid reference format"),
    ("dock_.er/docker", "invalid reference format"),
    ("dock-.er/docker", "invalid reference format"),
    ("aa/asdf$$^/aa", "invalid reference format"),
    ("https://github.com/docker/docker", "invalid reference format"),
    ("foo bar", "invalid reference format"),
    ("foo\n", "invalid reference format"),
    ("foo:-tag", "invalid reference format"),
    ("foo:.", "invalid reference format"),
    ("foo:" + "t" * 129, "invalid reference format"),
    ("[fc00::1]:5000", "invalid reference format"),
    ("[2001:db8::1]:tag", "invalid reference format"),
    ("fc00::1:5000/debian", "invalid reference format"),
    ("[fe80::1%eth0]:5000/debian", "invalid reference format"),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", "invalid reference format"),
    ("ubuntu:ü", "invalid reference format"),
    (H, f"invalid repository name ({H}), cannot specify 64-byte hexadecimal strings"),
    ("a" * 256, "repository name must not be more than 255 characters"),
    ("x" * 248, "repository name must not be more than 255 characters"),
    ("a/" * 128 + "a:tag", "repository name must not be more than 255 characters"),
    ("foo@sha256:" + "A" * 64, "invalid checksum digest format"),
    ("foo@sha256:" + "a" * 32, "invalid checksum digest length"),
    ("repo@sha256:" + "f" * 34, "invalid checksum digest length"),
    ("foo@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("validname@invaliddigest:" + F, "unsupported digest algorithm"),
]


def test_tables_are_large() -> None:
    assert len(VALID) + len(INVALID) >= 60


def _split(full: str) -> tuple[str, str, str | None, str | None]:
    """domain, path, tag, digest of a normalised string, by plain string splitting."""
    name_tag, at, digest = full.partition("@")
    domain, _slash, rest = name_tag.partition("/")
    path, colon, tag = rest.partition(":")
    return domain, path, tag if colon else None, digest if at else None


@pytest.mark.parametrize(("text", "full", "familiar"), VALID)
def test_normalize_valid(text: str, full: str, familiar: str) -> None:
    ref = normalize(text)
    assert ref.string() == full
    assert str(ref) == full
    assert ref.familiar_name() == familiar
    domain, path, tag, digest = _split(full)
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert (str(ref.digest) if ref.digest else None) == digest
    assert ref.name == f"{domain}/{path}"
    # The normalised form is a fixed point.
    assert normalize(full) == ref


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_normalize_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        normalize(text)
    assert str(info.value) == message


def test_named_only_has_no_default_tag() -> None:
    ref = parse_normalized_named("redis")
    assert ref.tag is None and ref.string() == "docker.io/library/redis"
    assert ref.familiar_string() == "redis"


def test_familiar_string_keeps_tag_and_digest() -> None:
    ref = normalize(f"busybox:latest@{D}")
    assert ref.familiar_string() == f"busybox:latest@{D}"
    assert normalize("docker.io/library/redis:7").familiar_string() == "redis:7"


def test_parse_docker_ref_drops_tag_when_digested() -> None:
    ref = parse_docker_ref(f"docker.io/library/busybox:latest@{D}")
    assert ref.string() == f"docker.io/library/busybox@{D}"
    assert parse_docker_ref("busybox").string() == "docker.io/library/busybox:latest"
    assert parse_docker_ref("busybox:1").string() == "docker.io/library/busybox:1"


def test_parse_any_accepts_ids_and_digests() -> None:
    assert parse_any(H) == Digest(algorithm="sha256", hex=H)
    assert parse_any(D) == Digest.parse(D)
    named = parse_any("redis:latest")
    assert isinstance(named, Reference) and named.string() == "docker.io/library/redis:latest"
    short = parse_any("dbcc1")
    assert isinstance(short, Reference) and short.path == "library/dbcc1"


def test_parse_without_normalising() -> None:
    ref = parse("test.com:5000")
    assert (ref.domain, ref.path, ref.tag) == ("", "test.com", "5000")
    ref = parse("foo/foo_bar.com:8080")
    assert (ref.domain, ref.path, ref.tag) == ("foo", "foo_bar.com", "8080")
    assert parse("a/" * 127 + "a:x").domain == "a"
    with pytest.raises(InvalidArgument, match="^repository name must have at least one component$"):
        parse("")
    with pytest.raises(InvalidArgument, match="^repository name must be lowercase$"):
        parse("Uppercase:tag")


def test_with_tag_validates() -> None:
    ref = normalize("busybox")
    assert ref.with_tag("v1").string() == "docker.io/library/busybox:v1"
    assert ref.trim().string() == "docker.io/library/busybox"
    with pytest.raises(InvalidArgument, match="^invalid tag format$"):
        ref.with_tag("-foo")
    with pytest.raises(InvalidArgument, match="^invalid tag format$"):
        validate_tag("a" * 129)
    assert validate_tag("a" * 128) == "a" * 128


def test_long_invalid_names_fail_fast() -> None:
    # Inputs that would backtrack exponentially under the literal grammar; they must simply be rejected.
    for text in ("a" + "-a" * 3000 + "!", "a" * 5000 + "!", "a." * 3000 + "/b!"):
        with pytest.raises(InvalidArgument, match="^invalid reference format$"):
            normalize(text)
