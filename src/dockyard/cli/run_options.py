"""The resource, limit, device and namespace flags of `run`/`create` (--ulimit, --sysctl, --device, --ipc, --pid,
--env-file, --memory-swap, --cpu-shares, --cpuset-*, --shm-size, --group-add, --oom-*): docker/cli's value syntax
and messages → HostConfig fields of the create body. No I/O except reading --env-file files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from dockyard.cli import parse
from dockyard.errors import InvalidArgument

F = TypeVar("F", bound=Callable[..., Any])
_RLIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
            "rss", "rtprio", "rttime", "sigpending", "stack")  # fmt: skip
_MODES = {"ipc": ("", "private", "shareable", "none", "host"), "pid": ("", "host"), "uts": ("", "host")}
# docker/cli opts.ValidateSysctl: the namespaced sysctls a container may set
_SYSCTL_NAMES = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                 "kernel.shmmni", "kernel.shm_rmid_forced")  # fmt: skip
_SYSCTL_PREFIXES = ("fs.mqueue.", "net.")

RUN_OPTIONS = (
    click.option("--env-file", multiple=True, help="Read in a file of environment variables"),
    click.option("--memory-swap", default=None, help="Swap limit equal to memory plus swap: '-1' unlimited"),
    click.option("--memory-reservation", default=None, help="Memory soft limit"),
    click.option("--memory-swappiness", type=int, default=-1, help="Tune container memory swappiness (0 to 100)"),
    click.option("--oom-kill-disable", is_flag=True, help="Disable OOM Killer"),
    click.option("--oom-score-adj", type=int, default=0, help="Tune host's OOM preferences (-1000 to 1000)"),
    click.option("-c", "--cpu-shares", type=int, default=0, help="CPU shares (relative weight)"),
    click.option("--cpuset-cpus", default="", help="CPUs in which to allow execution (0-3, 0,1)"),
    click.option("--cpuset-mems", default="", help="MEMs in which to allow execution (0-3, 0,1)"),
    click.option("--cpu-period", type=int, default=0, help="Limit CPU CFS (Completely Fair Scheduler) period"),
    click.option("--cpu-quota", type=int, default=0, help="Limit CPU CFS (Completely Fair Scheduler) quota"),
    click.option("--blkio-weight", type=int, default=0, help="Block IO (relative weight), 10 to 1000, or 0"),
    click.option("--shm-size", default=None, help="Size of /dev/shm"),
    click.option("--ulimit", multiple=True, help="Ulimit options"),
    click.option("--sysctl", multiple=True, help="Sysctl options"),
    click.option("--device", multiple=True, help="Add a host device to the container"),
    click.option("--device-cgroup-rule", multiple=True, help="Add a rule to the cgroup allowed devices list"),
    click.option("--ipc", default="", help="IPC mode to use"),
    click.option("--pid", default="", help="PID namespace to use"),
    click.option("--uts", default="", help="UTS namespace to use"),
    click.option("--group-add", multiple=True, help="Add additional groups to join"),
    click.option("--cgroup-parent", default="", help="Optional parent cgroup for the container"),
    click.option("--cgroupns", default="", help="Cgroup namespace to use (host|private)"),
    click.option("--runtime", default="", help="Runtime to use for this container"),
    click.option("--annotation", multiple=True, help="Add an annotation to the container (to the OCI runtime)"),
    click.option("--userns", default="", help="User namespace to use"),
    click.option("--platform", default="", help="Set platform if server is multi-platform capable"),
    click.option("--pull", default="missing", help='Pull image before running ("always", "missing", "never")'),
    click.option("-q", "--quiet", is_flag=True, help="Suppress the pull output"),
    click.option("--label-file", multiple=True, help="Read in a line delimited file of labels"),
    click.option("--domainname", default="", help="Container NIS domain name"),
    click.option("--cidfile", default="", help="Write the container ID to the file"),
)  # fmt: skip


def run_options(func: F) -> F:
    """The resource/namespace flags of `run` and `create`."""
    for option in reversed(RUN_OPTIONS):
        func = option(func)
    return func


def _bad(value: str, flag: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f'invalid argument "{value}" for "{flag}" flag: {reason}')


def _int(text: str, value: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError as err:
        raise _bad(value, flag, f'strconv.ParseInt: parsing "{text}": invalid syntax') from err


def ulimit(value: str) -> dict[str, Any]:
    """go-units ParseUlimit: `name=soft[:hard]`."""
    name, sep, limits = value.partition("=")
    if not sep:
        raise _bad(value, "--ulimit", f"invalid ulimit argument: {value}")
    if name not in _RLIMITS:
        raise _bad(value, "--ulimit", f"invalid ulimit type: {name}")
    parts = limits.split(":")
    if len(parts) > 2:
        raise _bad(
            value, "--ulimit", f"too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
        )
    soft = _int(parts[0], value, "--ulimit")
    hard = _int(parts[1], value, "--ulimit") if len(parts) == 2 else soft
    if soft > hard:
        raise _bad(value, "--ulimit", f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return {"Name": name, "Soft": soft, "Hard": hard}


def sysctl(value: str) -> tuple[str, str]:
    """docker/cli ValidateSysctl: `name=value`, only namespaced sysctls."""
    name, sep, setting = value.partition("=")
    allowed = name in _SYSCTL_NAMES or any(name.startswith(p) for p in _SYSCTL_PREFIXES)
    if not sep or not allowed:
        raise _bad(value, "--sysctl", f"sysctl '{value}' is not allowed")
    return name, setting


def device(value: str) -> dict[str, str]:
    """docker/cli parseDevice: `host[:container][:perms]`."""
    parts = value.split(":")
    perms = "rwm"
    if len(parts) in (2, 3) and _valid_perms(parts[-1]):
        perms = parts.pop()
    if len(parts) == 1:
        parts.append(parts[0])
    if len(parts) != 2 or not parts[0] or not parts[1].startswith("/"):
        if len(parts) == 2 and parts[1] and not parts[1].startswith("/"):
            raise _bad(value, "--device", f"invalid device mode: {parts[1]}")
        raise _bad(value, "--device", f"bad format for path: {value}")
    return {"PathOnHost": parts[0], "PathInContainer": parts[1], "CgroupPermissions": perms}


def _valid_perms(text: str) -> bool:
    return bool(text) and not set(text) - set("rwm") and len(set(text)) == len(text)


def device_cgroup_rule(value: str) -> str:
    if not re.fullmatch(r"[acb] (\d+|\*):(\d+|\*) [rwm]{1,3}", value):
        raise _bad(value, "--device-cgroup-rule", f"invalid device cgroup format '{value}'")
    return value


def namespace_mode(kind: str, value: str) -> str:
    """--ipc/--pid/--uts: the modes Docker accepts (container:<name> for ipc and pid)."""
    if value in _MODES[kind] or (kind != "uts" and value.startswith("container:") and value != "container:"):
        return value
    raise InvalidArgument(f"--{kind}: invalid {kind.upper()} mode")


def env_file(path: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """docker/cli ReadKVEnvStrings: `#` comments and blank lines skipped; bare KEY taken from our environment."""
    env = os.environ if environ is None else environ
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise InvalidArgument(f"open {path}: {(err.strerror or str(err)).lower()}") from err
    out = []
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        line = line.removeprefix("\ufeff") if number == 1 else line
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, _ = stripped.partition("=")
        if any(c.isspace() for c in key):
            raise InvalidArgument(f"variable '{key}' contains whitespaces")
        if not key:
            raise InvalidArgument(f"no variable name on line '{line}'")
        if sep:
            out.append(stripped)
        elif key in env:
            out.append(f"{key}={env[key]}")
    return out


def security_opts(values: tuple[str, ...]) -> tuple[str, ...]:
    """docker/cli parseSecurityOpts: `seccomp=<file>` becomes `seccomp=<the file's JSON, compacted>` (the daemon
    never reads client files); `unconfined` and `builtin` are names, not files."""
    out = []
    for value in values:
        key, sep, path = value.partition("=")
        if key == "seccomp" and sep and path not in ("unconfined", "builtin"):
            try:
                with open(path, "rb") as f:
                    raw = f.read()
            except OSError as err:
                raise InvalidArgument(
                    f"opening seccomp profile ({path}) failed: open {path}: {(err.strerror or str(err)).lower()}"
                ) from err
            try:
                profile = json.loads(raw)
            except ValueError as err:
                raise InvalidArgument(f"compacting json for seccomp profile ({path}) failed: {err}") from err
            value = "seccomp=" + json.dumps(profile, separators=(",", ":"), ensure_ascii=False)
        out.append(value)
    return tuple(out)


def host_platform() -> str:
    import platform

    machine = platform.machine()
    return f"linux/{ {'x86_64': 'amd64', 'aarch64': 'arm64'}.get(machine, machine) }"


def check_image_flags(opts: Mapping[str, Any]) -> None:
    """--pull, --platform, --userns, --cgroupns: what dockyard can honour, else docker's message."""
    if opts["pull"] not in ("always", "missing", "never"):
        raise InvalidArgument(f'invalid pull option: \'{opts["pull"]}\': must be one of "always", "missing" or "never"')
    if opts["pull"] == "always":
        raise InvalidArgument("--pull always: dockyard has no registry client yet; use --pull missing or never")
    wanted = opts["platform"].lower()
    if wanted and wanted not in (host_platform(), host_platform().partition("/")[0]):
        raise InvalidArgument(f"image platform `{opts['platform']}`: only the host's ({host_platform()}) is supported")
    if opts["userns"] not in ("", "host"):
        raise InvalidArgument("--userns: invalid USER mode")
    if opts["cgroupns"] not in ("", "host", "private"):
        raise InvalidArgument("--cgroupns: invalid CGROUP mode")


