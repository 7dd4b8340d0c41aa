"""Capability names and masks, and the exact prctl/capset sequences, against RecordingSyscalls."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, SyscallError
from dockyard.oci.runtime_spec import CAPABILITIES, Capabilities
from dockyard.runtime import capabilities as caps
from dockyard.runtime.linux import consts
from dockyard.runtime.linux.recording import Call, RecordingSyscalls

DOCKER_14 = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)  # fmt: skip
# The mask docker run gives a root container (CapEff in /proc/self/status): 00000000a80425fb.
DOCKER_14_MASK = 0xA80425FB


def test_mask_of_docker_defaults_matches_proc_status_value() -> None:
    assert caps.capability_mask(DOCKER_14) == DOCKER_14_MASK


def test_names_and_numbers_round_trip() -> None:
    assert caps.capability_number("CAP_CHOWN") == 0
    assert caps.capability_number("CAP_SYS_ADMIN") == 21
    assert caps.capability_number("CAP_CHECKPOINT_RESTORE") == 40
    assert caps.capability_names(DOCKER_14_MASK) == sorted(DOCKER_14, key=CAPABILITIES.index)
    full = (1 << len(CAPABILITIES)) - 1
    assert caps.capability_names(full) == list(CAPABILITIES)
    assert caps.capability_mask(caps.capability_names(full)) == full


def test_empty_and_unknown_bits() -> None:
    assert caps.capability_mask([]) == 0
    assert caps.capability_names(0) == []
    assert caps.capability_names((1 << 45) | 1) == ["CAP_CHOWN", "CAP_45"]


def test_unknown_name_is_refused_with_its_name() -> None:
    with pytest.raises(InvalidArgument, match=r"^capability `CAP_FLY`: unknown capability$"):
        caps.capability_mask(["CAP_CHOWN", "CAP_FLY"])
    with pytest.raises(InvalidArgument, match="capability `chown`: unknown capability"):
        caps.capability_number("chown")


def test_negative_mask_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="must not be negative"):
        caps.capability_names(-1)


def test_bounding_set_drops_every_other_known_cap_in_order() -> None:
    sys = RecordingSyscalls()
    caps.drop_bounding_set(Capabilities(bounding=DOCKER_14), sys, last_cap=40)
    dropped = [c.args[1] for c in sys.calls]
    assert all(c.name == "prctl" and c.args[0] == consts.PR_CAPBSET_DROP for c in sys.calls)
    assert dropped == [n for n in range(41) if not DOCKER_14_MASK & (1 << n)]
    assert len(dropped) == 41 - 14


def test_bounding_set_only_covers_caps_the_kernel_knows() -> None:
    sys = RecordingSyscalls()
    caps.drop_bounding_set(Capabilities(bounding=("CAP_CHOWN",)), sys, last_cap=3)
    assert [c.args[1] for c in sys.calls] == [1, 2, 3]


def test_bounding_set_reads_cap_last_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cap_last_cap"
    path.write_text("2\n")
    assert caps.read_last_cap(str(path)) == 2
    monkeypatch.setattr(caps, "CAP_LAST_CAP_PATH", str(path))
    sys = RecordingSyscalls()
    caps.drop_bounding_set(Capabilities(bounding=()), sys)
    assert [c.args[1] for c in sys.calls] == [0, 1, 2]


def test_read_last_cap_errors(tmp_path: Path) -> None:
    with pytest.raises(SyscallError, match=r"^read `/nonexistent/cap_last_cap`: no such file or directory$"):
        caps.read_last_cap("/nonexistent/cap_last_cap")
    bad = tmp_path / "bad"
    bad.write_text("forty")
    with pytest.raises(InvalidArgument, match="not a number"):
        caps.read_last_cap(str(bad))


def test_none_leaves_everything_untouched() -> None:
    sys = RecordingSyscalls()
    caps.drop_bounding_set(None, sys, last_cap=40)
    caps.apply_capabilities(None, sys, last_cap=40)
    assert sys.calls == []


def test_drop_failure_names_the_capability() -> None:
    sys = RecordingSyscalls(fail={"prctl": errno.EPERM})
    with pytest.raises(
        SyscallError, match=r"^prctl\(PR_CAPBSET_DROP\) `CAP_DAC_READ_SEARCH`: operation not permitted$"
    ):
        caps.drop_bounding_set(Capabilities(bounding=("CAP_CHOWN", "CAP_DAC_OVERRIDE")), sys, last_cap=40)


def test_apply_sets_capset_then_clears_and_raises_ambient() -> None:
    sys = RecordingSyscalls()
    spec = Capabilities(
        effective=("CAP_CHOWN", "CAP_KILL"),
        permitted=("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"),
        inheritable=("CAP_KILL", "CAP_NET_RAW"),
        ambient=("CAP_NET_RAW", "CAP_KILL"),
    )
    caps.apply_capabilities(spec, sys, last_cap=40)
    amb = consts.PR_CAP_AMBIENT
    assert sys.calls == [
        Call("capset", ((1 << 0) | (1 << 5), (1 << 0) | (1 << 5) | (1 << 13), (1 << 5) | (1 << 13))),
        Call("prctl", (amb, consts.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)),
        Call("prctl", (amb, consts.PR_CAP_AMBIENT_RAISE, 5, 0, 0)),
        Call("prctl", (amb, consts.PR_CAP_AMBIENT_RAISE, 13, 0, 0)),
    ]


def test_apply_ignores_caps_newer_than_the_kernel() -> None:
    sys = RecordingSyscalls()
    spec = Capabilities(effective=("CAP_CHOWN", "CAP_BPF"), permitted=("CAP_CHOWN", "CAP_BPF"))
    caps.apply_capabilities(spec, sys, last_cap=37)
    assert sys.calls[0] == Call("capset", (1, 1, 0))


def test_apply_refuses_unknown_names_before_any_call() -> None:
    sys = RecordingSyscalls()
    with pytest.raises(InvalidArgument, match="capability `CAP_NOPE`"):
        caps.apply_capabilities(Capabilities(ambient=("CAP_NOPE",)), sys, last_cap=40)
    assert sys.calls == []


def test_capset_failure_propagates() -> None:
    sys = RecordingSyscalls(fail={"capset": errno.EPERM})
    with pytest.raises(SyscallError, match="^capset: operation not permitted$"):
        caps.apply_capabilities(Capabilities(effective=("CAP_CHOWN",)), sys, last_cap=40)


def test_ambient_raise_failure_names_the_capability() -> None:
    class FailRaise(RecordingSyscalls):
        def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
            if arg2 == consts.PR_CAP_AMBIENT_RAISE:
                raise SyscallError("prctl", str(option), errno.EPERM)
            return super().prctl(option, arg2, arg3, arg4, arg5)

    with pytest.raises(SyscallError, match=r"^prctl\(PR_CAP_AMBIENT_RAISE\) `CAP_NET_RAW`: operation not permitted$"):
        caps.apply_capabilities(
            Capabilities(ambient=("CAP_NET_RAW",), permitted=("CAP_NET_RAW",), inheritable=("CAP_NET_RAW",)),
            FailRaise(),
            last_cap=40,
        )


def test_ambient_without_inheritable_is_skipped_as_runc_does() -> None:
    sys = RecordingSyscalls()
    caps.apply_capabilities(Capabilities(ambient=("CAP_KILL",), permitted=("CAP_KILL",)), sys, last_cap=40)
    raises = [c for c in sys.named("prctl") if c.args[1] == consts.PR_CAP_AMBIENT_RAISE]
    assert raises == []


def test_kernel_cap_last_cap_is_readable_here() -> None:
    assert caps.read_last_cap() >= 36
