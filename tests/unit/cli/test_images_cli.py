"""The image verbs through the whole in-process path (CLI → client → api → engine → store), native snapshotter:
output exactly as docker 28 prints it, flags, filters, errors and exit codes."""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.cli.main import main
from fixtures.malicious_layers import directory, file, tar
from fixtures.transfer import docker_archive, layer_tar, sha, tar_of

Run = Callable[..., tuple[int, str, str]]
ROOTFS = tar(directory("etc"), file("etc/os-release", b"NAME=test\n"))


@pytest.fixture
def dockyard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    for var in ("DOCKYARD_HOST", "DOCKER_HOST", "DOCKYARD_DATA_ROOT", "DOCKYARD_EXEC_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKYARD_SNAPSHOTTER", "native")
    monkeypatch.setenv("DOCKYARD_RUNTIME", "runc")

    def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        with pytest.raises(SystemExit) as info:
            main(["--data-root", str(tmp_path / "data"), *args])
        out = capsys.readouterr()
        return int(info.value.code or 0), out.out, out.err

    return run


def _archive(tmp_path: Path, name: str, tags: list[str], content: bytes = b"hello\n") -> Path:
    data = docker_archive([layer_tar("f.txt", content)], tags)
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _load(dockyard: Run, tmp_path: Path, tags: list[str], content: bytes = b"hello\n") -> str:
    code, out, err = dockyard("load", "-i", str(_archive(tmp_path, f"{content.hex()}.tar", tags, content)))
    assert code == 0, err
    return out


def test_load_prints_docker_lines_and_images_table(dockyard: Run, tmp_path: Path) -> None:
    out = _load(dockyard, tmp_path, ["busybox:latest", "me/app:v1"])
    assert out == "Loaded image: busybox:latest\nLoaded image: me/app:v1\n"
    code, out, _ = dockyard("images")
    lines = out.splitlines()
    assert code == 0
    assert re.fullmatch(r"REPOSITORY   TAG       IMAGE ID       CREATED {3,}SIZE", lines[0])  # tabwriter columns
    assert re.fullmatch(r"busybox      latest    [0-9a-f]{12}   \S.* ago +\d.*B", lines[1])
    assert lines[2].startswith("me/app       v1        ")
    assert len(lines) == 3


def test_images_flags(dockyard: Run, tmp_path: Path) -> None:
    _load(dockyard, tmp_path, ["one:1", "one:2"], b"one\n")
    _load(dockyard, tmp_path, ["two:1"], b"two\n")
    _, out, _ = dockyard("images", "-q")
    ids = out.split()
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)
    _, out, _ = dockyard("images", "--no-trunc", "--format", "{{.ID}}")
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", line) for line in out.split())
    _, out, _ = dockyard("images", "--format", "{{.Repository}}:{{.Tag}}", "one")
    assert out.split() == ["one:1", "one:2"]
    _, out, _ = dockyard("images", "--filter", "reference=t*", "--format", "{{.Repository}}")
    assert out.split() == ["two"]
    _, out, _ = dockyard("images", "--digests", "--format", "table {{.Repository}}\t{{.Digest}}")
    assert out.splitlines()[0] == "REPOSITORY   DIGEST"
    assert re.fullmatch(r"one          sha256:[0-9a-f]{64}", out.splitlines()[1])
    _, out, _ = dockyard("images", "--format", "json", "two")
    row = json.loads(out)
    assert row["Repository"] == "two" and row["Tag"] == "1" and row["Containers"] == "N/A"
    assert set(row) >= {"CreatedAt", "CreatedSince", "Digest", "ID", "Size", "SharedSize", "UniqueSize"}


def test_images_filter_errors(dockyard: Run) -> None:
    code, _, err = dockyard("images", "--filter", "bogus=1")
    assert code == 1 and err.strip() == "dockyard: Error response from daemon: invalid filter 'bogus'"
    code, _, err = dockyard("images", "--filter", "dangling=maybe")
    assert code == 1 and err.strip() == "dockyard: Error response from daemon: invalid filter 'dangling=[maybe]'"
    code, _, err = dockyard("images", "--filter", "novalue")
    assert code == 125 and "bad format of filter (expected name=value)" in err


