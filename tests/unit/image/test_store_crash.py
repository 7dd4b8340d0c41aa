"""Crash safety: SIGKILL a child at random points of load-like adds, rmi and gc; the store must check clean.

The child adds images (writing layer blobs, unpacking them into native snapshots, publishing names), removes
images with rmi semantics and collects garbage, in a loop on one data root; the parent kills it after a random
delay, then reopens the store (as the next process would) and runs the full check.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from dockyard.image.gc import check, collect
from dockyard.image.rmi import remove_image
from fixtures.images import add, layer, open_store
from fixtures.malicious_layers import directory, file, symlink

KILLS = 24
BASE = layer(directory("etc"), file("etc/os-release", b"base\n"), symlink("bin", "usr/bin"))


def _churn(root: Path, seed: int, ready: int) -> None:
    store = open_store(root)
    rnd = random.Random(seed)
    os.write(ready, b"x")
    os.close(ready)
    n = 0
    while True:
        n += 1
        roll = rnd.random()
        if roll < 0.6:
            top = layer(directory("data"), file(f"data/f{seed}-{n}", os.urandom(rnd.randrange(1, 200_000))))
            add(store, [BASE, top], [f"app:{n % 4}", f"load{rnd.randrange(3)}"], labels={"n": f"{seed}-{n}"})
        elif roll < 0.9:
            ids = store.ids()
            if ids:
                remove_image(store, rnd.choice(ids).hex, force=True)
        else:
            collect(store)


def _kill_once(root: Path, seed: int, rnd: random.Random) -> bool:
    """Run the churn in a child and SIGKILL it; True when it was still working when killed."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        try:
            _churn(root, seed, w)
        finally:
            os._exit(0)
    os.close(w)
    os.read(r, 1)
    os.close(r)
    time.sleep(rnd.uniform(0.0, 0.25))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_random_kills_leave_a_store_that_checks_clean(tmp_path: Path) -> None:
    rnd = random.Random(1234)
    killed = 0
    for seed in range(KILLS):
        killed += _kill_once(tmp_path, seed, rnd)
        store = open_store(tmp_path)  # what the next process sees
        assert check(store) == [], f"after kill {seed}"
        names, records = store.references()
        for name in names:
            assert store.get(name).id in records
        for image in store.list():
            if image.unpacked:
                assert store.snapshotter is not None
                assert all(store.snapshotter.exists(str(c)) for c in image.chain_ids)
    assert killed >= 20
    store = open_store(tmp_path)
    assert len(store.list()) > 0, "the churn should have added images"
    collect(store)
    assert check(store) == []
    leftover = {i.key for i in store.snapshotter.walk()} if store.snapshotter else set()
    assert not any(key.startswith("extract-") for key in leftover)
    assert os.listdir(Path(tmp_path, "content", "ingest")) == []
