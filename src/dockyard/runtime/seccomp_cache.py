"""A cache of the BPF programs libseccomp generates, one file per filter plan in `<--root>.cache/`.

Generating the program is most of a seccomp filter's cost (≈ 12 ms for Docker's default profile: rules fed to
libseccomp, then BPF generation at load), and every container of an engine uses the same profile. The key is a
SHA-256 of the plan (engine of runtime/seccomp.py `plan_filter`, so every profile is still fully validated); the
program is libseccomp's own (`seccomp_export_bpf`), loaded later with prctl(PR_SET_SECCOMP) — what
`seccomp_load` does when no filter flag is set. Plans with flags (log, spec_allow) are not cached.
"""

from __future__ import annotations

import ctypes
import os

from dockyard.errors import SyscallError
from dockyard.oci.runtime_spec import Seccomp
from dockyard.runtime.seccomp import FilterPlan, SeccompFilter, compile_plan, plan_filter

PR_SET_SECCOMP = 22  # prctl(2)
SECCOMP_MODE_FILTER = 2
PREFIX = "seccomp-"


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]  # noqa: RUF012 — linux/filter.h


class BpfFilter(SeccompFilter):
    """A filter whose program is already generated: loading it is one prctl(2)."""

    def __init__(self, plan: FilterPlan, program: bytes) -> None:
        super().__init__(None, 0, plan, ())  # type: ignore[arg-type]  # no libseccomp context to own
        self._ctx = None
        self.program = program

    def export_bpf(self) -> bytes:
        return self.program

    def load(self) -> None:
        buf = ctypes.create_string_buffer(self.program, len(self.program))
        prog = _SockFprog(len(self.program) // 8, ctypes.cast(buf, ctypes.c_void_p))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
            raise SyscallError("prctl", "PR_SET_SECCOMP", ctypes.get_errno())

    def close(self) -> None:
        pass


def _key(plan: FilterPlan) -> str:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # why: hashlib (OpenSSL) costs ≈ 3 ms
    except ImportError:  # pragma: no cover — a Python built without it
        from hashlib import sha256
    return str(sha256(repr(plan).encode()).hexdigest())


def compile_cached(seccomp: Seccomp, cache_dir: str | None) -> SeccompFilter:
    """The filter for `seccomp`, from the cache in `cache_dir` when it holds the plan's program (else compiled,
    exported and stored there); without a cache directory, or for a plan with flags, plain libseccomp."""
    plan = plan_filter(seccomp)
    if cache_dir is None or plan.log or plan.spec_allow:
        return compile_plan(plan)
    path = os.path.join(cache_dir, f"{PREFIX}{_key(plan)}.bpf")
    try:
        with open(path, "rb") as f:
            program = f.read()
        if program and len(program) % 8 == 0:
            return BpfFilter(plan, program)
    except OSError:
        pass
    with compile_plan(plan) as flt:
        program = flt.export_bpf()
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        if not os.path.isdir(cache_dir):
            os.mkdir(cache_dir, 0o700)  # one level only: a missing parent means no cache
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, program)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError:
        pass  # a read-only or missing root only costs the next container the compile
    return BpfFilter(plan, program)
