"""Container record + host facts → the OCI runtime spec (config.json), with Docker's defaults; a pure function.

Reads nothing from the host itself: capabilities, architecture, kernel and cgroup version come in a `HostInfo`,
so the spec is reproducible in unit tests. Owns the capability and --security-opt rules (moby's
oci/caps TweakCapabilities and daemon/oci_linux.go); must not touch files, mounts or processes (the exception,
in engine/spec_resources.py: a stat of each --device path and the rootfs /etc/group for --group-add names).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from dockyard.engine import seccomp_profile, spec_resources
from dockyard.engine import security_defaults as sec
from dockyard.engine.records import ContainerRecord, HostConfig
from dockyard.errors import InvalidArgument
from dockyard.oci.model import Model
from dockyard.oci.runtime_spec import (
    CAPABILITIES,
    Capabilities,
    Cpu,
    DeviceRule,
    Linux,
    Memory,
    Mount,
    Namespace,
    Pids,
    Process,
    Resources,
    Root,
    Seccomp,
    Spec,
    User,
)

OCI_VERSION = "1.1.0"
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000

_NOSUID_NOEXEC_NODEV = ("nosuid", "noexec", "nodev")
DEFAULT_MOUNTS = (
    Mount(destination="/proc", type="proc", source="proc", options=_NOSUID_NOEXEC_NODEV),
    Mount(destination="/dev", type="tmpfs", source="tmpfs",
          options=("nosuid", "strictatime", "mode=755", "size=65536k")),
    Mount(destination="/dev/pts", type="devpts", source="devpts",
          options=("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
    Mount(destination="/sys", type="sysfs", source="sysfs", options=(*_NOSUID_NOEXEC_NODEV, "ro")),
    Mount(destination="/sys/fs/cgroup", type="cgroup", source="cgroup", options=("ro", *_NOSUID_NOEXEC_NODEV)),
    Mount(destination="/dev/mqueue", type="mqueue", source="mqueue", options=_NOSUID_NOEXEC_NODEV),
    Mount(destination="/dev/shm", type="tmpfs", source="shm",
          options=(*_NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k")),
)  # fmt: skip

# moby oci/defaults.go: deny all, then the character devices every container may use; fuse stays denied.
DEFAULT_DEVICE_RULES = (
    DeviceRule(allow=False, access="rwm"),
    DeviceRule(allow=True, type="c", major=1, minor=5, access="rwm"),  # /dev/zero
    DeviceRule(allow=True, type="c", major=1, minor=3, access="rwm"),  # /dev/null
    DeviceRule(allow=True, type="c", major=1, minor=9, access="rwm"),  # /dev/urandom
    DeviceRule(allow=True, type="c", major=1, minor=8, access="rwm"),  # /dev/random
    DeviceRule(allow=True, type="c", major=5, minor=0, access="rwm"),  # /dev/tty
    DeviceRule(allow=True, type="c", major=5, minor=1, access="rwm"),  # /dev/console
    DeviceRule(allow=False, type="c", major=10, minor=229, access="rwm"),  # /dev/fuse
)


class HostInfo(Model):
    """Facts about the host the spec depends on; `capabilities` is the engine's own bounding set."""

    capabilities: tuple[str, ...]
    arch: str = "amd64"
    kernel: tuple[int, int] = (6, 1)
    cgroup2: bool = False
    masked_paths: tuple[str, ...] = sec.DEFAULT_MASKED_PATHS


class EtcFiles(Model):
    """Host paths of the files bind-mounted at /etc/hostname, /etc/hosts and /etc/resolv.conf."""

    hostname: str
    hosts: str
    resolv_conf: str


class SecurityOpts(Model):
    seccomp_unconfined: bool = False
    seccomp_profile: str = ""  # Docker's profile JSON (engine/seccomp_profile.py); "": the default profile
    no_new_privileges: bool = False
    systempaths_unconfined: bool = False


