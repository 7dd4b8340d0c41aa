"""`import`: rootfs tarballs (plain, gzip, zstd) from a stream or a 127.0.0.1 URL, `--change` instructions parsed
like a Dockerfile, the message as comment; bad tarballs and bad changes refused with Docker's wording."""

from __future__ import annotations

import gzip
import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.image.content import read_blob
from dockyard.image.transfer.changes import apply_changes, instructions
from dockyard.image.transfer.importer import ImportOptions, import_image, import_reference, open_url
from dockyard.image.transfer.words import expand, split_words
from dockyard.oci.image_spec import ContainerConfig
from fixtures.malicious_layers import directory, file, symlink, tar
from fixtures.transfer import sha, store, store_state

ROOTFS = tar(directory("bin"), file("bin/tool", b"#!/bin/sh\n", mode=0o755), symlink("bin/sh", "tool"))


def _import(tmp_path: Path, data: bytes, **kw: object):  # type: ignore[no-untyped-def]
    target = store(tmp_path)
    return target, import_image(target, io.BytesIO(data), ImportOptions(**kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("wrap", ["none", "gzip", "zstd"])
def test_import_stores_the_uncompressed_layer(tmp_path: Path, wrap: str) -> None:
    data = {"none": ROOTFS, "gzip": gzip.compress(ROOTFS), "zstd": zstandard.ZstdCompressor().compress(ROOTFS)}[wrap]
    target, image = _import(tmp_path, data, repo="imp", tag="1")
    assert image.repo_tags == ("imp:1",)
    assert [str(d) for d in image.config.rootfs.diff_ids] == [sha(ROOTFS)]
    assert image.manifest.layers[0].media_type == "application/vnd.docker.image.rootfs.diff.tar"
    assert read_blob(target.content, image.manifest.layers[0].digest) == ROOTFS


def test_import_config_comment_and_history(tmp_path: Path) -> None:
    _target, image = _import(tmp_path, ROOTFS, source="-")
    raw = json.loads(image.config.to_bytes())
    assert raw["comment"] == "Imported from -"
    assert raw["history"] == [{"created": raw["created"], "comment": "Imported from -"}]
    assert raw["config"] == {}
    _target, image = _import(tmp_path / "m", ROOTFS, message="first import")
    assert json.loads(image.config.to_bytes())["comment"] == "first import"
    assert image.repo_tags == ()


def test_import_applies_changes(tmp_path: Path) -> None:
    changes = (
        'CMD ["/bin/tool","run"]',
        'ENV A=1 B="two words"',
        "WORKDIR /srv",
        "WORKDIR app",
        "EXPOSE 80 53/udp",
        "USER nobody",
        'LABEL a=b c="d e"',
        "VOLUME /data",
        "ONBUILD RUN echo hi",
    )
    _target, image = _import(tmp_path, ROOTFS, repo="imp:changes", changes=changes)
    c = image.run_config
    assert c.cmd == ("/bin/tool", "run")
    assert c.env == ("A=1", "B=two words")
    assert c.working_dir == "/srv/app"
    assert c.ports() == ("53/udp", "80/tcp")
    assert c.user == "nobody"
    assert c.labels == {"a": "b", "c": "d e"}
    assert c.volume_paths() == ("/data",)
    assert c.on_build == ("RUN echo hi",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN echo x", "run is not a valid change command"),
        ("FROM busybox", "from is not a valid change command"),
        ("EXPOSE eighty", "invalid containerPort: eighty"),
        ("ENV", "ENV requires at least one argument"),
        ("LABEL =x", "LABEL names can not be blank"),
        ('VOLUME [""]', "VOLUME specified can not be an empty string"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ('ENV A="unterminated', 'unexpected end of statement while looking for matching "'),
    ],
)
def test_bad_change_is_refused_before_anything_is_stored(tmp_path: Path, change: str, message: str) -> None:
    target = store(tmp_path)
    before = store_state(tmp_path)
    with pytest.raises(InvalidArgument, match=f"^{message}$".replace("[", r"\[").replace('"', '"')):
        import_image(target, io.BytesIO(ROOTFS), ImportOptions(changes=(change,)))
    assert store_state(tmp_path) == before


def test_import_of_non_tar_leaves_nothing(tmp_path: Path) -> None:
    target = store(tmp_path)
    before = store_state(tmp_path)
    with pytest.raises(InvalidArgument, match="^import: invalid tar archive: "):
        import_image(target, io.BytesIO(b"definitely not a tarball" * 50), ImportOptions())
    with pytest.raises(InvalidArgument, match="^import: unexpected end of data$"):
        import_image(target, io.BytesIO(gzip.compress(ROOTFS)[:-30]), ImportOptions())
    assert store_state(tmp_path) == before


def test_import_reference_rules() -> None:
    assert import_reference("", "") is None
    assert str(import_reference("imp", "")) == "docker.io/library/imp:latest"
    assert str(import_reference("imp:1", "")) == "docker.io/library/imp:1"
    assert str(import_reference("localhost:5000/imp", "dev")) == "localhost:5000/imp:dev"
    with pytest.raises(InvalidArgument, match="^cannot import digest reference$"):
        import_reference("imp@sha256:" + "a" * 64, "")
    with pytest.raises(InvalidArgument, match="repository name .*must be lowercase"):
        import_reference("Imp", "")


def test_instructions_and_words() -> None:
    assert instructions(["# comment", "", "ENV a=1 \\", "  b=2", "cmd  echo hi"]) == [
        ("env", "a=1  b=2"),
        ("cmd", "echo hi"),
    ]
    assert split_words('a \'b c\' "d\\"e" f\\ g') == ["a", "b c", 'd"e', "f g"]
    env = {"A": "x", "E": ""}
    assert expand("$A-${A}-${B:-def}-${A:+alt}-${E:+no}-\\$A", env) == "x-x-def-alt--$A"


def test_changes_shell_form_and_entrypoint_resets_cmd() -> None:
    base = ContainerConfig(cmd=("old",), env=("PATH=/bin",))
    c = apply_changes(base, ["ENTRYPOINT /bin/tool --flag"])
    assert c.entrypoint == ("/bin/sh", "-c", "/bin/tool --flag") and c.cmd is None
    c = apply_changes(base, ["CMD new", 'ENTRYPOINT ["e"]'])
    assert c.cmd == ("/bin/sh", "-c", "new") and c.entrypoint == ("e",)
    c = apply_changes(base, ["ENV P=$PATH:/x", "ENV legacy value with spaces", "HEALTHCHECK --interval=5s CMD true"])
    assert c.env == ("PATH=/bin", "P=/bin:/x", "legacy=value with spaces")
    assert c.healthcheck is not None and c.healthcheck.test == ("CMD-SHELL", "true")
    assert c.healthcheck.interval == 5_000_000_000


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/rootfs.tar.gz":
            body = gzip.compress(ROOTFS)
            self.send_response(200)
        else:
            body = b"no such file"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_import_from_url(tmp_path: Path, server: str) -> None:
    target = store(tmp_path)
    with open_url(f"{server}/rootfs.tar.gz") as stream:
        image = import_image(target, stream, ImportOptions(source=f"{server}/rootfs.tar.gz", repo="web:1"))
    assert json.loads(image.config.to_bytes())["comment"] == f"Imported from {server}/rootfs.tar.gz"
    assert [str(d) for d in image.config.rootfs.diff_ids] == [sha(ROOTFS)]


def test_import_url_errors(server: str) -> None:
    missing = rf"^failed to GET {server}/missing with status 404 Not Found: no such file$"
    with pytest.raises(DockyardError, match=missing), open_url(f"{server}/missing"):
        pass
    unsupported = "^import: unsupported URL `ftp://x/y`: only http and https$"
    with pytest.raises(InvalidArgument, match=unsupported), open_url("ftp://x/y"):
        pass
    with pytest.raises(DockyardError, match=r'^Get "http://127.0.0.1:1/x": .*refused'), open_url("127.0.0.1:1/x"):
        pass
