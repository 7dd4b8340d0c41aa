"""Which daemon the CLI talks to, resolved like docker: -H, DOCKYARD_HOST, DOCKER_HOST, then the docker context.

Reads environment variables and the docker CLI's context store (~/.docker/contexts/meta/<sha256(name)>/meta.json,
selected by DOCKER_CONTEXT or config.json's `currentContext`); opens no socket. None means: no daemon was
asked for, use the in-process engine.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping

from dockyard.errors import InvalidArgument, NotFound


def docker_config_dir(env: Mapping[str, str]) -> str:
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def current_context(env: Mapping[str, str]) -> str | None:
    """DOCKER_CONTEXT, else `currentContext` in config.json; "default" (docker's built-in) means none."""
    name = env.get("DOCKER_CONTEXT")
    if not name:
        try:
            with open(os.path.join(docker_config_dir(env), "config.json")) as f:
                config = json.load(f)
        except (OSError, ValueError):
            return None
        name = config.get("currentContext") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name and name != "default" else None


def context_host(name: str, env: Mapping[str, str]) -> str:
    """The docker endpoint host of context `name`, from its meta.json."""
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