def parse_security_opts(opts: tuple[str, ...]) -> SecurityOpts:
    """Docker's --security-opt values; apparmor= and label= are accepted and ignored (no LSM here)."""
    unconfined = nnp = systempaths = False
    profile = ""
    for opt in opts:
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if key == "no-new-privileges":
            if value not in ("", "true", "false"):
                raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
            nnp = value != "false"
        elif key == "seccomp" and sep:
            unconfined = value == seccomp_profile.UNCONFINED
            if value not in (seccomp_profile.UNCONFINED, seccomp_profile.BUILTIN):
                seccomp_profile.decode(value)  # the docker CLI sent the file's JSON; a bad one fails the create
                profile = value
        elif key == "systempaths" and value == "unconfined":
            systempaths = True
        elif key in ("apparmor", "label") and sep:
            continue
        else:
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    return SecurityOpts(seccomp_unconfined=unconfined, seccomp_profile=profile, no_new_privileges=nnp,
                        systempaths_unconfined=systempaths)  # fmt: skip


def normalize_capabilities(names: tuple[str, ...], what: str) -> tuple[str, ...]:
    """`net_admin` → `CAP_NET_ADMIN`, `ALL` kept; unknown names fail like Docker (`invalid CapAdd: …`)."""
    out: list[str] = []
    for name in names:
        cap = name.upper()
        if cap != "ALL" and not cap.startswith("CAP_"):
            cap = "CAP_" + cap
        if cap != "ALL" and cap not in CAPABILITIES:
            raise InvalidArgument(f'invalid {what}: unknown capability: "{cap}"')
        if cap not in out:
            out.append(cap)
    return tuple(out)


def capabilities(host_config: HostConfig, host_caps: tuple[str, ...]) -> tuple[str, ...]:
    """The container's bounding set: Docker's 14 defaults tweaked by --cap-add/--cap-drop, or all for --privileged."""
    if host_config.privileged:
        return host_caps
    adds = normalize_capabilities(host_config.cap_add, "CapAdd")
    drops = normalize_capabilities(host_config.cap_drop, "CapDrop")
    if "ALL" in adds:
        return tuple(c for c in host_caps if c not in drops)
    if "ALL" in drops:
        return tuple(c for c in adds if c != "ALL")
    kept = [c for c in sec.DEFAULT_CAPABILITIES if c not in drops]
    return tuple(kept + [c for c in adds if c not in kept])


def merge_env(base: list[str], overrides: tuple[str, ...]) -> tuple[str, ...]:
    """Replace `KEY=…` entries of `base` by those of `overrides` with the same key, append the rest (moby)."""
    out = list(base)
    index = {e.partition("=")[0]: i for i, e in enumerate(out)}
    for entry in overrides:
        key = entry.partition("=")[0]
        if key in index:
            out[index[key]] = entry
        else:
            index[key] = len(out)
            out.append(entry)
    return tuple(out)


def process_env(record: ContainerRecord, hostname: str) -> tuple[str, ...]:
    base = [DEFAULT_PATH_ENV, f"HOSTNAME={hostname}"]
    if record.config.tty:
        base.append("TERM=xterm")
    return merge_env(base, record.config.env)


def resources(host_config: HostConfig) -> Resources:
    devices = (DeviceRule(allow=True, access="rwm"),) if host_config.privileged else DEFAULT_DEVICE_RULES
    memory = None
    if host_config.memory > 0:
        # Docker: with --memory and no --memory-swap, memory+swap is twice the memory limit.
        swap = host_config.memory_swap or host_config.memory * 2
        memory = Memory(limit=host_config.memory, swap=swap)
    cpu = None
    limited = host_config.nano_cpus > 0
    if limited or host_config.cpu_shares > 0:  # --cpus and --cpu-shares together are one Cpu
        cpu = Cpu(
            shares=host_config.cpu_shares or None,
            period=CPU_PERIOD if limited else None,
            quota=host_config.nano_cpus * CPU_PERIOD // 1_000_000_000 if limited else None,
        )
    pids = Pids(limit=host_config.pids_limit) if host_config.pids_limit > 0 else None
    return Resources(devices=devices, memory=memory, cpu=cpu, pids=pids)


def mounts(host_config: HostConfig, files: EtcFiles) -> tuple[Mount, ...]:
    out = list(DEFAULT_MOUNTS)
    if host_config.privileged:
        # Docker: a privileged container gets /sys and the cgroup tree writable.
        out = [
            Mount(
                destination=m.destination,
                type=m.type,
                source=m.source,
                options=tuple(o for o in m.options if o != "ro"),
            )
            if m.destination in ("/sys", "/sys/fs/cgroup")
            else m
            for m in out
        ]
    for destination, source in (
        ("/etc/resolv.conf", files.resolv_conf),
        ("/etc/hostname", files.hostname),
        ("/etc/hosts", files.hosts),
    ):
        out.append(Mount(destination=destination, type="bind", source=source, options=("rbind", "rprivate")))
    return tuple(out)


