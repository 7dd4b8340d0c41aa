"""Seccomp: translate `linux.seccomp` into libseccomp calls (ctypes on libseccomp.so.2), validate or load the filter.

Two layers: `plan_filter` is pure (OCI names → action values, operators, libseccomp arch names, one entry per
rule to add) and `compile_seccomp` feeds a plan to libseccomp. The filter is never written as hand-made BPF.
`compile_seccomp` is safe in the parent (validation); `load_seccomp` runs in the init child (see its docstring
for when).
"""

from __future__ import annotations

import ctypes
import errno as errno_module
import os

from dockyard.errors import InternalError, SpecError, SyscallError, Unavailable, Unsupported
from dockyard.oci.model import Model
from dockyard.oci.runtime_spec import Seccomp, SeccompArg, SyscallRule

TYPE_CHECKING = False  # why: `import typing` costs ~2 ms of each runtime start; mypy reads this name as typing's
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

# seccomp.h: filter actions. ERRNO and TRACE carry 16 bits of data.
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_NOTIFY = 0x7FC00000
SCMP_ACT_ERRNO = 0x00050000
SCMP_ACT_TRACE = 0x7FF00000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000

_PLAIN_ACTIONS = {
    "SCMP_ACT_KILL": SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": SCMP_ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": SCMP_ACT_TRAP,
    "SCMP_ACT_ALLOW": SCMP_ACT_ALLOW,
    "SCMP_ACT_LOG": SCMP_ACT_LOG,
}
_DATA_ACTIONS = {"SCMP_ACT_ERRNO": SCMP_ACT_ERRNO, "SCMP_ACT_TRACE": SCMP_ACT_TRACE}

# seccomp.h: enum scmp_compare.
OPERATORS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# OCI architecture names; libseccomp's name for each is the lowercase suffix (seccomp_arch_resolve_name(3)).
_ARCH_SUFFIXES = (
    "X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32", "MIPSEL", "MIPSEL64",
    "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390", "S390X", "PARISC", "PARISC64", "RISCV64", "LOONGARCH64",
)  # fmt: skip
ARCHITECTURES = frozenset("SCMP_ARCH_" + a for a in _ARCH_SUFFIXES)

FLAG_LOG = "SECCOMP_FILTER_FLAG_LOG"
FLAG_SPEC_ALLOW = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
FLAG_TSYNC = "SECCOMP_FILTER_FLAG_TSYNC"

# seccomp.h: enum scmp_filter_attr.
_ATTR_CTL_NNP = 3
_ATTR_CTL_LOG = 6
_ATTR_CTL_SSB = 7
_ATTR_CTL_OPTIMIZE = 8
_NR_SCMP_ERROR = -1
_MAX_ERRNO = 4095  # the kernel clamps SECCOMP_RET_ERRNO data above MAX_ERRNO (seccomp(2))


class ArgCmp(Model, kw_only=False):
    """One `struct scmp_arg_cmp`: for MASKED_EQ, datum_a is the mask and datum_b the value (as runc maps them)."""

    index: int
    op: int
    datum_a: int
    datum_b: int


class RulePlan(Model, kw_only=False):
    """One seccomp_rule_add_array call; `path` is the JSON path of the syscall name, for error messages."""

    syscall: str
    action: int
    args: tuple[ArgCmp, ...]
    path: str


class FilterPlan(Model, kw_only=False):
    default_action: int
    architectures: tuple[str, ...]  # libseccomp names, e.g. "x86_64"
    log: bool
    spec_allow: bool
    rules: tuple[RulePlan, ...]


def action_value(action: str, errno_ret: int | None, path: str) -> int:
    """The libseccomp value of an OCI action; ERRNO and TRACE default to EPERM as in runc."""
    if action == "SCMP_ACT_NOTIFY":
        raise Unsupported(f"seccomp action `{action}` at `{path}`: not supported by dockyard-runtime")
    if action in _PLAIN_ACTIONS:
        return _PLAIN_ACTIONS[action]
    if action not in _DATA_ACTIONS:
        raise SpecError(path, f"unknown seccomp action `{action}`")
    data = errno_module.EPERM if errno_ret is None else errno_ret
    if not 0 <= data <= _MAX_ERRNO:
        raise SpecError(path, f"errno {data} is outside 0..{_MAX_ERRNO}")
    return _DATA_ACTIONS[action] | data


def _arg_cmp(arg: SeccompArg, path: str) -> ArgCmp:
    op = OPERATORS.get(arg.op)
    if op is None:
        raise SpecError(f"{path}.op", f"unknown seccomp operator `{arg.op}`")
    if not 0 <= arg.index <= 5:
        raise SpecError(f"{path}.index", f"{arg.index} is outside 0..5")
    for value in (arg.value, arg.value_two):
        if not 0 <= value < 1 << 64:
            raise SpecError(path, f"{value} does not fit in 64 bits")
    return ArgCmp(arg.index, op, arg.value, arg.value_two)


