"""client/hosts.py: -H, DOCKYARD_HOST, DOCKER_HOST and docker contexts, in docker's order."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest

from dockyard.client.hosts import TLSOptions, default_daemon, resolve_host, resolve_tls
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


def _listening(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(4)
    return sock


def test_default_daemon_is_used_when_its_socket_accepts(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    assert default_daemon(None, {}, path) is None  # no socket: in-process
    with _listening(path):
        assert default_daemon(None, {}, path) == f"unix://{path}"
        assert default_daemon("/var/lib/dockyard/", {}, path) == f"unix://{path}"
        assert default_daemon(None, {"DOCKYARD_DATA_ROOT": "/var/lib/dockyard"}, path) == f"unix://{path}"
        assert default_daemon(str(tmp_path), {}, path) is None  # a private data root stays in-process
        assert default_daemon(None, {"DOCKYARD_DATA_ROOT": str(tmp_path)}, path) is None


def test_a_stale_socket_or_another_file_is_not_a_daemon(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    assert default_daemon(None, {}, path) is None
    plain = tmp_path / "file"
    plain.write_text("")
    assert default_daemon(None, {}, str(plain)) is None


def test_resolve_tls_from_flags_and_environment(tmp_path: Path) -> None:
    assert resolve_tls(None, {}) is None
    assert resolve_tls(TLSOptions(ca="/ca.pem"), {}) is None  # a CA alone does not turn TLS on (as docker)
    (tmp_path / "ca.pem").write_text("")
    (tmp_path / "cert.pem").write_text("")
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
    assert resolve_tls(None, env) == TLSOptions(enabled=True, verify=True, ca=str(tmp_path / "ca.pem"),
                                                cert=str(tmp_path / "cert.pem"), key=None)  # fmt: skip
    flags = TLSOptions(enabled=True, ca="/mine.pem")
    assert resolve_tls(flags, {"DOCKER_CERT_PATH": str(tmp_path)}) == TLSOptions(
        enabled=True, verify=False, ca="/mine.pem", cert=str(tmp_path / "cert.pem"), key=None
    )
