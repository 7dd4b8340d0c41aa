"""The observing and maintenance verbs end to end: ps, inspect, top, stats, diff, export, update, rename, commit,
container prune, events, system df and prune — output as docker prints it and the container's real state."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _harness import Dockyard, make_root, wait_for

pytestmark = pytest.mark.privileged
HEADER = "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("dockyard-info"))


@pytest.fixture
def dy(root: Path) -> Iterator[Dockyard]:
    d = Dockyard(root, universal_newlines=False)
    yield d
    d.cleanup()
    assert d.leftovers() == []


def run_d(dy: Dockyard, *args: str) -> str:
    result = dy("run", "-d", *args)
    assert result.code == 0, result.err
    return result.out.strip()


def exited(dy: Dockyard, ref: str) -> bool:
    return dy("inspect", "-f", "{{.State.Status}}", ref).out.strip() == "exited"


def test_ps_table_quiet_and_filters(dy: Dockyard) -> None:
    assert dy("ps").out == HEADER + "\n"
    web = run_d(dy, "--name", "web", "-l", "tier=front", "busybox", "sleep", "300")
    done = run_d(dy, "--name", "done", "busybox", "sh", "-c", "exit 3")
    assert wait_for(lambda: exited(dy, "done"))
    lines = dy("ps").out.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert len(lines) == 2 and lines[1].startswith(web[:12] + '   busybox   "sleep 300"')
    assert re.search(r"Up (Less than a second|\d+ seconds?)\s+web$", lines[1])
    assert set(dy("ps", "-aq").out.split()) == {web[:12], done[:12]}
    assert dy("ps", "-q", "--no-trunc").out == web + "\n"
    assert dy("ps", "-a", "-f", "status=exited", "--format", "{{.Names}} {{.Status}}").out.startswith(
        "done Exited (3) "
    )
    assert dy("ps", "-a", "-f", "exited=3", "-q").out == done[:12] + "\n"
    assert dy("ps", "-a", "-f", "label=tier=front", "-q").out == web[:12] + "\n"
    assert dy("ps", "-a", "-f", "name=^/do", "-q").out == done[:12] + "\n"
    assert dy("ps", "-a", "-f", f"id={web[:6]}", "-q").out == web[:12] + "\n"
    assert dy("ps", "-a", "-f", "ancestor=busybox", "-q").out.split() == [done[:12], web[:12]]
    assert dy("ps", "-a", "-f", "before=done", "-q").out == web[:12] + "\n"
    assert dy("ps", "-a", "-f", "since=web", "-q").out == done[:12] + "\n"
    assert dy("ps", "-l", "-q").out == done[:12] + "\n"
    assert dy("ps", "-n", "2", "-q").out.split() == [done[:12], web[:12]]


def test_ps_formats_and_size(dy: Dockyard) -> None:
    cid = run_d(dy, "--name", "fmt", "busybox", "sh", "-c", "echo 12345 > /f; sleep 300")
    rows = [json.loads(line) for line in dy("ps", "--format", "json").out.splitlines()]
    assert rows[0]["Names"] == "fmt" and rows[0]["ID"] == cid[:12] and rows[0]["State"] == "running"
    assert set(rows[0]) >= {"Command", "CreatedAt", "ID", "Image", "Labels", "Names", "Ports", "RunningFor", "Status"}
    table = dy("ps", "--format", "table {{.Names}}\t{{.State}}").out.splitlines()
    assert table == ["NAMES     STATE", "fmt       running"]
    assert wait_for(lambda: "6B (virtual" in dy("ps", "-s").out)
    assert dy("ps", "-s").out.splitlines()[0].endswith("NAMES     SIZE")


def test_ps_bad_input(dy: Dockyard) -> None:
    result = dy("ps", "-f", "x=1")
    assert (result.code, result.err.strip()) == (1, "dockyard: Error response from daemon: invalid filter 'x'")
    result = dy("ps", "-f", "novalue")
    assert result.code == 125 and "bad format of filter (expected name=value)" in result.err
    result = dy("ps", "--format", "{{.Nope")  # docker ps checks the template first: exit 1, its own wording
    assert result.code == 1 and "failed to parse template: template: :1: unclosed action" in result.err
    result = dy("ps", "--format", "{{.Nope}}")
    want = 'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext'
    assert result.code == 1 and f"failed to execute template: {want}" in result.err


def test_inspect_shapes_templates_and_missing(dy: Dockyard) -> None:
    cid = run_d(dy, "--name", "insp", "-m", "64m", "busybox", "sleep", "300")
    doc = json.loads(dy("inspect", "insp").out)[0]
    assert doc["Id"] == cid and doc["Name"] == "/insp" and doc["State"]["Running"] and doc["State"]["Pid"] > 0
    assert doc["HostConfig"]["Memory"] == 64 << 20 and doc["HostConfig"]["MemorySwap"] == 128 << 20
    assert doc["Config"]["Cmd"] == ["sleep", "300"] and doc["GraphDriver"]["Name"] == "overlay2"
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    out = dy("inspect", "-f", "{{.State.Status}} {{.Name}} {{json .Config.Cmd}}", "insp").out
    assert out == 'running /insp ["sleep","300"]\n'
    both = dy("inspect", "insp", "nope")
    assert both.code == 1 and both.err.strip() == "Error: No such object: nope"
    assert [d["Id"] for d in json.loads(both.out)] == [cid]
    sized = json.loads(dy("inspect", "-s", "--type", "container", "insp").out)[0]
    assert sized["SizeRootFs"] >= sized["SizeRw"] >= 0
    assert dy("inspect", "--type", "container", "busybox").err.strip() == "Error: No such container: busybox"
    image = json.loads(dy("inspect", "busybox").out)
    assert image and image[0]["Id"].startswith("sha256:")
    bad = dy("inspect", "-f", "{{.Nope.Deeper}}", "insp")
    assert bad.code == 1 and "template parsing error" in bad.err


def test_top(dy: Dockyard) -> None:
    run_d(dy, "--name", "top", "busybox", "sh", "-c", "sleep 301 & sleep 302")
    assert wait_for(lambda: "sleep 301" in dy("top", "top").out)
    lines = dy("top", "top").out.splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert lines[0].startswith("UID                 PID")
    assert {line.split(None, 7)[-1] for line in lines[1:]} >= {"sleep 301", "sleep 302"}
    custom = dy("top", "top", "-o", "pid,comm").out.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"] and {line.split()[1] for line in custom[1:]} >= {"sleep"}
    stopped = run_d(dy, "busybox", "true")
    assert wait_for(lambda: exited(dy, stopped))
    result = dy("top", stopped)
    assert (result.code, result.err.strip()) == (
        1,
        f"dockyard: Error response from daemon: Container {stopped} is not running",
    )


def test_stats(dy: Dockyard) -> None:
    cid = run_d(dy, "--name", "st", "-m", "64m", "busybox", "sh", "-c", "sleep 300")
    out = dy("stats", "--no-stream", "st").out.splitlines()
    assert out[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
                              "NET", "I/O", "BLOCK", "I/O", "PIDS"]  # fmt: skip
    cells = re.split(r"\s{3,}", out[1])
    assert cells[0] == cid[:12] and cells[1] == "st" and cells[2].endswith("%")
    assert cells[3].endswith(" / 64MiB") and cells[-1] == "1"
    formatted = dy("stats", "--no-stream", "--no-trunc", "--format", "{{.ID}} {{.Name}} {{.PIDs}}", "st").out
    assert formatted == f"{cid} st 1\n"
    missing = dy("stats", "--no-stream", "nope")
    assert (missing.code, missing.err.strip()) == (1, "dockyard: Error response from daemon: No such container: nope")
    with pytest.raises(subprocess.TimeoutExpired) as info:  # the live view runs until killed
        dy("stats", "st", timeout=2.5)
    streamed = info.value.stdout or b""
    assert streamed.count(b"\x1b[2J\x1b[H") >= 2 and b"CONTAINER ID" in streamed


def test_diff_export_and_commit(dy: Dockyard, tmp_path: Path) -> None:
    run_d(dy, "--name", "chg", "busybox", "sh", "-c", "mkdir /tmp/d && echo x > /tmp/d/f && rm /bin/ls && sleep 300")
    assert wait_for(lambda: "D /bin/ls" in dy("diff", "chg").out)
    assert dy("diff", "chg").out == "C /bin\nD /bin/ls\nC /tmp\nA /tmp/d\nA /tmp/d/f\n"
    assert dy("export", "-o", str(tmp_path / "exp.tar"), "chg").code == 0
    with tarfile.open(tmp_path / "exp.tar") as tar:
        names = set(tar.getnames())
        assert "tmp/d/f" in names and "bin/ls" not in names and "bin/sh" in names
        assert tar.extractfile("tmp/d/f").read() == b"x\n"  # type: ignore[union-attr]
    piped = dy.raw("export", "chg")
    with tarfile.open(fileobj=io.BytesIO(piped.stdout)) as tar:
        assert "tmp/d/f" in tar.getnames()
    committed = dy("commit", "-m", "msg", "-a", "me", "-c", "ENV FOO=bar", "-c", 'CMD ["cat", "/tmp/d/f"]', "chg",
                   "snap:v1")  # fmt: skip
    assert committed.code == 0 and re.fullmatch(r"sha256:[0-9a-f]{64}\n", committed.out)
    ran = dy("run", "--rm", "snap:v1")
    assert (ran.code, ran.out) == (0, "x\n")
    assert dy("run", "--rm", "snap:v1", "sh", "-c", "echo $FOO; ls /bin/ls").out == "bar\n"
    meta = json.loads(dy("inspect", "snap:v1").out)[0]
    assert meta["Config"]["Env"][-1] == "FOO=bar" and meta["Author"] == "me"
    assert dy("diff", "nope").err.strip() == "dockyard: Error response from daemon: No such container: nope"


def test_update_applies_live_and_persists(dy: Dockyard) -> None:
    cid = run_d(dy, "--name", "upd", "busybox", "sleep", "300")
    result = dy("update", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "--cpu-shares", "512",
                "--restart", "on-failure:3", "upd")  # fmt: skip
    assert (result.code, result.out) == (0, "upd\n")
    cg = Path("/sys/fs/cgroup")
    if (cg / "memory").is_dir():
        assert (cg / "memory/dockyard" / cid / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        assert (cg / "cpu/dockyard" / cid / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (cg / "pids/dockyard" / cid / "pids.max").read_text().strip() == "50"
    fmt = "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}} "
    fmt += "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
    assert dy("inspect", "-f", fmt, "upd").out == f"{64 << 20} 500000000 50 512 on-failure:3\n"
    too_big = dy("update", "--memory", "512m", "upd")
    assert too_big.code == 1 and "Memory limit should be smaller than already set memoryswap limit" in too_big.err
    assert "Minimum memory limit allowed is 6MB" in dy("update", "--memory", "1k", "upd").err
    missing = dy("update", "--memory", "64m", "nope")
    assert (missing.code, missing.err.strip()) == (1, "dockyard: Error response from daemon: No such container: nope")
    assert dy("update", "--memory", "12x", "upd").code == 125
    assert dy("update", "upd").code == 125


def test_rename(dy: Dockyard) -> None:
    run_d(dy, "--name", "old", "busybox", "sleep", "300")
    run_d(dy, "--name", "other", "busybox", "sleep", "300")
    assert dy("rename", "old", "new").code == 0
    assert set(dy("ps", "--format", "{{.Names}}").out.split()) == {"new", "other"}
    taken = dy("rename", "new", "other")
    assert taken.code == 1 and 'The container name "/other" is already in use' in taken.err
    assert "Renaming a container with the same name" in dy("rename", "new", "new").err
    assert "No such container: ghost" in dy("rename", "ghost", "x").err


def test_container_prune_and_system(dy: Dockyard) -> None:
    keep = run_d(dy, "busybox", "sleep", "300")
    gone = run_d(dy, "-l", "drop=1", "busybox", "true")
    kept_stopped = run_d(dy, "busybox", "true")
    assert wait_for(lambda: exited(dy, gone) and exited(dy, kept_stopped))
    result = dy("container", "prune", "-f", "--filter", "label=drop=1")
    assert result.out == f"Deleted Containers:\n{gone}\n\nTotal reclaimed space: 0B\n"
    df = dy("system", "df").out.splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[2].split()[:3] == ["Containers", "2", "1"] and df[1].startswith("Images ")
    assert [line.split()[0] for line in df[1:]] == ["Images", "Containers", "Local", "Build"]
    verbose = dy("system", "df", "-v").out
    assert "Images space usage:" in verbose and keep[:12] in verbose and "Build cache usage: 0B" in verbose
    prompt = dy("container", "prune", stdin="n\n")
    assert "Are you sure you want to continue? [y/N]" in prompt.out and kept_stopped[:12] in dy("ps", "-aq").out
    pruned = dy("system", "prune", "-f")
    assert pruned.code == 0 and kept_stopped in pruned.out and pruned.out.endswith("Total reclaimed space: 0B\n")
    assert dy("ps", "-aq").out == keep[:12] + "\n"
    assert dy("container", "prune", "-f", "--filter", "bogus=1").err.strip() == (
        "dockyard: Error response from daemon: invalid filter 'bogus'"
    )


def test_events(dy: Dockyard) -> None:
    cid = run_d(dy, "--name", "ev", "busybox", "true")
    assert wait_for(lambda: exited(dy, "ev"))
    dy("rename", "ev", "ev2")
    out = dy("events", "--since", "1m", "--until", "0s", "-f", f"container={cid}").out.splitlines()
    actions = [line.split()[2] for line in out]
    assert actions[:1] == ["create"] and "start" in actions and "die" in actions and "rename" in actions
    die = next(line for line in out if " die " in line)
    assert re.fullmatch(rf"\S+Z container die {cid} \(exitCode=0, image=busybox, name=ev\)", die)
    fmt = dy("events", "--since", "1m", "--until", "0s", "-f", "event=rename", "--format",
             "{{.Type}} {{.Action}} {{.Actor.Attributes.oldName}}")  # fmt: skip
    assert fmt.out.splitlines()[-1] == "container rename /ev"
    as_json = json.loads(dy("events", "--since", "1m", "--until", "0s", "-f", "event=rename", "--format", "json")
                         .out.splitlines()[-1])  # fmt: skip
    assert as_json["Actor"]["ID"] == cid and as_json["status"] == "rename" and as_json["Type"] == "container"
    assert dy("events", "--since", "1m", "--until", "0s", "-f", "type=image", "-f", "event=rename").out == ""
    bad = dy("events", "--since", "1m", "--until", "0s", "-f", "nope=1")
    assert (bad.code, bad.err.strip()) == (1, "dockyard: Error response from daemon: invalid filter 'nope'")


def test_events_of_stop_kill_restart_and_inspection_verbs(dy: Dockyard, tmp_path: Path) -> None:
    cid = run_d(dy, "--name", "evs", "busybox", "sleep", "600")
    assert dy("top", "evs").code == 0
    (tmp_path / "f").write_text("x")
    assert dy("cp", str(tmp_path / "f"), "evs:/tmp/f").code == 0
    assert dy("cp", "evs:/tmp/f", str(tmp_path / "back")).code == 0
    assert dy("export", "-o", str(tmp_path / "fs.tar"), "evs").code == 0
    assert dy("restart", "-t", "1", "evs").code == 0  # sleep ignores SIGTERM as pid 1: killed after 1 s
    assert dy("kill", "evs").code == 0
    out = dy("events", "--since", "2m", "--until", "0s", "-f", f"container={cid}", "--format", "json").out
    events = [json.loads(line) for line in out.splitlines()]
    actions = [f"{e['Action']} {e['Actor']['Attributes'].get('signal', '')}".strip() for e in events]
    assert actions[:2] == ["create", "start"]
    for action in ("top", "extract-to-dir", "archive-path", "export"):
        assert action in actions, actions
    restart = actions[actions.index("export") + 1 :]
    assert restart[:6] == ["kill 15", "kill 9", "die", "stop", "start", "restart"], restart
    assert restart[6:] == ["kill 9", "die"], restart