def _arg_sets(rule: SyscallRule, path: str) -> list[tuple[ArgCmp, ...]]:
    conds = [_arg_cmp(a, f"{path}.args[{i}]") for i, a in enumerate(rule.args)]
    indexes = [c.index for c in conds]
    # runc's matchCall: when two conditions test the same argument, each becomes its own rule (they are OR'd);
    # otherwise all conditions form one rule (AND'd).
    if len(set(indexes)) != len(indexes):
        return [(c,) for c in conds]
    return [tuple(conds)]


def _flags(flags: tuple[str, ...]) -> tuple[bool, bool]:
    log = spec_allow = False
    for i, flag in enumerate(flags):
        if flag == FLAG_LOG:
            log = True
        elif flag == FLAG_SPEC_ALLOW:
            spec_allow = True
        elif flag != FLAG_TSYNC:  # the init is single-threaded when it loads the filter: TSYNC changes nothing
            raise SpecError(f"linux.seccomp.flags[{i}]", f"unsupported seccomp flag `{flag}`")
    return log, spec_allow


def plan_filter(seccomp: Seccomp) -> FilterPlan:
    """Translate a profile to the libseccomp calls it needs, without libseccomp; bad input raises SpecError."""
    default = action_value(seccomp.default_action, seccomp.default_errno_ret, "linux.seccomp.defaultAction")
    arches = []
    for i, arch in enumerate(seccomp.architectures):
        if arch not in ARCHITECTURES:
            raise SpecError(f"linux.seccomp.architectures[{i}]", f"unknown architecture `{arch}`")
        arches.append(arch.removeprefix("SCMP_ARCH_").lower())
    log, spec_allow = _flags(seccomp.flags)
    rules: list[RulePlan] = []
    for i, rule in enumerate(seccomp.syscalls):
        path = f"linux.seccomp.syscalls[{i}]"
        action = action_value(rule.action, rule.errno_ret, f"{path}.action")
        arg_sets = _arg_sets(rule, path)
        if action == default:
            continue  # libseccomp refuses a rule whose action is the default one; runc skips it too
        for j, name in enumerate(rule.names):
            if not name:
                raise SpecError(f"{path}.names[{j}]", "empty syscall name")
            rules.extend(RulePlan(name, action, args, f"{path}.names[{j}]") for args in arg_sets)
    return FilterPlan(default, tuple(arches), log, spec_allow, tuple(rules))


