"""`exec` and `cp` end to end: the CLI in a subprocess, a real runtime, busybox inside; exit codes, flags, tar
streams, and symlinks inside the container that must never reach the host."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, make_root, wait_for

from privileged_gate import require

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def dy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockyard]:
    d = Dockyard(make_root(tmp_path_factory.mktemp("dockyard-exec")), universal_newlines=False)
    started = d("run", "-d", "--name", "box", "busybox", "sleep", "600")
    assert started.code == 0, started.err
    yield d
    d.cleanup()
    assert d.leftovers() == []


def test_exec_output_and_exit_code(dy: Dockyard) -> None:
    result = dy("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.code, result.out, result.err) == (3, "out\n", "err\n")


def test_exec_env_workdir_user(dy: Dockyard, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n\n")
    result = dy("exec", "-e", "A=1", "--env-file", str(env_file), "-w", "/tmp", "-u", "1000:100", "box",
                "sh", "-c", "echo $A $FROM_FILE $(pwd) $(id -u):$(id -g)")  # fmt: skip
    assert (result.code, result.out) == (0, "1 yes /tmp 1000:100\n")
    assert dy("exec", "-u", "nobody", "box", "id", "-un").out == "nobody\n"


def test_exec_stdin(dy: Dockyard) -> None:
    result = dy("exec", "-i", "box", "sh", "-c", "tr a-z A-Z; echo end", stdin="hello\n")
    assert (result.code, result.out) == (0, "HELLO\nend\n")
    assert dy("exec", "box", "cat", stdin="ignored\n").out == ""  # without -i, stdin is not attached


def test_exec_detached_records_its_exit(dy: Dockyard) -> None:
    assert dy("exec", "-d", "box", "sh", "-c", "sleep 0.3; echo done > /tmp/detached; exit 5").code == 0
    ids = json.loads(dy("inspect", "-f", "{{json .ExecIDs}}", "box").out)
    assert ids and len(ids[0]) == 64
    assert wait_for(lambda: dy("exec", "box", "cat", "/tmp/detached").out == "done\n")
    assert wait_for(lambda: dy("inspect", "-f", "{{json .ExecIDs}}", "box").out.strip() == "null")


def test_exec_privileged_has_all_capabilities(dy: Dockyard) -> None:
    plain = dy("exec", "box", "grep", "CapEff", "/proc/self/status").out.split()[1]
    privileged = dy("exec", "--privileged", "box", "grep", "CapEff", "/proc/self/status").out.split()[1]
    assert int(privileged, 16) > int(plain, 16)


def test_exec_errors(dy: Dockyard) -> None:
    missing = dy("exec", "box", "nosuchcmd")
    assert missing.code == 127 and "nosuchcmd" in missing.err and "OCI runtime exec failed" in missing.err
    assert dy("exec", "nosuch", "true").err.strip() == "dockyard: Error response from daemon: No such container: nosuch"
    stopped = dy("run", "-d", "busybox", "true").out.strip()
    assert wait_for(lambda: dy("inspect", "-f", "{{.State.Status}}", stopped).out.strip() == "exited")
    result = dy("exec", stopped, "true")
    assert (result.code, result.err.strip()) == (
        1,
        f"dockyard: Error response from daemon: Container {stopped} is not running",
    )
    dy("rm", stopped)


def test_exec_events(dy: Dockyard) -> None:
    dy("exec", "box", "true")
    out = dy("events", "--since", "1m", "--until", "0s", "-f", "container=box", "--format", "{{.Action}}").out
    assert "exec_create: true" in out and "exec_start: true" in out and "exec_die" in out


# ---- cp ------------------------------------------------------------------------------------------------------


def test_cp_container_to_host(dy: Dockyard, tmp_path: Path) -> None:
    dy("exec", "box", "sh", "-c", "mkdir -p /data/sub && echo a > /data/a && echo b > /data/sub/b")
    assert dy("cp", "box:/data/a", str(tmp_path)).code == 0
    assert (tmp_path / "a").read_text() == "a\n"
    assert dy("cp", "box:/data/a", str(tmp_path / "renamed")).code == 0
    assert (tmp_path / "renamed").read_text() == "a\n"
    assert dy("cp", "box:/data", str(tmp_path / "copy")).code == 0
    assert (tmp_path / "copy" / "sub" / "b").read_text() == "b\n"
    assert dy("cp", "box:/data/.", str(tmp_path)).code == 0
    assert (tmp_path / "sub" / "b").read_text() == "b\n"
    hostname = dy("inspect", "-f", "{{.Id}}", "box").out.strip()[:12]
    assert dy("cp", "box:/etc/hostname", str(tmp_path / "h")).code == 0
    assert (tmp_path / "h").read_text() == f"{hostname}\n"


def test_cp_host_to_container(dy: Dockyard, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("from host\n")
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "g").write_text("deep\n")
    assert dy("cp", str(tmp_path / "f"), "box:/tmp/").code == 0
    assert dy("cp", str(tmp_path / "f"), "box:/tmp/other").code == 0
    assert dy("cp", str(tmp_path / "d"), "box:/tmp/dd").code == 0
    out = dy("exec", "box", "sh", "-c", "cat /tmp/f /tmp/other /tmp/dd/e/g; stat -c %u:%g /tmp/f").out
    assert out == "from host\nfrom host\ndeep\n0:0\n"


def test_cp_tar_streams(dy: Dockyard) -> None:
    dy("exec", "box", "sh", "-c", "echo streamed > /tmp/s")
    out = dy.raw("cp", "box:/tmp/s", "-")
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        assert tar.getnames() == ["s"] and tar.extractfile("s").read() == b"streamed\n"  # type: ignore[union-attr]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("in-tar")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"xyz"))
    assert dy.raw("cp", "-", "box:/tmp", stdin=buf.getvalue()).returncode == 0
    assert dy("exec", "box", "cat", "/tmp/in-tar").out == "xyz"


def test_cp_follow_link(dy: Dockyard, tmp_path: Path) -> None:
    dy("exec", "box", "sh", "-c", "echo target > /tmp/t && ln -sf /tmp/t /tmp/l")
    assert dy("cp", "box:/tmp/l", str(tmp_path / "nofollow")).code == 0
    assert os.readlink(tmp_path / "nofollow") == "/tmp/t"
    assert dy("cp", "-L", "box:/tmp/l", str(tmp_path / "follow")).code == 0
    assert (tmp_path / "follow").read_text() == "target\n"


def test_cp_errors(dy: Dockyard, tmp_path: Path) -> None:
    result = dy("cp", "box:/nope", str(tmp_path))
    assert (result.code, result.err.strip()) == (1, "Error: No such container:path: box:/nope")
    result = dy("cp", "ghost:/x", str(tmp_path))
    assert (result.code, result.err.strip()) == (1, "Error: No such container:path: ghost:/x")
    result = dy("cp", str(tmp_path / "missing"), "box:/tmp")
    assert result.code == 1 and "no such file or directory" in result.err
    assert dy("cp", "a:/x", "b:/y").err.strip() == "dockyard: copying between containers is not supported"


def test_cp_symlinks_in_the_container_cannot_reach_the_host(dy: Dockyard, tmp_path: Path) -> None:
    dy("exec", "box", "sh", "-c", "ln -s / /evil; ln -s ../../../../../.. /evil2; echo inside > /etc/marker")
    # reading: /evil/etc/shadow is the container's (there is none), never the host's
    result = dy("cp", "box:/evil/etc/shadow", str(tmp_path / "shadow"))
    assert result.code == 1 and not (tmp_path / "shadow").exists()
    assert dy("cp", "box:/evil2/etc/marker", str(tmp_path / "marker")).code == 0
    assert (tmp_path / "marker").read_text() == "inside\n"
    # writing: lands inside the container, not in the host's /tmp
    (tmp_path / "planted").write_text("x\n")
    host_target = Path("/tmp/planted")
    existed = host_target.exists()
    assert dy("cp", str(tmp_path / "planted"), "box:/evil2/tmp/").code == 0
    assert dy("cp", str(tmp_path / "planted"), "box:/evil/tmp/").code == 0
    assert host_target.exists() == existed
    assert dy("exec", "box", "cat", "/tmp/planted").out == "x\n"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_cp_a_tree_with_links_and_setuid_in_and_back_out(dy: Dockyard, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_bytes(b"linked\n")
    os.link(src / "sub" / "f", src / "hard")
    os.symlink("sub/f", src / "link")
    (src / "suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(src / "suid", 0o4755)
    os.chmod(src / "sub", 0o750)
    assert dy("cp", str(src), "box:/tmp/tree").code == 0
    script = "cd /tmp/tree && stat -c '%n %a %u:%g %h' hard sub/f suid sub && readlink link && cat link"
    assert dy("exec", "box", "sh", "-c", script).out.splitlines() == [
        "hard 644 0:0 2", "sub/f 644 0:0 2", "suid 4755 0:0 1", "sub 750 0:0 2", "sub/f", "linked"]  # fmt: skip
    inodes = dy("exec", "box", "stat", "-c", "%i", "/tmp/tree/hard", "/tmp/tree/sub/f").out.split()
    assert len(inodes) == 2 and inodes[0] == inodes[1]

    raw = dy.raw("cp", "box:/tmp/tree", "-")
    with tarfile.open(fileobj=io.BytesIO(raw.stdout)) as tar:
        kinds = {m.name: (m.type, m.linkname) for m in tar}
    assert kinds["tree/sub/f"] == (tarfile.LNKTYPE, "tree/hard")  # the data once, the second name a link
    for dest, args in ((tmp_path / "back", ()), (tmp_path / "dot", ("/.",))):
        if args:
            dest.mkdir()
        assert dy("cp", "box:/tmp/tree" + "".join(args), str(dest)).code == 0
        assert (dest / "hard").read_bytes() == b"linked\n" and os.path.samefile(dest / "hard", dest / "sub" / "f")
        assert os.readlink(dest / "link") == "sub/f" and (dest / "link").read_bytes() == b"linked\n"
        assert (dest / "suid").read_bytes() == b"#!/bin/sh\n"
        assert (_mode(dest / "suid"), _mode(dest / "sub"), _mode(dest / "hard")) == (0o4755, 0o750, 0o644)


def test_exec_tty_gets_a_terminal_of_the_callers_size(dy: Dockyard) -> None:
    require(shutil.which("script") is not None, "script(1) is not installed")
    cli = " ".join(
        [sys.executable, "-m", "dockyard.cli.main", "exec", "-it", "box", "sh", "-c", "'tty; stty size; exit 4'"]
    )
    proc = subprocess.run(["script", "-qec", f"stty rows 40 cols 120; {cli}", "/dev/null"], env=dy.env,
                          capture_output=True, timeout=30, check=False)  # fmt: skip
    out = proc.stdout.decode(errors="replace").replace("\r", "")
    assert proc.returncode == 4 and "/dev/pts/" in out and "40 120" in out
