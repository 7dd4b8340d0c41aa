"""api/build.py: the build context spooled from a stream, the Dockerfile found by moby's rules, nothing left
behind by a context that is cut short or is not a tar, and POST /build's answers through Api.handle."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import BinaryIO

import pytest

from dockyard.api.build import spooled_context, sweep_spooled
from dockyard.api.routes import Api
from dockyard.engine.engine import Engine
from dockyard.errors import InvalidArgument
from dockyard.paths import Paths
from fixtures.transfer import tar_of as make_tar

CONTEXT = make_tar({"Dockerfile": b"FROM busybox\n", "big.bin": os.urandom(300_000), "sub/Other": b"FROM scratch\n"})


class Failing(io.RawIOBase):
    """An upload whose body is cut short: reads fail after `good` bytes, as the daemon's AsyncBody does."""

    def __init__(self, data: bytes, good: int) -> None:
        self._data, self._good = io.BytesIO(data), good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._data.tell() >= self._good:
            raise InvalidArgument("read request body: peer closed connection without sending complete message body")
        data = self._data.read(min(len(buffer), self._good - self._data.tell()))
        buffer[: len(data)] = data
        return len(data)


def test_the_context_is_spooled_whole_and_removed_after(tmp_path: Path) -> None:
    with spooled_context(io.BytesIO(CONTEXT), str(tmp_path / "tmp")) as ctx:
        assert ctx.dockerfile_name == "Dockerfile"
        assert ctx.dockerfile == b"FROM busybox\n"
        assert Path(ctx.path).parent == tmp_path / "tmp"
        assert Path(ctx.path).read_bytes() == CONTEXT
    assert os.listdir(tmp_path / "tmp") == []


def test_a_compressed_context_and_a_named_dockerfile(tmp_path: Path) -> None:
    with spooled_context(io.BytesIO(gzip.compress(CONTEXT)), str(tmp_path), "./sub/Other") as ctx:
        assert (ctx.dockerfile_name, ctx.dockerfile) == ("sub/Other", b"FROM scratch\n")


def test_the_default_name_falls_back_to_lowercase(tmp_path: Path) -> None:
    with spooled_context(io.BytesIO(make_tar({"dockerfile": b"FROM a\n"})), str(tmp_path)) as ctx:
        assert ctx.dockerfile_name == "dockerfile"


@pytest.mark.parametrize(
    ("body", "dockerfile", "message"),
    [
        (make_tar({"a": b"x"}), "", "Cannot locate specified Dockerfile: Dockerfile"),
        (CONTEXT, "nope/Dockerfile", "Cannot locate specified Dockerfile: nope/Dockerfile"),
        (make_tar({"Dockerfile": b" \n"}), "", "the Dockerfile (Dockerfile) cannot be empty"),
        (CONTEXT[:200_000], "", "read build context: unexpected end of data"),
        (b"FROM busybox\n" * 100, "", "read build context: invalid header"),
    ],
)
def test_bad_contexts_name_the_problem_and_leave_nothing(
    tmp_path: Path, body: bytes, dockerfile: str, message: str
) -> None:
    with pytest.raises(InvalidArgument) as err, spooled_context(io.BytesIO(body), str(tmp_path), dockerfile):
        pass
    assert err.value.message == message
    assert os.listdir(tmp_path) == []


UNPADDED = make_tar({"Dockerfile": b"FROM busybox\n", "last": b"x" * 47})[: 3 * 512 + 47]


def test_a_tar_ending_right_after_its_last_data_is_whole(tmp_path: Path) -> None:
    """The docker CLI's `build -f -` sends one: no padding after the last member, no end-of-archive blocks."""
    with spooled_context(io.BytesIO(UNPADDED), str(tmp_path)) as ctx:
        assert ctx.dockerfile == b"FROM busybox\n"
        assert Path(ctx.path).read_bytes() == UNPADDED


def test_a_tar_cut_inside_its_last_data_is_an_error(tmp_path: Path) -> None:
    with (
        pytest.raises(InvalidArgument, match="^read build context: unexpected end of data$"),
        spooled_context(io.BytesIO(UNPADDED[:-10]), str(tmp_path)),
    ):
        pass
    assert os.listdir(tmp_path) == []


def test_a_body_cut_short_fails_with_the_body_error_and_leaves_nothing(tmp_path: Path) -> None:
    upload = io.BufferedReader(Failing(CONTEXT, 150_000))
    with (
        pytest.raises(InvalidArgument, match="^read request body: peer closed"),
        spooled_context(upload, str(tmp_path)),
    ):
        pass
    assert os.listdir(tmp_path) == []


def _api(tmp_path: Path) -> Api:
    return Api(lambda: Engine(Paths(data_root=str(tmp_path), exec_root=str(tmp_path / "run")), runtime="runc"))


def _post(api: Api, query: dict[str, str], upload: BinaryIO) -> tuple[int, dict[str, str]]:
    response = api.handle("POST", "/v1.41/build", query, {}, b"", upload)
    return response.status, json.loads(response.body)


def test_post_build_reads_the_context_then_answers_501(tmp_path: Path) -> None:
    upload = io.BytesIO(CONTEXT)
    assert _post(_api(tmp_path), {"t": "x:1"}, upload) == (
        501,
        {"message": "build: Dockerfile builds are not supported by this engine yet"},
    )
    assert upload.tell() == len(CONTEXT)  # read to the end: the client's body is consumed
    assert os.listdir(tmp_path / "tmp") == []


def test_post_build_errors(tmp_path: Path) -> None:
    api = _api(tmp_path)
    assert _post(api, {"dockerfile": "Other"}, io.BytesIO(CONTEXT)) == (
        400,
        {"message": "Cannot locate specified Dockerfile: Other"},
    )
    assert _post(api, {"remote": "https://example.com/x.git"}, io.BytesIO(b"")) == (
        501,
        {"message": "build: remote build contexts are not supported by this engine"},
    )


def test_the_sweep_removes_leftovers_but_not_a_context_in_use(tmp_path: Path) -> None:
    (tmp_path / "build-context-dead.tar").write_bytes(b"left by a killed daemon")
    (tmp_path / "other").write_bytes(b"not ours")
    with spooled_context(io.BytesIO(CONTEXT), str(tmp_path)) as ctx:
        sweep_spooled(str(tmp_path))
        assert sorted(os.listdir(tmp_path)) == sorted([Path(ctx.path).name, "other"])
    sweep_spooled(str(tmp_path / "absent"))  # no tmp dir yet: nothing to do
