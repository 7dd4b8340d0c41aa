"""Linux capabilities for the container process: name ↔ number, the bounding set, capset and the ambient set.

Every kernel call goes through a Syscalls object (unit tests use RecordingSyscalls). Runs in the container's init
child; it must not touch users, seccomp or anything outside the calling process.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument, SyscallError
from dockyard.oci.runtime_spec import CAPABILITIES, Capabilities
from dockyard.runtime.linux import consts
from dockyard.runtime.linux.syscalls import Syscalls

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Iterable

CAP_LAST_CAP_PATH = "/proc/sys/kernel/cap_last_cap"

_NUMBERS = {name: number for number, name in enumerate(CAPABILITIES)}


def capability_number(name: str) -> int:
    """The kernel number of an OCI capability name such as `CAP_SYS_ADMIN`."""
    try:
        return _NUMBERS[name]
    except KeyError:
        raise InvalidArgument(f"capability `{name}`: unknown capability") from None


def capability_mask(names: Iterable[str]) -> int:
    """The bit mask (bit n = capability n) of the named capabilities; unknown names raise InvalidArgument."""
    mask = 0
    for name in names:
        mask |= 1 << capability_number(name)
    return mask


def capability_names(mask: int) -> list[str]:
    """The names of the bits set in `mask`, in number order; bits newer than our table read `CAP_<n>`."""
    if mask < 0:
        raise InvalidArgument(f"capability mask `{mask}`: must not be negative")
    names = []
    number = 0
    while mask >> number:
        if (mask >> number) & 1:
            names.append(CAPABILITIES[number] if number < len(CAPABILITIES) else f"CAP_{number}")
        number += 1
    return names


def read_last_cap(path: str | None = None) -> int:
    """The highest capability number the running kernel knows (capabilities(7): /proc/sys/kernel/cap_last_cap)."""
    path = CAP_LAST_CAP_PATH if path is None else path
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except OSError as err:
        raise SyscallError("read", path, err.errno or 0) from err
    except ValueError as err:
        raise InvalidArgument(f"read `{path}`: not a number") from err


def _known(mask: int, last_cap: int) -> int:
    # Capabilities newer than the kernel are ignored rather than refused, as runc does: a spec written for a
    # newer kernel (CAP_CHECKPOINT_RESTORE on 5.4) still runs.
    return mask & ((1 << (last_cap + 1)) - 1)


def drop_bounding_set(caps: Capabilities | None, sys: Syscalls, *, last_cap: int | None = None) -> None:
    """PR_CAPBSET_DROP every capability the kernel knows that is not in `caps.bounding`.

    None means the spec has no `process.capabilities`: like runc, leave every set untouched.
    Needs CAP_SETPCAP, so it runs before the user switch.
    """
    if caps is None:
        return
    top = read_last_cap() if last_cap is None else last_cap
    keep = capability_mask(caps.bounding)
    for number in range(top + 1):
        if keep & (1 << number):
            continue
        try:
            sys.prctl(consts.PR_CAPBSET_DROP, number)
        except SyscallError as err:
            raise SyscallError("prctl(PR_CAPBSET_DROP)", _name(number), err.errno) from err


def apply_capabilities(caps: Capabilities | None, sys: Syscalls, *, last_cap: int | None = None) -> None:
    """Set the effective, permitted and inheritable sets with capset(2), then the ambient set.

    The ambient set is cleared first and each requested capability raised (capabilities(7): a capability can
    only be ambient when it is both permitted and inheritable). None leaves every set untouched, as runc does.
    """
    if caps is None:
        return
    top = read_last_cap() if last_cap is None else last_cap
    effective = _known(capability_mask(caps.effective), top)
    permitted = _known(capability_mask(caps.permitted), top)
    inheritable = _known(capability_mask(caps.inheritable), top)
    ambient = _known(capability_mask(caps.ambient), top)
    sys.capset(effective, permitted, inheritable)
    try:
        sys.prctl(consts.PR_CAP_AMBIENT, consts.PR_CAP_AMBIENT_CLEAR_ALL)
    except SyscallError as err:
        raise SyscallError("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", "", err.errno) from err
    # The kernel raises an ambient capability only when it is both permitted and inheritable; runc's default
    # spec lists ambient capabilities without inheritable ones and runc only warns. We skip those quietly.
    raisable = ambient & permitted & inheritable
    for number in range(top + 1):
        if not raisable & (1 << number):
            continue
        try:
            sys.prctl(consts.PR_CAP_AMBIENT, consts.PR_CAP_AMBIENT_RAISE, number)
        except SyscallError as err:
            raise SyscallError("prctl(PR_CAP_AMBIENT_RAISE)", _name(number), err.errno) from err


def _name(number: int) -> str:
    return CAPABILITIES[number] if number < len(CAPABILITIES) else f"CAP_{number}"
