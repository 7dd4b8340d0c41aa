"""`--change` for `import` (and `commit`): Dockerfile instructions applied to an image's container config.

Like Docker's BuildFromConfig, the changes are joined by newlines and read as a Dockerfile (comments, `\\`
continuations, JSON or shell form); only CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL,
USER, VOLUME and WORKDIR are allowed, anything else is `run is not a valid change command`. Environment
variables expand in ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR as in a build. Pure: no I/O.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.image.transfer.words import expand, split_words
from dockyard.oci.image_spec import ContainerConfig, EmptyObject, HealthConfig
from dockyard.oci.model import replace

VALID = ("cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal", "user", "volume",
         "workdir")  # fmt: skip
_PORT = re.compile(r"(\d+)(?:-(\d+))?(?:/([a-zA-Z]+))?")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000}  # fmt: skip


def instructions(changes: Sequence[str]) -> list[tuple[str, str]]:
    """(lower-case instruction, rest of the line) per logical line; comments and blank lines are skipped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in "\n".join(changes).split("\n"):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = (pending + stripped).strip()
        pending = ""
        if text:
            keyword, _, rest = text.partition(" ")
            out.append((keyword.lower(), rest.strip()))
    if pending.strip():
        keyword, _, rest = pending.strip().partition(" ")
        out.append((keyword.lower(), rest.strip()))
    return out


def _json_or_shell(rest: str) -> tuple[list[str], bool]:
    """(words, is_json): a JSON array of strings (exec form), else the whole text (shell form)."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value, True
    return [rest], False


def _command(rest: str) -> tuple[str, ...]:
    words, is_json = _json_or_shell(rest)
    if is_json:
        return tuple(words)
    return ("/bin/sh", "-c", rest) if rest else ()


def _pairs(keyword: str, rest: str, env: dict[str, str]) -> list[tuple[str, str]]:
    """`k=v k2="v 2"` or the legacy `k v with spaces` (one pair), as Docker's parseNameVal reads them."""
    words = split_words(rest)
    if not words:
        raise InvalidArgument(f"{keyword.upper()} requires at least one argument")
    if "=" not in words[0]:
        if len(words) < 2:
            raise InvalidArgument(f"{keyword.upper()} must have two arguments")
        key, _, value = rest.partition(" ")
        return [(key, expand(" ".join(split_words(value.strip())), env))]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not key:
            raise InvalidArgument(f"{keyword.upper()} names can not be blank")
        if not sep:
            raise InvalidArgument(f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value')
        out.append((expand(key, env), expand(value, env)))
    return out


def _env_dict(config: ContainerConfig) -> dict[str, str]:
    return dict(entry.partition("=")[::2] for entry in config.env or ())


def _expose(rest: str, env: dict[str, str]) -> dict[str, EmptyObject | None]:
    ports: dict[str, EmptyObject | None] = {}
    for word in split_words(rest):
        spec = expand(word, env)
        m = _PORT.fullmatch(spec)
        if m is None:
            raise InvalidArgument(f"invalid containerPort: {spec.partition('/')[0]}")
        start, end, proto = int(m.group(1)), int(m.group(2) or m.group(1)), (m.group(3) or "tcp").lower()
        if end < start or end > 65535:
            raise InvalidArgument(f"invalid containerPort: {spec.partition('/')[0]}")
        for port in range(start, end + 1):
            ports[f"{port}/{proto}"] = EmptyObject()
    return ports


def _duration(flag: str, text: str) -> int:
    pos, total = 0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += int(float(m.group(1)) * _UNITS[m.group(2)])
        pos = m.end()
    if pos != len(text) or not text:
        raise InvalidArgument(f'time: invalid duration "{text}" for --{flag}')
    return total


def _healthcheck(rest: str) -> HealthConfig:
    words = rest.split()
    fields: dict[str, Any] = {}
    names = {"interval": "interval", "timeout": "timeout", "start-period": "start_period",
             "start-interval": "start_interval"}  # fmt: skip
    while words and words[0].startswith("--"):
        flag, _, value = words.pop(0)[2:].partition("=")
        if flag in names:
            fields[names[flag]] = _duration(flag, value)
        elif flag == "retries":
            if not value.isdigit():
                raise InvalidArgument(f'invalid value "{value}" for --retries')
            fields["retries"] = int(value)
        else:
            raise InvalidArgument(f"unknown flag: {flag}")
    kind = words[0].upper() if words else ""
    if kind == "NONE":
        return HealthConfig(test=("NONE",))
    if kind != "CMD":
        raise InvalidArgument(f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
    text = rest[rest.upper().index("CMD") + 3 :].strip()
    words_, is_json = _json_or_shell(text)
    test = ("CMD", *words_) if is_json else ("CMD-SHELL", text)
    return HealthConfig(test=test, **fields)


def apply_changes(config: ContainerConfig, changes: Sequence[str]) -> ContainerConfig:
    """`config` with the instructions of `changes` applied in order."""
    steps = instructions(changes)
    for keyword, _rest in steps:
        if keyword not in VALID:
            raise InvalidArgument(f"{keyword} is not a valid change command")
    cmd_set = False
    for keyword, rest in steps:
        env = _env_dict(config)
        update: dict[str, Any] = {}
        if keyword == "cmd":
            update["cmd"], cmd_set = _command(rest) or None, True
        elif keyword == "entrypoint":
            update["entrypoint"] = _command(rest) or None
            if not cmd_set:
                update["cmd"] = None
        elif keyword in ("env", "label"):
            pairs = _pairs(keyword, rest, env)
            if keyword == "env":
                merged = {**env, **dict(pairs)}
                update["env"] = tuple(f"{k}={v}" for k, v in merged.items())
            else:
                update["labels"] = {**(config.labels or {}), **dict(pairs)}
        elif keyword == "expose":
            update["exposed_ports"] = {**(config.exposed_ports or {}), **_expose(rest, env)}
        elif keyword == "volume":
            update["volumes"] = {**(config.volumes or {}), **_volumes(rest, env)}
        elif keyword == "workdir":
            path = expand(rest, env)
            update["working_dir"] = posixpath.normpath(posixpath.join(config.working_dir or "/", path))
        elif keyword == "user":
            update["user"] = expand(rest, env)
        elif keyword == "stopsignal":
            update["stop_signal"] = expand(rest, env)
        elif keyword == "onbuild":
            update["on_build"] = (*(config.on_build or ()), _onbuild(rest))
        elif keyword == "healthcheck":
            update["healthcheck"] = _healthcheck(rest)
        config = replace(config, **update)
    return config


def _volumes(rest: str, env: dict[str, str]) -> dict[str, EmptyObject | None]:
    words, is_json = _json_or_shell(rest)
    paths = words if is_json else split_words(rest)
    out: dict[str, EmptyObject | None] = {}
    for path in paths:
        path = expand(path.strip(), env)
        if not path:
            raise InvalidArgument("VOLUME specified can not be an empty string")
        out[path] = EmptyObject()
    return out


def _onbuild(rest: str) -> str:
    trigger, _, args = rest.partition(" ")
    upper = trigger.upper()
    if upper == "ONBUILD":
        raise InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if upper in ("FROM", "MAINTAINER"):
        raise InvalidArgument(f"{upper} isn't allowed as an ONBUILD trigger")
    return f"{upper} {args.strip()}".strip()
