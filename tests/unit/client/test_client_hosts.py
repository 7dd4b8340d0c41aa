"""client/hosts.py: -H, DOCKYARD_HOST, DOCKER_HOST and docker contexts, in docker's order."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dockyard.client.hosts import resolve_host
from dockyard.errors import InvalidArgument, NotFound


def _context(config: Path, name: str, host: str | None) -> None:
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    endpoints = {"docker": {"Host": host, "SkipTLSVerify": False}} if host else {}
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": endpoints}))


def test_order_is_flag_then_dockyard_host_then_docker_host(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKYARD_HOST": "unix:///a.sock", "DOCKER_HOST": "unix:///b.sock"}
    assert resolve_host("unix:///flag.sock", env) == "unix:///flag.sock"
    assert resolve_host(None, env) == "unix:///a.sock"
    assert resolve_host(None, {**env, "DOCKYARD_HOST": ""}) == "unix:///b.sock"


def test_nothing_set_means_in_process(tmp_path: Path) -> None:
    assert resolve_host(None, {"DOCKER_CONFIG": str(tmp_path)}) is None


def test_current_context_from_config_json(tmp_path: Path) -> None:
    _context(tmp_path, "yard", "unix:///run/dockyard.sock")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "yard"}))
    assert resolve_host(None, {"DOCKER_CONFIG": str(tmp_path)}) == "unix:///run/dockyard.sock"
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "default"}))
    assert resolve_host(None, {"DOCKER_CONFIG": str(tmp_path)}) is None


def test_docker_context_env_wins_over_config_but_not_over_docker_host(tmp_path: Path) -> None:
    _context(tmp_path, "other", "unix:///other.sock")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "default"}))
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "other"}
    assert resolve_host(None, env) == "unix:///other.sock"
    assert resolve_host(None, {**env, "DOCKER_HOST": "unix:///h.sock"}) == "unix:///h.sock"


def test_unknown_or_broken_context_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as missing:
        resolve_host(None, {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "nope"})
    assert missing.value.message == "context `nope`: not found"
    _context(tmp_path, "empty", None)
    with pytest.raises(InvalidArgument) as empty:
        resolve_host(None, {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "empty"})
    assert empty.value.message == "context `empty`: no docker endpoint host"