def network_namespaces(types: list[str], netns_path: str | None) -> tuple[Namespace, ...]:
    """The namespace list with the network one new (""), joined (a path) or left out (None: host network)."""
    return tuple(
        Namespace(type=t, path=netns_path or None) if t == "network" else Namespace(type=t)
        for t in types
        if t != "network" or netns_path is not None
    )


def build_spec(
    record: ContainerRecord,
    *,
    rootfs: str,
    user: User,
    files: EtcFiles,
    host: HostInfo,
    netns_path: str | None = "",
    lookup: Callable[[str], ContainerRecord] | None = None,
) -> Spec:
    """The config.json for `record`: Docker's default mounts, capabilities, seccomp, masked paths and namespaces.
    `netns_path`: "" a new empty network namespace, a path to join (engine/networks.py), None the host's."""
    hc = record.host_config
    pid_of = spec_resources.pid_lookup(lookup) if lookup else None  # --ipc/--pid container:<x>
    opts = parse_security_opts(hc.security_opt)
    caps = capabilities(hc, host.capabilities)
    hostname = record.config.hostname or record.id[:12]
    seccomp: Seccomp | None = None
    if not hc.privileged and not opts.seccomp_unconfined:  # moby: a privileged container gets no filter
        seccomp = (
            seccomp_profile.load_profile(opts.seccomp_profile, caps, arch=host.arch, kernel=host.kernel)
            if opts.seccomp_profile
            else sec.default_seccomp_profile(caps, arch=host.arch, kernel=host.kernel)
        )
    confined_paths = not hc.privileged and not opts.systempaths_unconfined
    namespaces = ["mount", "network", "uts", "pid", "ipc"]
    if hc.cgroupns_mode == "private" or (host.cgroup2 and hc.cgroupns_mode != "host"):
        namespaces.append("cgroup")  # Docker's default cgroupns mode: private on v2, host on v1
    sysctl = None
    # moby sets the unprivileged-port sysctls only in a namespace of the container's own (not host, not container:x)
    own_netns = netns_path is not None and not netns_path.startswith("/proc/")
    if host.kernel >= (4, 11) and own_netns:
        sysctl = {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}
    process = Process(
        cwd=record.config.working_dir or "/",
        args=(record.path, *record.args),
        env=process_env(record, hostname),
        terminal=record.config.tty,
        user=user,
        capabilities=Capabilities(bounding=caps, effective=caps, permitted=caps),
        no_new_privileges=opts.no_new_privileges,
        oom_score_adj=0,
    )
    linux = Linux(
        namespaces=tuple(
            n if n.type == "network" else Namespace(type=n.type, path=path or None)
            for n in network_namespaces(namespaces, netns_path)
            for t, path in spec_resources.namespaces([n.type], hc, pid_of)
        ),  # fmt: skip
        cgroups_path=f"/dockyard/{record.id}",
        resources=resources(hc),
        sysctl=sysctl,
        seccomp=seccomp,
        masked_paths=host.masked_paths if confined_paths else (),
        readonly_paths=sec.DEFAULT_READONLY_PATHS if confined_paths else (),
    )
    spec = Spec(
        oci_version=OCI_VERSION,
        root=Root(path=rootfs, readonly=hc.read_only),
        process=process,
        hostname=hostname,
        domainname=record.config.domainname or None,
        mounts=mounts(hc, files),
        linux=linux,
        annotations=hc.annotations or None,
    )
    group_file = spec_resources.group_file(rootfs) if hc.group_add else None
    shm = spec_resources.shm_source(hc, rootfs, lookup)  # --ipc shareable, container:<x>
    return spec_resources.apply(spec, hc, group_file=group_file, pid_of=pid_of, shm=shm)


def host_info() -> HostInfo:
    """The facts about this host the spec depends on (bounding set, arch, kernel, cgroup version)."""
    bounding = 0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                bounding = int(line.split()[1], 16)
    caps = tuple(name for bit, name in enumerate(CAPABILITIES) if bounding >> bit & 1)
    return HostInfo(
        capabilities=caps,
        arch=sec.host_arch(),
        kernel=sec.kernel_version(),
        cgroup2=os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
        masked_paths=sec.host_masked_paths(),
    )
