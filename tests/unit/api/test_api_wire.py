"""api/wire.py and api/streams.py: the create body, status texts, stdcopy framing."""

from __future__ import annotations

import pytest

from dockyard.api import streams
from dockyard.api.wire import create_request, status_text
from dockyard.engine.records import State
from dockyard.errors import InvalidArgument


def test_create_body_maps_to_the_engine_request() -> None:
    body = {
        "Image": "busybox", "Cmd": ["echo", "hi"], "Env": ["A=1"], "WorkingDir": "/tmp", "User": "1:2",
        "Hostname": "h", "Labels": {"k": "v"}, "Entrypoint": None,
        "HostConfig": {"AutoRemove": True, "Memory": 64 << 20, "NanoCpus": 10**9, "PidsLimit": 5,
                       "ReadonlyRootfs": True, "CapAdd": ["NET_ADMIN"], "SecurityOpt": ["no-new-privileges"]},
    }  # fmt: skip
    req = create_request(body)
    assert (req.image, req.cmd, req.entrypoint, req.env) == ("busybox", ("echo", "hi"), None, ("A=1",))
    assert (req.working_dir, req.user, req.hostname, req.labels) == ("/tmp", "1:2", "h", {"k": "v"})
    hc = req.host_config
    assert (hc.auto_remove, hc.memory, hc.nano_cpus, hc.pids_limit, hc.read_only) == (True, 64 << 20, 10**9, 5, True)
    assert hc.cap_add == ("NET_ADMIN",) and hc.security_opt == ("no-new-privileges",)


def test_cmd_may_be_a_string_and_entrypoint_empty_list_means_none() -> None:
    req = create_request({"Image": "b", "Cmd": "true", "Entrypoint": []})
    assert req.cmd == ("true",) and req.entrypoint == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "config cannot be empty in order to create a container"),
        ({"Cmd": ["x"]}, "no image specified"),
        ({"Image": "b", "Env": "A=1"}, "invalid field `Env`: expected an array of strings"),
        ({"Image": "b", "Tty": "yes"}, "invalid field `Tty`: expected a boolean"),
        ({"Image": "b", "HostConfig": {"Memory": True}}, "invalid field `Memory`: expected an integer"),
        ({"Image": "b", "HostConfig": {"Memory": 1024}}, "Minimum memory limit allowed is 6MB"),
        ({"Image": "b", "Labels": {"a": 1}}, "invalid field `Labels`: expected an object of strings"),
    ],
)
def test_bad_bodies(body: object, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        create_request(body)
    assert info.value.message == message


def test_status_texts() -> None:
    assert status_text(State(status="created")) == "Created"
    running = State(status="running", started_at="2026-01-01T00:00:00.5Z")
    assert status_text(running, now=1767225600 + 3) == "Up 3 seconds"
    exited = State(status="exited", exit_code=3, finished_at="2026-01-01T00:00:00Z")
    assert status_text(exited, now=1767225600 + 120) == "Exited (3) 2 minutes ago"


def test_stdcopy_round_trip() -> None:
    data = streams.frame(streams.STDOUT, b"hello\n") + streams.frame(streams.STDERR, b"x")
    assert data[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x06"
    frames, rest = streams.split_frames(data + b"\x01\x00")
    assert frames == [(1, b"hello\n"), (2, b"x")] and rest == b"\x01\x00"
