"""The cgroup v2 device filter: OCI device rules → a BPF_PROG_TYPE_CGROUP_DEVICE program (`program`, pure), loaded
and attached to a cgroup directory (`attach`, the bpf(2) syscall). Decides nothing about which rules apply.

As runc's libcontainer/cgroups/devices/devicefilter: the program reads the request (type, access, major, minor)
from its context, tries the rules from the last to the first (a later rule overrides an earlier one, as in v1)
and returns 1 (allow) or 0 (deny) for the first match; a type `a` rule with wildcards ends the list (everything
before it is overridden) and no match denies. A rule matches when the requested access is a subset of its access.
Unlike runc, the rules are not first normalised by a v1 emulator, so a rule that only partly overlaps an earlier
one of the other verdict can decide differently than the v1 kernel list would. x86_64 and aarch64 only (the
bpf(2) syscall number).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

from dockyard.errors import SyscallError, Unsupported
from dockyard.oci.runtime_spec import DeviceRule

# struct bpf_cgroup_dev_ctx { u32 access_type; /* (access << 16) | type */ u32 major; u32 minor; }
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
_R0, _R1, _R2, _R3, _R4, _R5 = range(6)

# opcodes (linux/bpf_common.h, linux/bpf.h): class | op | source
_LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
_AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
_MOV32_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
_MOV64_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
_JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X
_EXIT = 0x95  # BPF_JMP | BPF_EXIT

_SYS_BPF = {"x86_64": 321, "aarch64": 280}  # bpf(2); no glibc wrapper
_BPF_PROG_LOAD, _BPF_PROG_ATTACH = 5, 8
_BPF_PROG_TYPE_CGROUP_DEVICE, _BPF_CGROUP_DEVICE = 15, 6
_BPF_F_ALLOW_MULTI = 2


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


_PROLOGUE = (
    _insn(_LDX_W, _R2, _R1, 0),  # r2 = ctx->access_type
    _insn(_AND32_K, _R2, imm=0xFFFF),  # r2 = type
    _insn(_LDX_W, _R3, _R1, 0),
    _insn(_RSH32_K, _R3, imm=16),  # r3 = access
    _insn(_LDX_W, _R4, _R1, 4),  # r4 = major
    _insn(_LDX_W, _R5, _R1, 8),  # r5 = minor
)


def _block(rule: DeviceRule) -> list[bytes]:
    """The instructions of one rule: tests that jump past the block on a mismatch, then return its verdict."""
    tests: list[tuple[int, int, int, int]] = []  # (op, dst, src, imm), each jumps to the next block
    setup: list[list[bytes]] = []
    kind = rule.type or "a"
    if kind != "a":
        tests.append((_JNE_K, _R2, 0, _TYPES[kind]))
        setup.append([])
    access = 0
    for letter in rule.access or "rwm":
        access |= _ACCESS[letter]
    if access != 7:
        tests.append((_JNE_X, _R1, _R3, 0))  # (r3 & access) != r3: a right the rule does not give
        setup.append([_insn(_MOV32_X, _R1, _R3), _insn(_AND32_K, _R1, imm=access)])
    for register, number in ((_R4, rule.major), (_R5, rule.minor)):
        if number is not None and number >= 0:
            tests.append((_JNE_K, register, 0, number))
            setup.append([])
    verdict = [_insn(_MOV64_K, _R0, imm=1 if rule.allow else 0), _insn(_EXIT)]
    out: list[bytes] = []
    remaining = sum(len(s) + 1 for s in setup) + len(verdict)
    for (op, dst, src, imm), before in zip(tests, setup, strict=True):
        out += before
        remaining -= len(before) + 1
        out.append(_insn(op, dst, src, remaining, imm))
    return out + verdict


def program(rules: tuple[DeviceRule, ...]) -> bytes:
    """The filter for `rules` (later rules win), as the kernel's struct bpf_insn array."""
    blocks: list[bytes] = []
    for rule in reversed(rules):
        blocks += _block(rule)
        kind = rule.type or "a"
        if kind == "a" and (rule.major is None or rule.major < 0) and (rule.minor is None or rule.minor < 0):
            if set(rule.access or "rwm") == set("rwm"):
                return b"".join((*_PROLOGUE, *blocks))  # matches every request: nothing after it is reached
    return b"".join((*_PROLOGUE, *blocks, _insn(_MOV64_K, _R0, imm=0), _insn(_EXIT)))


def attach(directory: str, rules: tuple[DeviceRule, ...]) -> None:
    """Load the filter for `rules` and attach it to the cgroup at `directory` (BPF_F_ALLOW_MULTI: a filter
    attached earlier, e.g. by an update, stays and also has to allow a request)."""
    sys_bpf = _SYS_BPF.get(platform.machine())
    if sys_bpf is None:  # why: another architecture's number would be some other system call
        raise Unsupported(f"cgroup v2 device rules: no bpf(2) syscall number for `{platform.machine()}`")
    code = program(rules)
    libc = ctypes.CDLL(None, use_errno=True)
    insns = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer(b"GPL")
    # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf, kern_version
    load = struct.pack("<IIQQIIQI", _BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8, ctypes.addressof(insns),
                       ctypes.addressof(license), 0, 0, 0, 0)  # fmt: skip
    attr = ctypes.create_string_buffer(load, 128)
    prog = libc.syscall(ctypes.c_long(sys_bpf), _BPF_PROG_LOAD, attr, ctypes.c_uint(128))
    if prog < 0:
        raise SyscallError("bpf(BPF_PROG_LOAD)", directory, ctypes.get_errno())
    try:
        cgroup = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = ctypes.create_string_buffer(
                struct.pack("<IIII", cgroup, prog, _BPF_CGROUP_DEVICE, _BPF_F_ALLOW_MULTI), 128
            )
            if libc.syscall(ctypes.c_long(sys_bpf), _BPF_PROG_ATTACH, attr, ctypes.c_uint(128)) < 0:
                raise SyscallError("bpf(BPF_PROG_ATTACH)", directory, ctypes.get_errno())
        finally:
            os.close(cgroup)
    finally:
        os.close(prog)
