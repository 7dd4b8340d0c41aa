"""Which daemon the CLI talks to, resolved like docker: -H, DOCKYARD_HOST, DOCKER_HOST, the docker context, then
the default socket /run/dockyard.sock when a daemon listens there; with none of them, the in-process engine.

Reads environment variables and the docker CLI's context store (~/.docker/contexts/meta/<sha256(name)>/meta.json,
selected by DOCKER_CONTEXT or config.json's `currentContext`). The default socket is only tried when no private
data root was asked for (--data-root / DOCKYARD_DATA_ROOT other than /var/lib/dockyard): it costs one stat() when
there is no socket, and one connect() when there is. Also the TLS settings of a tcp:// host (flags, then
DOCKER_TLS_VERIFY / DOCKER_CERT_PATH).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.errors import InvalidArgument, NotFound
from dockyard.paths import DEFAULT_DATA_ROOT, DEFAULT_SOCKET


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSOptions:
    """docker's --tls/--tlsverify/--tlscacert/--tlscert/--tlskey; empty paths are filled from DOCKER_CERT_PATH."""

    enabled: bool = False
    verify: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


def docker_config_dir(env: Mapping[str, str]) -> str:
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def current_context(env: Mapping[str, str]) -> str | None:
    """DOCKER_CONTEXT, else `currentContext` in config.json; "default" (docker's built-in) means none."""
    name = env.get("DOCKER_CONTEXT")
    if not name:
        import json

        try:
            with open(os.path.join(docker_config_dir(env), "config.json")) as f:
                config = json.load(f)
        except (OSError, ValueError):
            return None
        name = config.get("currentContext") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name and name != "default" else None


def context_host(name: str, env: Mapping[str, str]) -> str:
    """The docker endpoint host of context `name`, from its meta.json."""
    import hashlib
    import json

    digest = hashlib.sha256(name.encode()).hexdigest()
    path = os.path.join(docker_config_dir(env), "contexts", "meta", digest, "meta.json")
    try:
        with open(path) as f:
            meta = json.load(f)
    except FileNotFoundError as err:
        raise NotFound(f"context `{name}`: not found") from err
    except (OSError, ValueError) as err:
        raise InvalidArgument(f"context `{name}`: unreadable {path}: {err}") from err
    host = meta.get("Endpoints", {}).get("docker", {}).get("Host") if isinstance(meta, dict) else None
    if not isinstance(host, str) or not host:
        raise InvalidArgument(f"context `{name}`: no docker endpoint host")
    return host


def resolve_host(explicit: str | None, env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    host = explicit or env.get("DOCKYARD_HOST") or env.get("DOCKER_HOST")
    if host:
        return host
    context = current_context(env)
    return context_host(context, env) if context else None


def default_daemon(
    data_root: str | None, env: Mapping[str, str] | None = None, socket_path: str = DEFAULT_SOCKET
) -> str | None:
    """`unix:///run/dockyard.sock` when no private data root was asked for and a daemon accepts a connection there.

    Like docker's default socket, except that without a daemon the CLI runs the engine in-process (None)."""
    env = os.environ if env is None else env
    root = data_root or env.get("DOCKYARD_DATA_ROOT")
    if root and os.path.normpath(root) != DEFAULT_DATA_ROOT:
        return None
    try:
        if not stat.S_ISSOCK(os.stat(socket_path).st_mode):
            return None
    except OSError:
        return None
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(socket_path)
        except OSError:
            return None  # a stale socket file: no daemon behind it
    return f"unix://{socket_path}"


def resolve_tls(flags: TLSOptions | None, env: Mapping[str, str] | None = None) -> TLSOptions | None:
    """The TLS settings for a tcp:// host, or None for plain HTTP; like docker, DOCKER_TLS_VERIFY (any non-empty
    value) turns on verification and DOCKER_CERT_PATH (default ~/.docker) holds ca.pem, cert.pem, key.pem."""
    env = os.environ if env is None else env
    flags = flags or TLSOptions()
    verify = flags.verify or bool(env.get("DOCKER_TLS_VERIFY"))
    if not (flags.enabled or verify):
        return None
    cert_dir = env.get("DOCKER_CERT_PATH") or docker_config_dir(env)

    def pick(given: str | None, name: str) -> str | None:
        if given:
            return given
        path = os.path.join(cert_dir, name)
        return path if os.path.exists(path) else None

    return TLSOptions(enabled=True, verify=verify, ca=pick(flags.ca, "ca.pem"), cert=pick(flags.cert, "cert.pem"),
                      key=pick(flags.key, "key.pem"))  # fmt: skip
