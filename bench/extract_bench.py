"""Layer extraction throughput: dockyard's hardened apply_layer against GNU tar, side by side.

Builds a realistic layer (a tar of /usr/lib/python3* by default, ~100 MB, ~5,000 entries), then extracts it N
times with `tar -xf` and with `apply_layer`, interleaved, into a fresh directory on the disk and on tmpfs.
Reports the median MB/s (of the uncompressed tar) and the ratio apply_layer / GNU tar. Needs root, like an
engine (GNU tar then keeps owners too). Timings are printed, never asserted. `--layer` takes an existing tar
instead (e.g. a Debian rootfs from `mmdebstrap --variant=minbase bookworm debian.tar`).

apply_layer is called as image/unpack.py calls it: a compressed layer is hashed (its diff_id is checked), an
uncompressed one is not (its blob digest is its diff_id, verified by the content store); `--digest` hashes always.

    .venv/bin/python bench/extract_bench.py [--runs 3] [--compression none|gzip|zstd] [--source DIR ...]
                                            [--layer TAR] [--digest] [--where both|disk|tmpfs]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from dockyard.image.archive import apply_layer

DEFAULT_SOURCES = ["/usr/lib/python3", "/usr/lib/python3.11"]


def build_layer(workdir: str, sources: list[str], compression: str, given: str | None) -> tuple[str, int, int]:
    """The layer file, the size of its uncompressed tar and its number of entries."""
    plain = os.path.join(workdir, "layer.tar")
    if given:
        shutil.copyfile(given, plain)
    else:
        args = ["tar", "-cf", plain]
        for source in sources:
            parent, name = os.path.split(source.rstrip("/"))
            args += ["-C", parent, name]
        subprocess.run(args, check=True)
    listing = subprocess.run(["tar", "-tf", plain], check=True, capture_output=True).stdout
    size, entries = os.path.getsize(plain), listing.count(b"\n")
    if compression == "none":
        return plain, size, entries
    packed = plain + (".gz" if compression == "gzip" else ".zst")
    if compression == "gzip":
        with open(plain, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    else:
        subprocess.run(["zstd", "-q", "-3", "-f", plain, "-o", packed], check=True)
    return packed, size, entries


def gnu_tar(layer: str, compression: str) -> Callable[[str], None]:
    flag = {"none": [], "gzip": ["-z"], "zstd": ["--zstd"]}[compression]

    def run(target: str) -> None:
        subprocess.run(["tar", "-x", *flag, "-f", layer, "-C", target], check=True)

    return run


def dockyard(layer: str, digest: bool) -> Callable[[str], None]:
    def run(target: str) -> None:
        with open(layer, "rb") as stream:
            apply_layer(stream, target, digest=digest)

    return run


def timed(extract: Callable[[str], None], base: str) -> float:
    target = tempfile.mkdtemp(prefix="extract-", dir=base)
    try:
        subprocess.run(["sync"], check=True)  # earlier runs' writeback must not bill this one
        start = time.perf_counter()
        extract(target)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(target)


def bench(label: str, base: str, runs: int, tools: dict[str, Callable[[str], None]], size: int) -> None:
    seconds: dict[str, list[float]] = {name: [] for name in tools}
    for extract in tools.values():  # warm-up: page cache, imports
        timed(extract, base)
    order = list(tools)
    for _ in range(runs):
        for name in order:
            seconds[name].append(timed(tools[name], base))
        order.reverse()  # A B, B A, …: a drifting disk must not favour one side
    rates = {name: size / statistics.median(values) / 1e6 for name, values in seconds.items()}
    for name, values in seconds.items():
        spread = ", ".join(f"{v:.3f}" for v in values)
        print(f"  {label:6} {name:12} median {rates[name]:7.1f} MB/s   runs (s): {spread}")
    print(f"  {label:6} ratio apply_layer / GNU tar = {rates['apply_layer'] / rates['GNU tar']:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compression", choices=("none", "gzip", "zstd"), default="none")
    parser.add_argument("--source", action="append", help="directories to pack (default: /usr/lib/python3*)")
    parser.add_argument("--disk-dir", default="/var/tmp", help="where the on-disk extractions go")
    parser.add_argument("--layer", help="an existing uncompressed tar to use instead of packing --source")
    parser.add_argument("--digest", action="store_true", help="compute the diff_id of uncompressed layers too")
    parser.add_argument("--where", choices=("both", "disk", "tmpfs"), default="both", help="file systems to test")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("extract_bench: needs root (owners and devices, as an engine has)", file=sys.stderr)
        return 2
    sources = args.source or [s for s in DEFAULT_SOURCES if os.path.isdir(s)]
    with tempfile.TemporaryDirectory(prefix="extract-bench-", dir=args.disk_dir) as workdir:
        layer, size, entries = build_layer(workdir, sources, args.compression, args.layer)
        digest = args.digest or args.compression != "none"
        origin = args.layer or ", ".join(sources)
        print(f"layer: {origin} -> {size / 1e6:.1f} MB tar, {entries} entries, {args.compression}, digest {digest}")
        tools = {"GNU tar": gnu_tar(layer, args.compression), "apply_layer": dockyard(layer, digest)}
        if args.where != "tmpfs":
            bench("disk", workdir, args.runs, tools, size)
        if args.where != "disk" and os.path.isdir("/dev/shm"):
            bench("tmpfs", "/dev/shm", args.runs, tools, size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
