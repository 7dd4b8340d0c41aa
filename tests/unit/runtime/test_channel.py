"""Sync messages between the runtime and the init: encoding, typing, EOF and failures."""

from __future__ import annotations

import pytest

from dockyard.errors import InternalError, InvalidArgument, NotFound
from dockyard.runtime import channel as ch


@pytest.mark.parametrize(
    "msg",
    [ch.UsernsReady(), ch.UsernsMapped(), ch.InitPid(42), ch.Proceed('{"id":"c"}'), ch.CgroupMade(), ch.CgroupJoined(),
     ch.Ready(), ch.Failure("boom", "NotFound", 2)],
)  # fmt: skip
def test_round_trip(msg: ch.Message) -> None:
    assert ch.decode(ch.encode(msg)) == msg


def test_encoding_is_tagged_json() -> None:
    assert ch.encode(ch.InitPid(7)) == b'{"type":"init-pid","pid":7}'
    assert ch.encode(ch.CgroupMade()) == b'{"type":"cgroup-made"}'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"nope", "not json"),
        (b'{"type":"bogus"}', "unknown type `bogus`"),
        (b'{"type":"init-pid","pid":"7"}', "field `pid` has the wrong type"),
        (b'{"type":"init-pid","pid":true}', "field `pid` has the wrong type"),
        (b'{"type":"init-pid"}', "missing field"),
    ],
)
def test_bad_messages(raw: bytes, message: str) -> None:
    with pytest.raises(ch.ProtocolError, match=message):
        ch.decode(raw)


def test_pair_sends_and_reports_eof() -> None:
    parent, child = ch.pair()
    child.send(ch.InitPid(5))
    assert parent.expect(ch.InitPid, "wait").pid == 5
    child.close()
    assert parent.recv() is None
    with pytest.raises(ch.ChannelClosed, match="wait: container init exited before it was ready"):
        parent.expect(ch.Ready, "wait")
    parent.close()


def test_failure_is_reraised_with_its_kind() -> None:
    parent, child = ch.pair()
    child.send(ch.Failure.from_exception(NotFound('exec: "x": executable file not found in $PATH')))
    with pytest.raises(NotFound, match="executable file not found"):
        parent.expect(ch.Ready, "wait")
    child.send(ch.Failure("invalid config `x`: bad", "SpecError"))
    with pytest.raises(InvalidArgument, match="invalid config `x`: bad"):
        parent.expect(ch.Ready, "wait")
    child.send(ch.Failure("odd", "NoSuchKind"))
    with pytest.raises(InternalError, match="odd"):
        parent.expect(ch.Ready, "wait")
    parent.close()
    child.close()


def test_failure_from_os_error() -> None:
    failure = ch.Failure.from_exception(FileNotFoundError(2, "No such file or directory", "/x"))
    assert failure.message == "init `/x`: no such file or directory"


def test_unexpected_message() -> None:
    parent, child = ch.pair()
    child.send(ch.Ready())
    with pytest.raises(ch.ProtocolError, match="unexpected message `ready`"):
        parent.expect(ch.InitPid, "wait for pid")
    parent.close()
    child.close()
