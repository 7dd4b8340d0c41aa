"""Docker's seccomp profile format (`--security-opt seccomp=<profile>`) made into one container's OCI linux.seccomp.

The docker CLI reads the profile file and sends its JSON in the security option (`seccomp={"defaultAction":…}`);
dockyard's CLI does the same. The profile is Docker's own format, not the OCI one: rules carry `includes` and
`excludes` filters (the container's bounding capabilities, the host architecture, a minimum kernel) and the
architectures may come as an `archMap` keyed by the host's native one. This follows moby's profiles/seccomp
(LoadProfile, setupSeccomp) and the default profile's selection in engine/security_defaults.py; errors keep
moby's wording. Whether actions, operators and syscall names are valid is the runtime's check, at create.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dockyard.engine.security_defaults import ARCH_MAP
from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Seccomp, SeccompArg, SyscallRule

BUILTIN = "builtin"  # `seccomp=builtin`: Docker's default profile, by name
UNCONFINED = "unconfined"


def decode(text: str) -> dict[str, Any]:
    """The profile's JSON object; InvalidArgument with moby's "Decoding seccomp profile failed" otherwise."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InvalidArgument(f"Decoding seccomp profile failed: {err}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("Decoding seccomp profile failed: the profile is not a JSON object")
    return data


def load_profile(text: str, capabilities: Sequence[str], *, arch: str, kernel: tuple[int, int]) -> Seccomp | None:
    """The OCI filter of `text` for a container with these bounding capabilities on a host of Go architecture
    `arch` and kernel (major, minor); None when the profile has neither a default action nor rules (moby: no
    filter at all)."""
    data = decode(text)
    default = _string(data, "defaultAction", "")
    rules = _list(data, "syscalls")
    if not default and not rules:
        return None
    arches = [str(a) for a in _list(data, "architectures")]
    arch_map = _list(data, "archMap")
    if arches and arch_map:
        raise InvalidArgument(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' "
            "or 'archMap'"
        )
    native = ARCH_MAP.get(arch, ("",))[0]
    for entry in arch_map:
        if isinstance(entry, dict) and entry.get("architecture") == native:
            arches += [native, *(str(a) for a in entry.get("subArchitectures") or ())]
    caps = frozenset(capabilities)
    syscalls = tuple(_rule(rule, i) for i, rule in enumerate(rules) if _applies(rule, i, caps, arch, kernel))
    errno_ret = data.get("defaultErrnoRet")
    return Seccomp(
        default_action=default,
        default_errno_ret=_int(errno_ret, "defaultErrnoRet") if errno_ret is not None else None,
        architectures=tuple(arches),
        flags=tuple(str(f) for f in _list(data, "flags")),
        listener_path=_string(data, "listenerPath", "") or None,
        syscalls=syscalls,
    )


def _applies(rule: object, index: int, caps: frozenset[str], arch: str, kernel: tuple[int, int]) -> bool:
    """moby's filter: any excluded arch or cap, or a kernel at least `excludes.minKernel`, drops the rule; so
    does a missing included arch or cap, or a kernel older than `includes.minKernel`."""
    if not isinstance(rule, dict):
        raise InvalidArgument(f"Decoding seccomp profile failed: syscalls[{index}] is not an object")
    excludes, includes = rule.get("excludes") or {}, rule.get("includes") or {}
    if arch in (excludes.get("arches") or ()) or any(c in caps for c in excludes.get("caps") or ()):
        return False
    if excludes.get("minKernel") and kernel >= _kernel(excludes["minKernel"]):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if any(c not in caps for c in includes.get("caps") or ()):
        return False
    return not (includes.get("minKernel") and kernel < _kernel(includes["minKernel"]))


def _rule(rule: dict[str, Any], index: int) -> SyscallRule:
    names = [str(n) for n in rule.get("names") or ()]
    if rule.get("name"):
        if names:
            raise InvalidArgument("syscalls.name and syscalls.names are mutually exclusive")
        names = [str(rule["name"])]
    errno_ret = rule.get("errnoRet")
    args = tuple(
        SeccompArg(
            index=_int(arg.get("index", 0), f"syscalls[{index}].args.index"),
            value=_int(arg.get("value", 0), f"syscalls[{index}].args.value"),
            value_two=_int(arg.get("valueTwo", 0), f"syscalls[{index}].args.valueTwo"),
            op=str(arg.get("op", "")),
        )
        for arg in rule.get("args") or ()
        if isinstance(arg, dict)
    )
    return SyscallRule(
        names=tuple(names),
        action=str(rule.get("action", "")),
        errno_ret=_int(errno_ret, f"syscalls[{index}].errnoRet") if errno_ret is not None else None,
        args=args,
    )


def _kernel(text: object) -> tuple[int, int]:
    """moby's KernelVersion: "major.minor" (a trailing part such as "-rc1" is not allowed)."""
    major, dot, minor = str(text).partition(".")
    if not (major.isdigit() and dot and minor.isdigit()):
        raise InvalidArgument(f'invalid kernel version "{text}": expected "<kernel>.<major>"')
    return int(major), int(minor)


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise InvalidArgument(f"Decoding seccomp profile failed: `{key}` is not a list")
    return value


def _string(data: dict[str, Any], key: str, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise InvalidArgument(f"Decoding seccomp profile failed: `{key}` is not a string")
    return value


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"Decoding seccomp profile failed: `{where}` is not an unsigned integer")
    return value