def test_tag_rmi_and_dangling(dockyard: Run, tmp_path: Path) -> None:
    _load(dockyard, tmp_path, ["app:1"])
    assert dockyard("tag", "app:1", "localhost:5000/team/app:2")[0] == 0
    _, out, _ = dockyard("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert sorted(out.split()) == ["app:1", "localhost:5000/team/app:2"]
    code, out, _ = dockyard("rmi", "app:1")
    assert (code, out) == (0, "Untagged: app:1\n")
    code, out, _ = dockyard("image", "rm", "localhost:5000/team/app:2")
    assert code == 0 and out.splitlines()[0] == "Untagged: localhost:5000/team/app:2"
    assert re.fullmatch(r"Deleted: sha256:[0-9a-f]{64}", out.splitlines()[1])
    code, out, err = dockyard("rmi", "gone:1", "alsogone")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "dockyard: Error response from daemon: No such image: gone:1",
        "Error response from daemon: No such image: alsogone:latest",
    ]
    code, _, err = dockyard("tag", "nope", "x:1")
    assert code == 1 and err.strip() == "dockyard: Error response from daemon: No such image: nope:latest"
    code, _, err = dockyard("tag", "app", "Bad:Name")
    assert code == 1 and err.strip() == (
        'dockyard: Error parsing reference: "Bad:Name" is not a valid repository/tag: invalid reference format:'
        " repository name (library/Bad) must be lowercase"
    )
    code, _, err = dockyard("tag", "app", "x@sha256:" + "a" * 64)
    assert code == 1 and err.strip() == "dockyard: refusing to create a tag with a digest reference"


def test_dangling_image_shows_none_and_is_pruned(dockyard: Run, tmp_path: Path) -> None:
    _load(dockyard, tmp_path, ["app:1"], b"old\n")
    _load(dockyard, tmp_path, ["app:1"], b"new\n")  # the old image loses its tag: dangling
    _, out, _ = dockyard("images", "--filter", "dangling=true", "--format", "{{.Repository}} {{.Tag}}")
    assert out == "<none> <none>\n"
    code, out, _ = dockyard("image", "prune", "-f")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "Deleted Images:"
    assert re.fullmatch(r"deleted: sha256:[0-9a-f]{64}", lines[1])
    assert lines[2] == "" and re.fullmatch(r"Total reclaimed space: \d+(\.\d+)?k?B", lines[3])
    code, out, _ = dockyard("image", "prune", "-f")
    assert out == "Total reclaimed space: 0B\n"
    code, out, _ = dockyard("image", "prune", "-a", "-f")
    assert out.splitlines()[:2] == ["Deleted Images:", "untagged: app:1"]
    assert dockyard("images", "-q")[1] == ""


def test_prune_asks_first(dockyard: Run, tmp_path: Path) -> None:
    _load(dockyard, tmp_path, ["app:1"])
    code, out, _ = dockyard("image", "prune", "-a", stdin=b"n\n")
    assert code == 0
    assert out == (
        "WARNING! This will remove all images without at least one container associated to them.\n"
        "Are you sure you want to continue? [y/N] "
    )
    assert dockyard("images", "-q")[1] != ""


def test_history(dockyard: Run, tmp_path: Path) -> None:
    _load(dockyard, tmp_path, ["app:1"])
    code, out, _ = dockyard("history", "app:1")
    lines = out.splitlines()
    assert code == 0 and re.fullmatch(r"IMAGE          CREATED {3,}CREATED BY   SIZE      COMMENT", lines[0])
    assert re.match(r"[0-9a-f]{12}   \S", lines[1])
    _, out, _ = dockyard(
        "history", "-H=false", "--no-trunc", "--format", "{{.ID}}|{{.CreatedSince}}|{{.Size}}", "app:1"
    )
    image_id, created, size = out.strip().split("|")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", created)
    assert size.isdigit()
    assert dockyard("history", "-q", "app:1")[1].strip() == image_id.split(":")[1][:12]
    code, _, err = dockyard("history", "nope")
    assert code == 1 and err.strip() == "dockyard: Error response from daemon: No such image: nope:latest"


def test_image_inspect(dockyard: Run, tmp_path: Path) -> None:
    _load(dockyard, tmp_path, ["app:1"])
    code, out, _ = dockyard("image", "inspect", "app:1")
    [doc] = json.loads(out)
    assert code == 0
    assert list(doc) == ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container",
                         "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture", "Os", "Size",
                         "VirtualSize", "GraphDriver", "RootFS", "Metadata"]  # fmt: skip
    assert doc["RepoTags"] == ["app:1"] and doc["Config"]["Cmd"] == ["sh"]
    assert doc["Config"]["Hostname"] == "" and doc["Config"]["Volumes"] is None
    assert doc["RootFS"] == {"Type": "layers", "Layers": [sha(layer_tar("f.txt", b"hello\n"))]}
    assert doc["GraphDriver"]["Name"] == "native"
    _, out, _ = dockyard("image", "inspect", "-f", "{{.Os}}/{{.Architecture}} {{json .RepoTags}}", "app:1")
    assert out == 'linux/amd64 ["app:1"]\n'
    code, out, err = dockyard("image", "inspect", "nope")
    assert code == 1 and out == "[]\n" and err.strip() == "Error: No such image: nope"


