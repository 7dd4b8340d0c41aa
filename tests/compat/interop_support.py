"""Helpers shared by the image interop tests: peer tools on PATH, the dockyard CLI on a daemon's data root, a
busybox image written by hand (rootfs tar and OCI layout) so no test depends on dockyard's own writer.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from compat_harness import Daemon, log_tail

from privileged_gate import require

BUSYBOX = "/bin/busybox"


def tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"needs {name} (make install adds it)")
    assert path is not None
    return path


def run(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"
    return proc.stdout


def dockyard(daemon: Daemon, *args: str, stdin: bytes | None = None) -> str:
    """The dockyard CLI, daemonless on the daemon's data root (the state on disk is shared, under its locks)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKYARD_HOST", "DOCKYARD_EXEC_ROOT")}
    env["DOCKYARD_DATA_ROOT"] = str(daemon.root / "data")
    env["DOCKYARD_RUNTIME"] = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")
    proc = subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], env=env, input=stdin,
                          capture_output=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, f"dockyard {' '.join(args)}: {proc.stderr.decode()}\n{log_tail(daemon)}"
    return proc.stdout.decode()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rootfs_tar() -> bytes:
    """A busybox root filesystem as a plain tar: /bin/busybox and the applets the tests call."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        tf.add(BUSYBOX, "bin/busybox")
        for name in ("sh", "echo", "cat"):
            info = tarfile.TarInfo(f"bin/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(info)
    return raw.getvalue()


def write_oci_layout(root: Path, ref: str = "latest") -> None:
    """A busybox image as an OCI layout, by hand: one gzip layer, a config, a manifest, index.json."""
    layer_tar = rootfs_tar()
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [_sha(layer_tar)]},
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _sha(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _sha(layer),
                    "size": len(layer)}],
    }).encode()  # fmt: skip
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in (layer, config, manifest):
        (blobs / _sha(blob).split(":")[1]).write_bytes(blob)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": _sha(manifest), "size": len(manifest),
             "annotations": {"org.opencontainers.image.ref.name": ref}}]}  # fmt: skip
    (root / "index.json").write_text(json.dumps(index))
