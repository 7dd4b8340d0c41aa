"""The run_options HostConfig fields → OCI spec parts: rlimits, sysctls, devices and their cgroup rules, memory/cpu/
blkio resources, namespace modes, /dev/shm (size, shared), additional gids, cgroupsPath. Only host access: stat of
--device paths (injected `stat` for tests); no mounts, no processes.
"""

from __future__ import annotations

import os
import stat as st
from collections.abc import Callable
from typing import Any

from dockyard.engine.records import ContainerRecord, HostConfig
from dockyard.engine.rootfs import shm_dir
from dockyard.errors import Conflict, InvalidArgument, Unsupported
from dockyard.oci.model import replace
from dockyard.oci.runtime_spec import BlockIO, Cpu, Device, DeviceRule, Memory, Mount, Resources, Rlimit, Spec

Stat = Callable[[str], os.stat_result]
PidOf = Callable[[str, str], int]  # (namespace type, container ref) → the pid of that container's init
SHM_DEFAULT = 64 << 20


def rlimits(hc: HostConfig) -> tuple[Rlimit, ...]:
    return tuple(Rlimit(type=f"RLIMIT_{u.name.upper()}", soft=u.soft, hard=u.hard) for u in hc.ulimits)


def devices(hc: HostConfig, stat: Stat = os.stat) -> tuple[tuple[Device, ...], tuple[DeviceRule, ...]]:
    """--device: the node to create and its allow rule (moby devicesFromPath; a directory is not supported yet)."""
    nodes, rules = [], []
    for d in hc.devices:
        try:
            info = stat(d.path_on_host)
        except OSError as err:
            message = (err.strerror or str(err)).lower()
            raise InvalidArgument(f"error gathering device information while adding custom device "
                                  f"\"{d.path_on_host}\": {message}") from err  # fmt: skip
        kind = "c" if st.S_ISCHR(info.st_mode) else "b" if st.S_ISBLK(info.st_mode) else ""
        if not kind:
            raise InvalidArgument(f"error gathering device information while adding custom device "
                                  f"\"{d.path_on_host}\": not a device node")  # fmt: skip
        major, minor = os.major(info.st_rdev), os.minor(info.st_rdev)
        nodes.append(Device(path=d.path_in_container, type=kind, major=major, minor=minor,
                            file_mode=st.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid))  # fmt: skip
        rules.append(DeviceRule(allow=True, type=kind, major=major, minor=minor, access=d.cgroup_permissions))
    for text in hc.device_cgroup_rules:
        rule_type, numbers, access = text.split(" ")
        high, _, low = numbers.partition(":")
        rules.append(DeviceRule(allow=True, type=rule_type, major=None if high == "*" else int(high),
                                minor=None if low == "*" else int(low), access=access))  # fmt: skip
    return tuple(nodes), tuple(rules)


def resources(base: Resources, hc: HostConfig, rules: tuple[DeviceRule, ...]) -> Resources:
    memory = base.memory
    fields: dict[str, Any] = {}
    if hc.memory > 0 and hc.memory_swap == -1:
        fields["swap"] = -1
    if hc.memory_reservation:
        fields["reservation"] = hc.memory_reservation
    if hc.memory_swappiness != -1:
        fields["swappiness"] = hc.memory_swappiness
    if hc.oom_kill_disable:
        fields["disable_oom_killer"] = True
    if fields:
        memory = replace(memory, **fields) if memory else Memory(**fields)
    cpu = base.cpu
    cpu_fields: dict[str, Any] = {}
    if hc.cpuset_cpus:
        cpu_fields["cpus"] = hc.cpuset_cpus
    if hc.cpuset_mems:
        cpu_fields["mems"] = hc.cpuset_mems
    if hc.cpu_period:
        cpu_fields["period"] = hc.cpu_period
    if hc.cpu_quota:
        cpu_fields["quota"] = hc.cpu_quota
    if cpu_fields:
        cpu = replace(cpu, **cpu_fields) if cpu else Cpu(**cpu_fields)
    block_io = BlockIO(weight=hc.blkio_weight) if hc.blkio_weight else base.block_io
    devices_rules = base.devices if any(r.allow and r.type in (None, "a") for r in base.devices) else \
        (*base.devices, *rules)  # fmt: skip
    return replace(base, memory=memory, cpu=cpu, block_io=block_io, devices=devices_rules)


def namespaces(types: list[str], hc: HostConfig, pid_of: PidOf | None) -> list[tuple[str, str]]:
    """(type, path) for each namespace: host modes leave it out, container:<x> joins x's init."""
    modes = {"ipc": hc.ipc_mode, "pid": hc.pid_mode, "uts": hc.uts_mode}
    out = []
    for t in types:
        mode = modes.get(t, "")
        if mode == "host":
            continue
        if mode.startswith("container:"):
            if pid_of is None:
                raise Unsupported(f"{t} mode `{mode}`: joining another container's namespace is not supported here")
            out.append((t, f"/proc/{pid_of(t, mode.partition(':')[2])}/ns/{t}"))
            continue
        out.append((t, ""))
    return out