class _ScmpArgCmp(ctypes.Structure):
    _fields_ = [  # noqa: RUF012
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _Libseccomp:
    """The few libseccomp.so.2 entry points we use, their C signatures declared once, typed for callers."""

    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError as err:
            raise Unavailable(f"load `libseccomp.so.2`: {err}", hint="install libseccomp2") from err
        vp, u32, cint, cstr = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_char_p
        signatures: dict[str, tuple[Any, list[Any]]] = {
            "seccomp_init": (vp, [u32]),
            "seccomp_release": (None, [vp]),
            "seccomp_arch_resolve_name": (u32, [cstr]),
            "seccomp_arch_add": (cint, [vp, u32]),
            "seccomp_attr_set": (cint, [vp, cint, u32]),
            "seccomp_syscall_resolve_name": (cint, [cstr]),
            "seccomp_rule_add_array": (cint, [vp, u32, cint, ctypes.c_uint, ctypes.POINTER(_ScmpArgCmp)]),
            "seccomp_load": (cint, [vp]),
            "seccomp_export_bpf": (cint, [vp, cint]),
        }
        for name, (restype, argtypes) in signatures.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        self._c = lib

    def init(self, default_action: int) -> int | None:
        ctx: int | None = self._c.seccomp_init(default_action)
        return ctx

    def release(self, ctx: int) -> None:
        self._c.seccomp_release(ctx)

    def arch_resolve_name(self, name: str) -> int:
        return int(self._c.seccomp_arch_resolve_name(name.encode()))

    def arch_add(self, ctx: int, token: int) -> int:
        return int(self._c.seccomp_arch_add(ctx, token))

    def attr_set(self, ctx: int, attr: int, value: int) -> int:
        return int(self._c.seccomp_attr_set(ctx, attr, value))

    def syscall_resolve_name(self, name: str) -> int:
        return int(self._c.seccomp_syscall_resolve_name(name.encode()))

    def rule_add_array(self, ctx: int, action: int, number: int, args: tuple[ArgCmp, ...]) -> int:
        array = (_ScmpArgCmp * max(len(args), 1))()
        for k, cmp in enumerate(args):
            array[k] = _ScmpArgCmp(cmp.index, cmp.op, cmp.datum_a, cmp.datum_b)
        return int(self._c.seccomp_rule_add_array(ctx, action, number, len(args), array))

    def load(self, ctx: int) -> int:
        return int(self._c.seccomp_load(ctx))

    def export_bpf(self, ctx: int, fd: int) -> int:
        return int(self._c.seccomp_export_bpf(ctx, fd))


_lib: _Libseccomp | None = None


def _libseccomp() -> _Libseccomp:
    global _lib
    if _lib is None:
        _lib = _Libseccomp()
    return _lib


class SeccompFilter:
    """A libseccomp filter context built from a plan; `skipped` names the syscalls libseccomp does not know.

    Close it (or use `with`) to free the context. `load` installs it in the calling process.
    """

    def __init__(self, lib: _Libseccomp, ctx: int, plan: FilterPlan, skipped: tuple[str, ...]) -> None:
        self._lib = lib
        self._ctx: int | None = ctx
        self.plan = plan
        self.skipped = skipped

    def _context(self) -> int:
        if self._ctx is None:
            raise InternalError("seccomp filter: already released")
        return self._ctx

    def export_bpf(self) -> bytes:
        """The BPF program libseccomp generated (seccomp_export_bpf(3)), through a memfd."""
        fd = os.memfd_create("dockyard-seccomp")
        try:
            rc = self._lib.export_bpf(self._context(), fd)
            if rc < 0:
                raise SyscallError("seccomp_export_bpf", "", -rc)
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def load(self) -> None:
        rc = self._lib.load(self._context())
        if rc < 0:
            raise SyscallError("seccomp_load", "", -rc)

    def close(self) -> None:
        if self._ctx is not None:
            self._lib.release(self._ctx)
            self._ctx = None

    def __enter__(self) -> SeccompFilter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _set_attr(lib: _Libseccomp, ctx: int, attr: int, value: int, what: str) -> None:
    rc = lib.attr_set(ctx, attr, value)
    if rc < 0:
        raise SyscallError("seccomp_attr_set", what, -rc)


def _configure(lib: _Libseccomp, ctx: int, plan: FilterPlan) -> None:
    # The runtime sets no_new_privs itself when the spec asks; with CAP_SYS_ADMIN a filter loads without it.
    _set_attr(lib, ctx, _ATTR_CTL_NNP, 0, "CTL_NNP")
    for i, name in enumerate(plan.architectures):
        token = lib.arch_resolve_name(name)
        if token == 0:
            raise SpecError(f"linux.seccomp.architectures[{i}]", f"`{name}` is not supported by libseccomp")
        rc = lib.arch_add(ctx, token)
        if rc < 0 and rc != -errno_module.EEXIST:  # the native architecture is already there
            raise SyscallError("seccomp_arch_add", name, -rc)
    if plan.log:
        _set_attr(lib, ctx, _ATTR_CTL_LOG, 1, FLAG_LOG)
    if plan.spec_allow:
        _set_attr(lib, ctx, _ATTR_CTL_SSB, 1, FLAG_SPEC_ALLOW)
    if len(plan.rules) > 32:
        # A binary tree of syscalls beats a linear list for long profiles (runc does the same); libseccomp
        # before 2.5 lacks the attribute, which only costs speed.
        lib.attr_set(ctx, _ATTR_CTL_OPTIMIZE, 2)


def _add_rules(lib: _Libseccomp, ctx: int, plan: FilterPlan) -> tuple[str, ...]:
    skipped: list[str] = []
    for rule in plan.rules:
        number = lib.syscall_resolve_name(rule.syscall)
        if number == _NR_SCMP_ERROR:
            # Unknown to this libseccomp: skipped as runc does, so profiles can name syscalls newer than it.
            if rule.syscall not in skipped:
                skipped.append(rule.syscall)
            continue
        rc = lib.rule_add_array(ctx, rule.action, number, rule.args)
        if rc < 0:
            raise SpecError(rule.path, f"seccomp rule for `{rule.syscall}`: {os.strerror(-rc).lower()}")
    return tuple(skipped)


def compile_seccomp(seccomp: Seccomp) -> SeccompFilter:
    """Build (not load) the filter with libseccomp: reports a bad profile before any namespace exists."""
    return compile_plan(plan_filter(seccomp))


def compile_plan(plan: FilterPlan) -> SeccompFilter:
    """Feed a plan to libseccomp; errors name the JSON path of the rule libseccomp refused."""
    lib = _libseccomp()
    ctx = lib.init(plan.default_action)
    if not ctx:
        raise Unsupported(f"seccomp default action {plan.default_action:#x}: not supported by libseccomp")
    try:
        _configure(lib, ctx, plan)
        skipped = _add_rules(lib, ctx, plan)
    except BaseException:
        lib.release(ctx)
        raise
    return SeccompFilter(lib, ctx, plan, skipped)


def load_seccomp(seccomp: Seccomp | None) -> None:
    """Build and install the filter in the calling process; None does nothing.

    Without no_new_privs, loading needs CAP_SYS_ADMIN (seccomp(2)): when the spec leaves noNewPrivileges unset,
    call this before the capabilities are dropped and the user switched, as runc's standard init does;
    otherwise call it last, right before execve, so that as few syscalls as possible run under the filter.
    """
    if seccomp is None:
        return
    with compile_seccomp(seccomp) as flt:
        flt.load()