def test_save_load_round_trip_and_terminal_refusal(
    dockyard: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(dockyard, tmp_path, ["app:1", "app:2"])
    target = tmp_path / "out.tar"
    assert dockyard("save", "-o", str(target), "app")[0] == 0
    with tarfile.open(target) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["app:1", "app:2"]
    assert dockyard("rmi", "app:1", "app:2")[0] == 0
    code, out, _ = dockyard("load", stdin=gzip.compress(target.read_bytes()))
    assert (code, out) == (0, "Loaded image: app:1\nLoaded image: app:2\n")
    code, _, err = dockyard("save", "-o", str(tmp_path / "x.tar"), "nope")
    assert code == 1 and err.strip() == "dockyard: Error response from daemon: No such image: nope:latest"
    assert not (tmp_path / "x.tar").exists()
    monkeypatch.setattr("dockyard.cli.images._is_terminal", lambda _stream: True)
    code, _, err = dockyard("save", "app:1")
    assert code == 1
    assert err.strip() == "dockyard: cowardly refusing to save to a terminal. Use the -o flag or redirect"


def test_load_errors(dockyard: Run, tmp_path: Path) -> None:
    code, _, err = dockyard("load", "-i", str(tmp_path / "missing.tar"))
    assert (
        code == 1 and err.strip() == "dockyard: open " + str(tmp_path / "missing.tar") + ": no such file or directory"
    )
    bad = tmp_path / "bad.tar"
    bad.write_bytes(tar_of({"hello": b"x"}))
    code, _, err = dockyard("load", "-i", str(bad))
    assert code == 1
    assert err.strip() == (
        "dockyard: Error response from daemon: load: not an image archive: it has neither manifest.json nor index.json"
    )


def test_import_file_and_stdin(dockyard: Run, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(ROOTFS)
    code, out, err = dockyard("import", "-c", "CMD [\"cat\",\"/etc/os-release\"]", "-c", "ENV A=1", "-m", "hello",
                              str(rootfs), "imp:1")  # fmt: skip
    assert code == 0, err
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", out)
    _, out, _ = dockyard("image", "inspect", "-f", "{{json .Config.Cmd}} {{json .Config.Env}} {{.Comment}}", "imp:1")
    assert out == '["cat","/etc/os-release"] ["A=1"] hello\n'
    code, out, _ = dockyard("import", "-", "imp:2", stdin=gzip.compress(ROOTFS))
    assert code == 0
    _, out, _ = dockyard("history", "--format", "{{.Comment}}", "imp:2")
    assert out == "Imported from -\n"
    code, _, err = dockyard("import", "-c", "RUN true", str(rootfs))
    assert code == 1 and err.strip() == "dockyard: Error response from daemon: run is not a valid change command"


def test_rmi_refuses_an_image_a_container_uses(dockyard: Run, tmp_path: Path) -> None:
    _load(dockyard, tmp_path, ["busybox:latest"])
    code, out, err = dockyard("create", "busybox", "true")
    assert code == 0, err
    container = out.strip()[:12]
    _, image_id, _ = dockyard("images", "-q", "busybox")
    image_id = image_id.strip()
    code, out, err = dockyard("rmi", "busybox")
    assert (code, out) == (1, "")
    assert err.strip() == (
        'dockyard: Error response from daemon: conflict: unable to remove repository reference "busybox" (must force)'
        f" - container {container} is using its referenced image {image_id}"
    )
    code, _, err = dockyard("rmi", image_id)
    assert code == 1
    assert err.strip() == (
        f"dockyard: Error response from daemon: conflict: unable to delete {image_id} (must be forced)"
        f" - image is being used by stopped container {container}"
    )
    code, out, _ = dockyard("image", "prune", "-a", "-f")
    assert out == "Total reclaimed space: 0B\n"  # an image a container uses is never pruned
    dockyard("tag", "busybox", "other:1")  # with a second name, one name may go without force (moby)
    assert dockyard("rmi", "other:1")[:2] == (0, "Untagged: other:1\n")
    code, out, _ = dockyard("rmi", "-f", "busybox")  # a stopped container's image goes when forced (moby)
    assert code == 0 and out.splitlines()[0] == "Untagged: busybox:latest"
    assert out.splitlines()[1].startswith(f"Deleted: sha256:{image_id}")
    assert dockyard("images", "-q")[1] == ""