def mounts(base: tuple[Mount, ...], hc: HostConfig, shm_source: str | None = None) -> tuple[Mount, ...]:
    """/dev/shm: --shm-size; none with --ipc none; the host's with --ipc host; with `shm_source` (--ipc shareable,
    container:<x>: see `shm_source`) a bind of that host-side tmpfs, as moby binds its ShmPath."""
    out = []
    for m in base:
        if m.destination == "/dev/shm":
            if hc.ipc_mode == "none":
                continue
            if hc.ipc_mode == "host":
                m = Mount(destination="/dev/shm", type="bind", source="/dev/shm", options=("rbind", "rprivate"))
            elif shm_source:
                m = Mount(destination="/dev/shm", type="bind", source=shm_source, options=("rbind", "rprivate"))
            elif hc.shm_size:
                kib = (hc.shm_size + 1023) // 1024
                m = replace(m, options=(*[o for o in m.options if not o.startswith("size=")], f"size={kib}k"))
        out.append(m)
    return tuple(out)


def shm_source(hc: HostConfig, rootfs: str, load: Callable[[str], ContainerRecord] | None) -> str | None:
    """The host path bound at /dev/shm, or None for a tmpfs of the container's own.

    --ipc shareable: `<bundle>/shm` beside the rootfs (engine/rootfs.mount_shm mounts a tmpfs there at start);
    --ipc container:<x>: the donor's (the host's /dev/shm for an --ipc host donor). Why not the donor's
    /proc/<pid>/root/dev/shm: bind-mounting a mount of another mount namespace fails with EINVAL."""
    if hc.ipc_mode == "shareable":
        return shm_dir(rootfs)
    if not hc.ipc_mode.startswith("container:") or load is None:
        return None
    donor = ipc_donor(load, hc.ipc_mode.partition(":")[2])
    if donor.host_config.ipc_mode == "host":
        return "/dev/shm"
    bundles = os.path.dirname(os.path.dirname(rootfs))  # <exec root>/containers/<id>/rootfs: the donor's sibling
    return shm_dir(os.path.join(bundles, donor.id, os.path.basename(rootfs)))


def additional_gids(hc: HostConfig, group_file: str | None) -> tuple[int, ...]:
    """--group-add: numbers as given, names from the container's /etc/group (moby getAdditionalGroups)."""
    names: dict[str, int] = {}
    if group_file:
        for line in group_file.splitlines():
            parts = line.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                names.setdefault(parts[0], int(parts[2]))
    out = []
    for g in hc.group_add:
        if g.isdigit():
            out.append(int(g))
        elif g in names:
            out.append(names[g])
        else:
            raise InvalidArgument(f"Unable to find group {g}: no matching entries in group file")
    return tuple(out)


def ipc_donor(load: Callable[[str], ContainerRecord], ref: str) -> ContainerRecord:
    """moby's getIpcContainer: the donor must run and share its IPC (shareable or host), with moby's messages."""
    other = load(ref)
    if other.state.status != "running" or not other.state.pid:
        raise Conflict(f"can't join IPC of container {ref}: container {other.id} is not running")
    if other.host_config.ipc_mode not in ("shareable", "host"):
        raise InvalidArgument(
            f"can't join IPC of container {ref}: non-shareable IPC (hint: use IpcMode:shareable for the donor "
            "container)"
        )
    return other


def pid_lookup(load: Callable[[str], ContainerRecord]) -> PidOf:
    """The pid whose namespace --ipc/--pid container:<x> joins (moby's getIpcContainer, getPidContainer)."""

    def pid_of(kind: str, ref: str) -> int:
        if kind == "ipc":
            return ipc_donor(load, ref).state.pid or 0
        other = load(ref)
        if other.state.status != "running" or not other.state.pid:
            raise Conflict(f"cannot join PID of a non running container: {other.id}")
        return other.state.pid

    return pid_of


def apply(
    spec: Spec,
    hc: HostConfig,
    *,
    stat: Stat = os.stat,
    group_file: str | None = None,
    pid_of: PidOf | None = None,
    shm: str | None = None,
) -> Spec:
    """The run_options fields applied to a built spec (`pid_of` resolves --ipc/--pid container:<x>; `shm` is
    `shm_source`)."""
    assert spec.linux is not None and spec.process is not None
    nodes, rules = devices(hc, stat)
    linux = spec.linux
    sysctl = {**(linux.sysctl or {}), **(hc.sysctls or {})}
    res = resources(linux.resources or Resources(), hc, rules)
    linux = replace(linux, devices=(*linux.devices, *nodes), sysctl=sysctl or None, resources=res)
    if hc.cgroup_parent:
        linux = replace(
            linux, cgroups_path=f"/{hc.cgroup_parent.strip('/')}/{(linux.cgroups_path or '').rsplit('/', 1)[-1]}"
        )
    process = spec.process
    user = replace(process.user, additional_gids=(*process.user.additional_gids, *additional_gids(hc, group_file)))
    process = replace(process, rlimits=(*process.rlimits, *rlimits(hc)), user=user,
                      oom_score_adj=hc.oom_score_adj or process.oom_score_adj)  # fmt: skip
    return replace(spec, linux=linux, process=process, mounts=mounts(spec.mounts, hc, shm))


def group_file(rootfs: str) -> str | None:
    """The container's /etc/group for --group-add names (None when absent)."""
    try:
        with open(os.path.join(rootfs, "etc/group"), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None
