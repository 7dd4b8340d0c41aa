"""A bundle as create sees it: config.json read and fully validated, the rootfs found, seccomp compiled.

Creates nothing and changes nothing: spawn.create calls `load_bundle` before the state directory exists, so bad
input leaves no trace. Also what the bundle asks of the cgroup (`cgroup_resources`).
"""

from __future__ import annotations

import os

from dockyard.errors import DockyardError, InvalidArgument, SpecError, Unsupported
from dockyard.oci.model import Model, replace
from dockyard.oci.runtime_spec import DeviceRule, Resources, Spec
from dockyard.runtime import jsonio
from dockyard.runtime import namespaces as ns

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from dockyard.runtime.seccomp import SeccompFilter


class Bundle(Model):
    spec: Spec
    raw: bytes
    path: str
    rootfs: str
    seccomp: SeccompFilter | None


def load_bundle(bundle: str, seccomp_cache: str | None = None) -> Bundle:
    """Read and fully validate `<bundle>/config.json` without creating anything (but a seccomp program in the
    `seccomp_cache` directory, runtime/seccomp_cache.py)."""
    path = os.path.abspath(bundle)
    config = os.path.join(path, "config.json")
    if not os.path.isdir(path):
        raise InvalidArgument(f"bundle `{path}`: not a directory")
    try:
        with open(config, "rb") as f:
            raw = f.read()
        data = jsonio.loads(raw)
    except FileNotFoundError as err:
        raise SpecError("config.json", f"`{config}` does not exist") from err
    except (OSError, ValueError) as err:
        raise SpecError("config.json", f"cannot read `{config}`: {err}") from err
    spec = Spec.from_json(data)
    validate_spec(spec)
    rootfs = rootfs_path(spec, path)
    seccomp = None
    if spec.linux is not None and spec.linux.seccomp is not None:
        from dockyard.runtime.seccomp_cache import compile_cached

        linux = data.get("linux") if isinstance(data, dict) else None
        source = linux.get("seccomp") if isinstance(linux, dict) else None
        seccomp = compile_cached(spec.linux.seccomp, seccomp_cache, source)
    return Bundle(spec=spec, raw=raw, path=path, rootfs=rootfs, seccomp=seccomp)


def warm_up() -> None:
    """Resolve the field types of every runtime-spec model now, for a process that forks runtimes without exec
    (engine/runtime_fork.py): jsonmodel caches them per class, so each forked `create` decodes config.json
    ≈ 0.5 ms sooner. Decoding `{}` resolves a class's types before it finds a required field missing."""
    from dockyard.oci import runtime_spec
    from dockyard.oci.jsonmodel import decode
    from dockyard.oci.model import is_model

    for value in vars(runtime_spec).values():
        if is_model(value) and value.__module__ == runtime_spec.__name__:
            try:
                decode(value, {})
            except DockyardError:
                pass


def rootfs_path(spec: Spec, bundle: str) -> str:
    """The host path of `root.path` (relative to the bundle unless absolute), symlinks resolved; it must be a dir."""
    if spec.root is None:
        raise SpecError("root", "a container needs a root filesystem")
    path = os.path.realpath(os.path.join(os.path.abspath(bundle), spec.root.path))
    if not os.path.isdir(path):
        raise SpecError("root.path", f"`{path}` is not a directory")
    return path


def validate_spec(spec: Spec) -> None:
    """What Spec.from_json leaves to the runtime: fields this runtime needs, mounts, sysctl, namespace paths."""
    from dockyard.runtime.mounts import check_mount
    from dockyard.runtime.process import validate_sysctl

    if spec.process is None:
        raise SpecError("process", "required field is missing")
    if not spec.process.args:
        raise SpecError("process.args", "must not be empty")
    linux = spec.linux
    if linux is None or linux.namespace("mount") is None or linux.namespace("mount").path:  # type: ignore[union-attr]
        raise SpecError("linux.namespaces", "a new mount namespace is required")
    ns.plan_namespaces(linux)
    ns.check_paths(linux)
    for index, entry in enumerate(spec.mounts):
        check_mount(entry, index)
    validate_sysctl(linux.sysctl, linux.namespaces)
    check_cgroups_path(linux.cgroups_path)


def check_cgroups_path(path: str | None) -> None:
    if path is None:
        return
    if ":" in path:
        raise Unsupported(
            "invalid config `linux.cgroupsPath`: the systemd form `slice:prefix:name` needs --systemd-cgroup, "
            "which is not supported"
        )
    if ".." in path.split("/"):
        raise SpecError("linux.cgroupsPath", f"`{path}` must not contain `..`")


# runc's specconv.AllowedDevices (1.1): appended after the spec's own rules, so the devices a container always
# gets (/dev/null, the ptys, …) stay usable under a "deny all" rule; (type, major, minor, access), -1 = any.
# No /dev/console (5:1): runc 1.1 leaves it out, and our console is a bind of a pty slave (136:*).
_ALWAYS_ALLOWED = (
    ("c", -1, -1, "m"), ("b", -1, -1, "m"), ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"),
    ("c", 5, 0, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"), ("c", 136, -1, "rwm"), ("c", 5, 2, "rwm"),
    ("c", 10, 200, "rwm"),
)  # fmt: skip


def cgroup_resources(spec: Spec) -> Resources:
    """The resources to apply: the spec's, with device rules completed as runc 1.1 does (spec rules, then the
    always-allowed devices). A linux.devices entry gets no rule of its own: the node is created, but what the
    container may do with it is only what linux.resources.devices grants (`--device /dev/x:/dev/x:r` is read-only)."""
    linux = spec.linux
    resources = (linux.resources if linux else None) or Resources()
    rules = list(resources.devices)
    for kind, major, minor, access in _ALWAYS_ALLOWED:
        rules.append(
            DeviceRule(
                allow=True, type=kind, major=None if major < 0 else major, minor=None if minor < 0 else minor,
                access=access,
            )
        )  # fmt: skip
    return replace(resources, devices=tuple(rules))
