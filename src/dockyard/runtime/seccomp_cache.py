"""A cache of the BPF programs libseccomp generates, one file per filter plan in `<--root>.cache/`.

Generating the program is most of a seccomp filter's cost (≈ 12 ms for Docker's default profile: rules fed to
libseccomp, then BPF generation at load), and every container of an engine uses the same profile. The key is a
SHA-256 of the plan (engine of runtime/seccomp.py `plan_filter`, so every profile is still fully validated); the
program is libseccomp's own (`seccomp_export_bpf`), loaded later with prctl(PR_SET_SECCOMP) — what
`seccomp_load` does when no filter flag is set. Plans with flags (log, spec_allow) are not cached.

A second name for the same program is keyed by the profile's own JSON (`source`, compact): planning Docker's
default profile and hashing its plan cost ≈ 2–3 ms of every `create`, and the same bytes always plan the same
way. That name is written only after the profile was planned and compiled, so a hit stands for a profile that
was validated (and no flags are ever cached under it).
"""

from __future__ import annotations

import ctypes
import os

from dockyard.errors import SyscallError
from dockyard.oci.runtime_spec import Seccomp
from dockyard.runtime import jsonio
from dockyard.runtime.seccomp import FilterPlan, SeccompFilter, compile_plan, plan_filter

PR_SET_SECCOMP = 22  # prctl(2)
SECCOMP_MODE_FILTER = 2
PREFIX = "seccomp-"


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]  # noqa: RUF012 — linux/filter.h


class BpfFilter(SeccompFilter):
    """A filter whose program is already generated: loading it is one prctl(2)."""

    def __init__(self, plan: FilterPlan | None, program: bytes) -> None:
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


def _key(text: str) -> str:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # why: hashlib (OpenSSL) costs ≈ 3 ms
    except ImportError:  # pragma: no cover — a Python built without it
        from hashlib import sha256
    return str(sha256(text.encode()).hexdigest())


def source_key(source: object) -> str | None:
    """The key of a profile's JSON (the `linux.seccomp` object of config.json); None when it has flags."""
    if not isinstance(source, dict) or source.get("flags"):
        return None
    return _key(jsonio.dumps(source))  # key order as written: another order only misses, never mismatches


def compile_cached(seccomp: Seccomp, cache_dir: str | None, source: object = None) -> SeccompFilter:
    """The filter for `seccomp`, from the cache in `cache_dir` when it holds the program (else compiled,
    exported and stored there); without a cache directory, or for a plan with flags, plain libseccomp.
    `source` is the profile's JSON as config.json has it: a hit on it skips planning."""
    by_source = source_key(source) if cache_dir is not None else None
    source_path = f"{cache_dir}/{PREFIX}src-{by_source}.bpf" if by_source is not None else None
    if source_path is not None:
        program = _read(source_path)
        if program:
            return BpfFilter(None, program)
    plan = plan_filter(seccomp)
    if cache_dir is None or plan.log or plan.spec_allow:
        return compile_plan(plan)
    path = os.path.join(cache_dir, f"{PREFIX}{_key(repr(plan))}.bpf")
    program = _read(path)
    if not program:
        with compile_plan(plan) as flt:
            program = flt.export_bpf()
        _store(cache_dir, path, program)
    if source_path is not None:
        _store(cache_dir, source_path, program)
    return BpfFilter(plan, program)


def _read(path: str) -> bytes:
    """A cached program, or b"" when there is none (or it cannot be one: not a whole number of instructions)."""
    try:
        with open(path, "rb") as f:
            program = f.read()
    except OSError:
        return b""
    return program if len(program) % 8 == 0 else b""


def _store(cache_dir: str, path: str, program: bytes) -> None:
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
