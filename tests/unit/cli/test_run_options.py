"""cli/run_options.py: docker/cli's value syntax and messages for the resource/namespace flags of run/create."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dockyard.cli import run_options as ro
from dockyard.cli.commands import run
from dockyard.client.client import CreateOptions
from dockyard.errors import InvalidArgument


def test_ulimit_soft_and_hard() -> None:
    assert ro.ulimit("nofile=1024:2048") == {"Name": "nofile", "Soft": 1024, "Hard": 2048}
    assert ro.ulimit("nproc=10") == {"Name": "nproc", "Soft": 10, "Hard": 10}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("nofile", "invalid ulimit argument: nofile"),
        ("bogus=1", "invalid ulimit type: bogus"),
        ("nofile=1:2:3", "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"),
        ("nofile=x", 'strconv.ParseInt: parsing "x": invalid syntax'),
        ("nofile=20:10", "ulimit soft limit must be less than or equal to hard limit: 20 > 10"),
    ],
)
def test_ulimit_errors_are_dockers(value: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        ro.ulimit(value)
    assert str(err.value) == f'invalid argument "{value}" for "--ulimit" flag: {reason}'


def test_sysctl_namespaced_only() -> None:
    assert ro.sysctl("net.ipv4.ip_forward=1") == ("net.ipv4.ip_forward", "1")
    assert ro.sysctl("kernel.shmmax=100") == ("kernel.shmmax", "100")
    for bad in ("kernel.hostname=x", "vm.swappiness=1", "net.ipv4.ip_forward"):
        with pytest.raises(InvalidArgument) as err:
            ro.sysctl(bad)
        assert str(err.value) == f'invalid argument "{bad}" for "--sysctl" flag: sysctl \'{bad}\' is not allowed'


def test_device_forms() -> None:
    assert ro.device("/dev/fuse") == {
        "PathOnHost": "/dev/fuse",
        "PathInContainer": "/dev/fuse",
        "CgroupPermissions": "rwm",
    }
    assert ro.device("/dev/fuse:/dev/fuse:rwm")["CgroupPermissions"] == "rwm"
    assert ro.device("/dev/null:/dev/mynull")["PathInContainer"] == "/dev/mynull"
    assert ro.device("/dev/null:r") == {
        "PathOnHost": "/dev/null",
        "PathInContainer": "/dev/null",
        "CgroupPermissions": "r",
    }


def test_device_errors() -> None:
    with pytest.raises(InvalidArgument, match='"--device" flag: invalid device mode: xyz'):
        ro.device("/dev/null:xyz")
    with pytest.raises(InvalidArgument, match='"--device" flag: bad format for path: /a:/b:rw:x'):
        ro.device("/a:/b:rw:x")


def test_namespace_modes() -> None:
    for mode in ("", "private", "shareable", "none", "host", "container:db"):
        assert ro.namespace_mode("ipc", mode) == mode
    assert ro.namespace_mode("pid", "container:db") == "container:db"
    for kind, bad in (("ipc", "bogus"), ("pid", "private"), ("uts", "container:x"), ("pid", "container:")):
        with pytest.raises(InvalidArgument) as err:
            ro.namespace_mode(kind, bad)
        assert str(err.value) == f"--{kind}: invalid {kind.upper()} mode"


def test_env_file_comments_blank_lines_and_bare_keys(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("\ufeff# comment\n\nA=1\n   B=two words\nHOME\nUNSET_X\n  # indented comment\nC=\n")
    assert ro.env_file(str(path), {"HOME": "/root"}) == ["A=1", "B=two words", "HOME=/root", "C="]


def test_env_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as err:
        ro.env_file(str(tmp_path / "missing"))
    assert str(err.value) == f"open {tmp_path}/missing: no such file or directory"
    bad = tmp_path / "bad"
    bad.write_text("A B=1\n")
    with pytest.raises(InvalidArgument, match="variable 'A B' contains whitespaces"):
        ro.env_file(str(bad))


def _options(args: list[str]) -> CreateOptions:
    seen: dict[str, Any] = {}

    def capture(image: str, command: tuple[str, ...], **opts: Any) -> int:
        from dockyard.cli.commands import _create_options

        seen["options"] = _create_options(image, command, opts, detach=True)
        return 0

    command = run.__class__(run.name, callback=capture, params=run.params, context_settings=run.context_settings)
    result = CliRunner().invoke(command, [*args, "-d", "busybox"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen["options"]  # type: ignore[no-any-return]


def test_flags_reach_the_create_body(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text("A=from-file\n")
    body = _options(["--env-file", str(env), "-e", "A=flag", "--ulimit", "nofile=10:20", "--sysctl",
                     "net.core.somaxconn=1024", "--device", "/dev/null:/dev/mynull:r", "--ipc", "shareable",
                     "--pid", "host", "-m", "64m", "--memory-swap", "-1", "--memory-reservation", "32m",
                     "--cpu-shares", "512", "--cpuset-cpus", "0", "--shm-size", "64m", "--group-add", "audio",
                     "--oom-score-adj", "100", "--device-cgroup-rule", "c 1:3 r"]).to_json()  # fmt: skip
    hc = body["HostConfig"]
    assert body["Env"] == ["A=from-file", "A=flag"]  # the file first, -e after (and so winning)
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert hc["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert hc["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "r"}]
    assert (hc["IpcMode"], hc["PidMode"], hc["UTSMode"]) == ("shareable", "host", "")
    assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"]) == (64 << 20, -1, 32 << 20)
    assert (hc["CpuShares"], hc["CpusetCpus"], hc["ShmSize"]) == (512, "0", 64 << 20)
    assert (hc["GroupAdd"], hc["OomScoreAdj"], hc["DeviceCgroupRules"]) == (["audio"], 100, ["c 1:3 r"])


def test_defaults_send_dockers_empty_values() -> None:
    hc = _options([]).to_json()["HostConfig"]
    # as docker CLI 28 sends them (/work/shared/ref)
    assert hc["Ulimits"] == [] and hc["Sysctls"] is None and hc["Devices"] == []
    assert hc["MemorySwappiness"] == -1 and hc["MemorySwap"] == 0 and hc["IpcMode"] == ""


def test_bad_size_names_the_flag() -> None:
    with pytest.raises(InvalidArgument) as err:
        _options(["--shm-size", "lots"])
    assert str(err.value) == 'invalid argument "lots" for "--shm-size" flag: invalid size: \'lots\''


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ulimit", "nofile"], 'invalid argument "nofile" for "--ulimit" flag: invalid ulimit argument: nofile'),
        (["--ipc", "bogus"], "--ipc: invalid IPC mode"),
        (["--pid", "private"], "--pid: invalid PID mode"),
        (["--sysctl", "vm.x=1"], 'invalid argument "vm.x=1" for "--sysctl" flag: sysctl \'vm.x=1\' is not allowed'),
        (["--memory-swap", "x"], 'invalid argument "x" for "--memory-swap" flag: invalid size: \'x\''),
    ],
)
def test_bad_values_exit_125_before_any_daemon_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from dockyard.cli.main import main

    for var in ("DOCKYARD_HOST", "DOCKER_HOST", "DOCKYARD_DATA_ROOT", "DOCKYARD_EXEC_ROOT"):
        monkeypatch.delenv(var, raising=False)
    for verb in ("run", "create"):
        with pytest.raises(SystemExit) as info:
            main(["--data-root", str(tmp_path), verb, *args, "busybox"])
        assert info.value.code == 125
        assert capsys.readouterr().err.splitlines()[0] == f"dockyard: {message}"
    assert not (tmp_path / "containers").exists() or not any((tmp_path / "containers").iterdir())


def test_label_file_and_domainname_reach_config(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.write_text("# c\na=from-file\nbare\nb=file\n")
    body = _options(["--label-file", str(labels), "-l", "b=flag", "--domainname", "example.org"]).to_json()
    assert body["Labels"] == {"a": "from-file", "bare": "", "b": "flag"}  # -l wins over the file
    assert body["Domainname"] == "example.org"


def test_cgroupns_runtime_annotation_userns_reach_host_config() -> None:
    hc = _options(["--cgroupns", "private", "--runtime", "runc", "--annotation", "a.b=c", "--userns", "host",
                   "--pull", "never", "--platform", "linux", "-q"]).to_json()["HostConfig"]  # fmt: skip
    assert (hc["CgroupnsMode"], hc["Runtime"], hc["Annotations"], hc["UsernsMode"]) == (
        "private", "runc", {"a.b": "c"}, "host")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pull", "sometimes"],
         "invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\""),
        (["--pull", "always"], "--pull always: dockyard has no registry client yet; use --pull missing or never"),
        (["--platform", "linux/s390x"],
         f"image platform `linux/s390x`: only the host's ({ro.host_platform()}) is supported"),
        (["--userns", "remap"], "--userns: invalid USER mode"),
        (["--cgroupns", "x"], "--cgroupns: invalid CGROUP mode"),
        (["--annotation", "novalue"],
         'invalid argument "novalue" for "--annotation" flag: bad format for annotation: novalue'),
    ],
)  # fmt: skip
def test_image_and_namespace_flag_errors(args: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        _options(args)
    assert str(err.value) == message


def test_update_fields() -> None:
    opts = {"memory_reservation": "10m", "cpuset_cpus": "1", "cpuset_mems": None, "cpu_period": "50000",
            "cpu_quota": None}  # fmt: skip
    assert ro.update_fields(opts) == {"MemoryReservation": 10 << 20, "CpusetCpus": "1", "CpuPeriod": 50000}
    with pytest.raises(InvalidArgument, match='"--cpu-quota" flag: strconv.ParseInt: parsing "x": invalid syntax'):
        ro.update_fields({"cpu_quota": "x"})


def test_cidfile_claimed_written_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "cid"
    claimed = ro.CidFile(str(path))
    claimed.write("abc")
    assert path.read_text() == "abc"
    with pytest.raises(InvalidArgument) as exists:
        ro.CidFile(str(path))
    assert exists.value.message == (
        f"container ID file found, make sure the other container isn't running or delete {path}"
    )
    missing_dir = tmp_path / "nodir" / "cid"
    with pytest.raises(InvalidArgument) as unwritable:
        ro.CidFile(str(missing_dir))
    assert (
        unwritable.value.message == f"failed to create the container ID file: No such file or directory: {missing_dir}"
    )
    dropped = ro.CidFile(str(tmp_path / "dropped"))
    dropped.discard()
    assert not (tmp_path / "dropped").exists()
