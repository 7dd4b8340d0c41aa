"""Image references (`ubuntu`, `localhost:5000/app:dev`, `name@sha256:…`) parsed and normalised as Docker does.

Same grammar, normalisation (docker.io, library/, latest) and error wording as distribution/reference and
go-digest, which the docker CLI and daemon use; messages stay Docker's verbatim because users and scripts
match them. Pure: no I/O, no registry knowledge beyond Docker Hub's default names.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest
from dockyard.oci.model import Model

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

ERR_FORMAT = "invalid reference format"
ERR_TAG_FORMAT = "invalid tag format"
ERR_UPPERCASE = "repository name must be lowercase"
ERR_EMPTY = "repository name must have at least one component"
ERR_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"

# The grammar of distribution/reference (regexp.go). Two deliberate rewrites for Python's backtracking
# engine, same language: the separator `[-]*` becomes `-+` (an empty separator only glues two alphanumeric
# runs, which `[a-z0-9]+` already matches) so a long invalid name cannot backtrack exponentially; `\w` and
# [[:xdigit:]] are spelled out in ASCII, as Go's RE2 reads them.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_AND_PORT = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

_REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_NAME_RE = re.compile(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})", re.ASCII)
_TAG_RE = re.compile(_TAG, re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}", re.ASCII)


def _fullmatch(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    # fullmatch, never `$`: Python's `$` also matches before a trailing newline.
    return pattern.fullmatch(text)


class Reference(Model):
    """A parsed reference: `domain` (may be empty for un-normalised input), `path`, optional tag and digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """`domain/path`, e.g. `docker.io/library/ubuntu`."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def string(self) -> str:
        """The full form: `docker.io/library/ubuntu:latest`, `name@sha256:…`, `name:tag@sha256:…`."""
        return self.name + self._suffix()

    def familiar_name(self) -> str:
        """The name `docker images` shows: `ubuntu`, `user/app`, `localhost:5000/myapp`."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_REPO_PREFIX):
            rest = self.path[len(OFFICIAL_REPO_PREFIX) :]
            if "/" not in rest:
                return rest
        return self.path

    def familiar_string(self) -> str:
        """The familiar name with its tag and digest: `ubuntu:latest`."""
        return self.familiar_name() + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag is not None else ""
        return out + (f"@{self.digest}" if self.digest is not None else "")

    def with_tag(self, tag: str) -> Reference:
        """The same name with `tag` (any digest kept), validating the tag (`invalid tag format`)."""
        if not _fullmatch(_TAG_RE, tag):
            raise InvalidArgument(ERR_TAG_FORMAT)
        return Reference(domain=self.domain, path=self.path, tag=tag, digest=self.digest)

    def with_digest(self, digest: Digest) -> Reference:
        return Reference(domain=self.domain, path=self.path, tag=self.tag, digest=digest)

    def trim(self) -> Reference:
        """The name alone, without tag or digest."""
        return Reference(domain=self.domain, path=self.path)

    def __str__(self) -> str:
        return self.string()


def parse(text: str) -> Reference:
    """Parse `text` syntactically without normalising (distribution/reference Parse); needs a name."""
    if text == "":
        raise InvalidArgument(ERR_EMPTY)
    m = _fullmatch(_REFERENCE_RE, text)
    if m is None:
        lower = text.lower()
        if lower != text and _fullmatch(_REFERENCE_RE, lower):
            raise InvalidArgument(ERR_UPPERCASE)
        raise InvalidArgument(ERR_FORMAT)
    name, tag, digest_text = m.group(1), m.group(2), m.group(3)
    nm = _fullmatch(_NAME_RE, name)
    domain, path = (nm.group(1) or "", nm.group(2)) if nm else ("", name)
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(ERR_TOO_LONG)
    digest = Digest.parse(digest_text) if digest_text else None
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def split_docker_domain(name: str) -> tuple[str, str]:
    """Split a familiar name into (domain, remainder), applying docker.io and library/ defaults."""
    maybe_domain, slash, maybe_remote = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == "localhost":
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain.lower() != maybe_domain:
        # Namespaces cannot hold uppercase, so Docker takes an uppercase first element for a domain.
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def parse_normalized_named(text: str) -> Reference:
    """Parse a name as typed by a user (`ubuntu`, `user/app:1`), filling in docker.io and library/.

    No default tag is added (ParseNormalizedNamed); see `normalize` for that.
    """
    if _fullmatch(_IDENTIFIER_RE, text):
        raise InvalidArgument(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = split_docker_domain(text)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        raise InvalidArgument(f"{ERR_FORMAT}: repository name ({remote}) must be lowercase")
    return parse(f"{domain}/{remainder}")


def normalize(text: str) -> Reference:
    """`ubuntu` → docker.io/library/ubuntu:latest; a tag and a digest given together are both kept."""
    ref = parse_normalized_named(text)
    if ref.tag is None and ref.digest is None:
        return ref.with_tag(DEFAULT_TAG)
    return ref


def parse_docker_ref(text: str) -> Reference:
    """Like `normalize`, but `name:tag@digest` keeps only the digest (ParseDockerRef, what pull resolves)."""
    ref = parse_normalized_named(text)
    if ref.digest is not None:
        return Reference(domain=ref.domain, path=ref.path, digest=ref.digest)
    return ref if ref.tag is not None else ref.with_tag(DEFAULT_TAG)


def parse_any(text: str) -> Reference | Digest:
    """An image ID (64 hex), a full digest, or a familiar name (ParseAnyReference): what `docker run X` takes."""
    if _fullmatch(_IDENTIFIER_RE, text):
        return Digest(algorithm="sha256", hex=text)
    try:
        return Digest.parse(text)
    except InvalidArgument:
        return parse_normalized_named(text)


def validate_tag(tag: str) -> str:
    """Check a bare tag (`docker tag SRC NAME:TAG`); raises `invalid tag format`."""
    if not _fullmatch(_TAG_RE, tag):
        raise InvalidArgument(ERR_TAG_FORMAT)
    return tag
