"""runtime/devicefilter.program: the cgroup v2 device filter, run by a small interpreter of the instructions it
emits (the kernel's verdicts: tests/privileged/runtime/test_devicefilter_real.py)."""

from __future__ import annotations

import struct

import pytest

from dockyard.oci.runtime_spec import DeviceRule
from dockyard.runtime.devicefilter import program

TYPES = {"b": 1, "c": 2}
ACCESS = {"m": 1, "r": 2, "w": 4}


def run(code: bytes, kind: str, major: int, minor: int, access: str) -> int:
    """Interpret `code` for one request; only the opcodes program() emits are known."""
    ctx = [(sum(ACCESS[a] for a in access) << 16) | TYPES[kind], major, minor]
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack("<BBhi", code[i : i + 8]) for i in range(0, len(code), 8)]
    for _ in range(10_000):
        op, regs_byte, off, imm = insns[pc]
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if op == 0x61:
            assert src == 1 and off in (0, 4, 8)
            regs[dst] = ctx[off // 4]
        elif op == 0x54:
            regs[dst] = regs[dst] & imm & 0xFFFFFFFF
        elif op == 0x74:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif op == 0xBC:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif op == 0xB7:
            regs[dst] = imm
        elif op == 0x55:
            pc += off if regs[dst] != imm else 0
        elif op == 0x5D:
            pc += off if regs[dst] != regs[src] else 0
        elif op == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
    raise AssertionError("no exit")


DOCKER = (
    DeviceRule(allow=False, access="rwm"),
    DeviceRule(allow=True, type="c", major=1, minor=3, access="rwm"),
    DeviceRule(allow=True, type="c", major=10, minor=237, access="r"),
    DeviceRule(allow=True, type="c", major=136, minor=None, access="rwm"),
    DeviceRule(allow=True, type="b", major=None, minor=None, access="m"),
    DeviceRule(allow=False, type="c", major=10, minor=229, access="rwm"),
)


@pytest.mark.parametrize(
    ("request_", "verdict"),
    [
        (("c", 1, 3, "rw"), 1),
        (("c", 1, 3, "m"), 1),
        (("c", 10, 237, "r"), 1),  # read-only device: read allowed
        (("c", 10, 237, "w"), 0),  # ... write refused
        (("c", 10, 237, "rw"), 0),
        (("c", 136, 7, "rw"), 1),  # wildcard minor
        (("b", 8, 0, "m"), 1),  # wildcard major and minor, mknod only
        (("b", 8, 0, "r"), 0),
        (("c", 10, 229, "r"), 0),  # an explicit deny
        (("c", 1, 5, "r"), 0),  # not listed: the leading deny-all
        (("b", 1, 3, "r"), 0),  # type matters
    ],
)
def test_dockers_rules(request_: tuple[str, int, int, str], verdict: int) -> None:
    assert run(program(DOCKER), *request_) == verdict


def test_a_later_rule_overrides_an_earlier_one() -> None:
    rules = (DeviceRule(allow=True, access="rwm"), DeviceRule(allow=False, type="c", major=1, minor=3, access="w"))
    code = program(rules)
    assert (run(code, "c", 1, 3, "w"), run(code, "c", 1, 3, "r"), run(code, "b", 7, 0, "rw")) == (0, 1, 1)
    assert run(program((*rules, DeviceRule(allow=True, type="c", major=1, minor=3, access="w"))), "c", 1, 3, "w") == 1


def test_no_rules_and_a_wildcard_rule_end_the_program() -> None:
    assert run(program(()), "c", 1, 3, "r") == 0
    everything = program((DeviceRule(allow=True, type="c", major=1, minor=3), DeviceRule(allow=False, access="rwm")))
    assert run(everything, "c", 1, 3, "r") == 0
    assert len(everything) == 8 * (6 + 2)  # the prologue and one verdict: the earlier rule is never reached


def test_an_architecture_without_a_known_bpf_number_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.errors import Unsupported
    from dockyard.runtime import devicefilter

    monkeypatch.setattr(devicefilter.platform, "machine", lambda: "riscv64")
    with pytest.raises(Unsupported) as err:
        devicefilter.attach("/nonexistent", (DeviceRule(allow=True, access="rwm"),))
    assert str(err.value) == "cgroup v2 device rules: no bpf(2) syscall number for `riscv64`"