def annotation_map(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key or not sep:
            raise _bad(value, "--annotation", f"bad format for annotation: {value}")
        out[key] = val
    return out


def label_files(paths: tuple[str, ...]) -> dict[str, str]:
    """docker/cli ReadKVStrings for --label-file: like --env-file, but a bare key is a label with an empty value."""
    out: dict[str, str] = {}
    for path in paths:
        for entry in env_file(path, {}) + _bare_keys(path):
            key, _, value = entry.partition("=")
            out[key] = value
    return out


def _bare_keys(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [
            f"{k}="
            for k in (line.strip().removeprefix("\ufeff") for line in f)
            if k and not k.startswith("#") and "=" not in k
        ]


def _size(value: str | None, flag: str, *, allow_unlimited: bool = False) -> int:
    if value is None or value == "":
        return 0
    if allow_unlimited and value == "-1":
        return -1
    try:
        return parse.ram_in_bytes(value, flag)
    except InvalidArgument as err:
        raise _bad(value, flag, f"invalid size: '{value}'") from err


def create_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The flags above → CreateOptions keyword arguments (`env_file` entries and `host_config_extra`)."""
    check_image_flags(opts)
    env: list[str] = []
    for path in opts["env_file"]:
        env += env_file(path)
    sysctls = dict(sysctl(v) for v in opts["sysctl"])
    hc: dict[str, Any] = {
        "MemorySwap": _size(opts["memory_swap"], "--memory-swap", allow_unlimited=True),
        "MemoryReservation": _size(opts["memory_reservation"], "--memory-reservation"),
        "MemorySwappiness": opts["memory_swappiness"],  # -1 unset, as the docker CLI sends it
        "OomKillDisable": opts["oom_kill_disable"],
        "OomScoreAdj": opts["oom_score_adj"],
        "CpuShares": opts["cpu_shares"],
        "CpusetCpus": opts["cpuset_cpus"],
        "CpusetMems": opts["cpuset_mems"],
        "CpuPeriod": opts["cpu_period"],
        "CpuQuota": opts["cpu_quota"],
        "BlkioWeight": opts["blkio_weight"],
        "ShmSize": _size(opts["shm_size"], "--shm-size"),
        "Ulimits": [ulimit(v) for v in opts["ulimit"]],
        "Sysctls": sysctls or None,
        "Devices": [device(v) for v in opts["device"]],
        "DeviceCgroupRules": [device_cgroup_rule(v) for v in opts["device_cgroup_rule"]] or None,
        "IpcMode": namespace_mode("ipc", opts["ipc"]),
        "PidMode": namespace_mode("pid", opts["pid"]),
        "UTSMode": namespace_mode("uts", opts["uts"]),
        "GroupAdd": list(opts["group_add"]) or None,
        "CgroupParent": opts["cgroup_parent"],
        "CgroupnsMode": opts["cgroupns"],
        "Runtime": opts["runtime"],
        "Annotations": annotation_map(opts["annotation"]) or None,
        "UsernsMode": opts["userns"],
    }
    config = {"Labels": label_files(opts["label_file"]), "Domainname": opts["domainname"]}
    return {"env_file": tuple(env), "host_config_extra": hc, "config_extra": config}


UPDATE_OPTIONS = (
    click.option("--memory-reservation", default=None, help="Memory soft limit"),
    click.option("--cpuset-cpus", default=None, help="CPUs in which to allow execution (0-3, 0,1)"),
    click.option("--cpuset-mems", default=None, help="MEMs in which to allow execution (0-3, 0,1)"),
    click.option("--cpu-period", default=None, help="Limit CPU CFS (Completely Fair Scheduler) period"),
    click.option("--cpu-quota", default=None, help="Limit CPU CFS (Completely Fair Scheduler) quota"),
)


def update_options(func: F) -> F:
    """The `update` flags of this module (the others are in cli/containers_info.py)."""
    for option in reversed(UPDATE_OPTIONS):
        func = option(func)
    return func


def update_fields(opts: Mapping[str, str | None]) -> dict[str, Any]:
    """The flags above → POST /containers/{id}/update fields (only those given)."""
    body: dict[str, Any] = {}
    if opts.get("memory_reservation") is not None:
        body["MemoryReservation"] = _size(opts["memory_reservation"], "--memory-reservation")
    for flag, key in (("cpuset_cpus", "CpusetCpus"), ("cpuset_mems", "CpusetMems")):
        if opts.get(flag) is not None:
            body[key] = opts[flag]
    for flag, key in (("cpu_period", "CpuPeriod"), ("cpu_quota", "CpuQuota")):
        value = opts.get(flag)
        if value is not None:
            body[key] = _int(value, value, "--" + flag.replace("_", "-"))
    return body


class CidFile:
    """docker's --cidfile: claimed before the create (refused when it exists), the id written after it, removed
    again when the create failed (docker/cli container/create.go cidFile)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        if not path:
            return
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError as err:
            raise InvalidArgument(
                f"container ID file found, make sure the other container isn't running or delete {path}"
            ) from err
        except OSError as err:
            raise InvalidArgument(f"failed to create the container ID file: {err.strerror}: {path}") from err

    def write(self, container_id: str) -> None:
        if self.fd >= 0:
            os.write(self.fd, container_id.encode())
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            with contextlib.suppress(OSError):
                os.unlink(self.path)
