"""`docker commit`: a new image from a container — its image plus one layer holding the container's changes, with
the container's config (and the `--change` Dockerfile instructions) as the image's defaults.

The layer is the overlay upper directory as a tar (image.layerdiff), or, for a copying snapshotter, the changed
paths of the container's tree; it goes into the content store and the image through the store's `add`. The
container is frozen meanwhile when asked (Docker's --pause, on by default). Never changes the container.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from dockyard.engine import events
from dockyard.engine.changes import DELETED, Layers, container_layers, tree_changes
from dockyard.engine.records import now
from dockyard.errors import Conflict, InvalidArgument
from dockyard.oci.image_spec import ContainerConfig, History
from dockyard.oci.model import replace

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.records import ContainerRecord

CHANGE_COMMANDS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR",
                   "STOPSIGNAL")  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitOptions:
    repo: str = ""  # `name[:tag]`, "" for an untagged image
    author: str = ""
    comment: str = ""
    changes: tuple[str, ...] = ()
    pause: bool = True


def commit(containers: Containers, ref: str, options: CommitOptions) -> str:
    """Commit the container `ref`; returns the new image id (`sha256:…`)."""
    from dockyard.image.mutate import Built, append_layer, set_config, store_layer

    record = containers.get(ref)
    if record.state.status in ("removing", "dead"):
        raise Conflict(f"cannot commit container {record.id}: container is marked for removal")
    config = apply_changes(container_config(record), options.changes)
    image = containers.images.get(record.image_id)
    with containers.images.lease(), tempfile.TemporaryFile(dir=containers.paths.data_root) as layer:
        with _paused(containers, record, options.pause):
            write_layer(container_layers(containers, record), layer)
        layer.seek(0)
        descriptor, diff_id = store_layer(containers.images.content, layer, docker=True)
        created = now()
        history = History(created=created, created_by=" ".join(record.config.cmd), author=options.author or None,
                          comment=options.comment or None)  # fmt: skip
        built = append_layer(Built(manifest=image.manifest, config=image.config), descriptor, diff_id, history)
        built = set_config(built, container=config, created=created, author=options.author or None)
        names = [options.repo] if options.repo else []
        stored = containers.images.add(built.manifest_raw, built.config_raw, names)
    attrs = {"comment": options.comment, "imageID": str(stored.id)}
    if options.author:
        attrs["author"] = options.author
    events.emit_container(containers.paths, record, "commit", **attrs)
    return str(stored.id)


@contextlib.contextmanager
def _paused(containers: Containers, record: ContainerRecord, pause: bool) -> Iterator[None]:
    running = record.state.status == "running" and not record.state.paused
    if not (pause and running):
        yield
        return
    base = [containers.runtime_binary, "--root", containers.paths.runtime_root]
    frozen = subprocess.run([*base, "pause", record.id], capture_output=True, check=False).returncode == 0
    try:
        yield
    finally:
        if frozen:
            subprocess.run([*base, "resume", record.id], capture_output=True, check=False)


def write_layer(layers: Layers, out: BinaryIO) -> None:
    """The container's changes as a layer tar (whiteouts for deletions)."""
    from dockyard.image.layerdiff import diff_layer

    if layers.upper is not None:
        diff_layer(list(layers.lowers), layers.upper, out)
        return
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if layers.tree is None:
            return
        for change in sorted(tree_changes(layers.lowers[0] if layers.lowers else "", layers.tree),
                             key=lambda c: c.path):  # fmt: skip
            rel = change.path.lstrip("/")
            if change.kind == DELETED:
                head, _, name = rel.rpartition("/")
                tar.addfile(tarfile.TarInfo(f"{head}/.wh.{name}" if head else f".wh.{name}"))
                continue
            full = os.path.join(layers.tree, rel)
            info = tar.gettarinfo(full, arcname=rel)
            if stat.S_ISREG(os.lstat(full).st_mode):
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            elif not stat.S_ISSOCK(os.lstat(full).st_mode):
                tar.addfile(info)


def container_config(record: ContainerRecord) -> ContainerConfig:
    c = record.config
    return ContainerConfig(
        user=c.user or None,
        env=tuple(c.env) or None,
        entrypoint=tuple(c.entrypoint) or None,
        cmd=tuple(c.cmd) or None,
        working_dir=c.working_dir or None,
        labels=dict(c.labels) if c.labels else None,
        stop_signal=c.stop_signal or None,
    )


def apply_changes(config: ContainerConfig, changes: Sequence[str]) -> ContainerConfig:
    """Apply `--change` Dockerfile instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR…)."""
    for change in changes:
        line = change.strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        command = word.upper()
        if command not in CHANGE_COMMANDS:
            raise InvalidArgument(f"{word.lower()} is not a valid change command")
        rest = rest.strip()
        config = _apply(config, command, rest)
    return config


def _apply(config: ContainerConfig, command: str, rest: str) -> ContainerConfig:
    if command in ("CMD", "ENTRYPOINT"):
        argv = _exec_form(rest)
        return replace(config, cmd=argv) if command == "CMD" else replace(config, entrypoint=argv)
    if command == "ENV":
        env = list(config.env or ())
        for key, value in _pairs(rest, "ENV"):
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        return replace(config, env=tuple(env))
    if command == "LABEL":
        return replace(config, labels={**(config.labels or {}), **dict(_pairs(rest, "LABEL"))})
    if command == "EXPOSE":
        ports = dict(config.exposed_ports or {})
        for port in rest.split():
            ports[port if "/" in port else f"{port}/tcp"] = None
        return replace(config, exposed_ports=ports)
    if command == "VOLUME":
        paths = _exec_form(rest) if rest.startswith("[") else tuple(rest.split())
        return replace(config, volumes={**(config.volumes or {}), **dict.fromkeys(paths)})
    if command == "ONBUILD":
        return replace(config, on_build=(*(config.on_build or ()), rest))
    if command == "STOPSIGNAL":
        return replace(config, stop_signal=rest)
    return replace(config, user=rest) if command == "USER" else replace(config, working_dir=rest)


def _exec_form(text: str) -> tuple[str, ...]:
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    return ("/bin/sh", "-c", text)


def _pairs(text: str, command: str) -> list[tuple[str, str]]:
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise InvalidArgument(f"{command}: {err}") from err
    if not words:
        raise InvalidArgument(f"{command} requires at least one argument")
    if "=" not in words[0]:
        if len(words) < 2 and command == "ENV":
            raise InvalidArgument(f"{command} must have two arguments")
        return [(words[0], " ".join(words[1:]))]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not re.fullmatch(r"[^\s]+", key):
            raise InvalidArgument(f"{command} names can not be blank" if not key else f"{command}: bad pair `{word}`")
        out.append((key, value))
    return out
