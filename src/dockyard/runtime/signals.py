"""Signal names and numbers for `kill`: parses what runc's kill accepts; must not send any signal itself."""

from __future__ import annotations

import signal

from dockyard.errors import InvalidArgument

# Linux reserves 32 and 33 for the C library's threads; glibc's SIGRTMIN is 34 and SIGRTMAX 64 (signal(7)).
SIGRTMIN = int(signal.SIGRTMIN)
SIGRTMAX = int(signal.SIGRTMAX)

_BY_NAME: dict[str, int] = {name: int(sig) for name, sig in signal.Signals.__members__.items()}


def _realtime(name: str) -> int | None:
    """`RTMIN`, `RTMIN+3`, `RTMAX-2` (signal(7) spells them this way) → number, or None when not realtime."""
    for base_name, base, sign in (("SIGRTMIN", SIGRTMIN, 1), ("SIGRTMAX", SIGRTMAX, -1)):
        if not name.startswith(base_name):
            continue
        rest = name[len(base_name) :]
        if not rest:
            return base
        op, digits = rest[0], rest[1:]
        if not digits.isdigit() or op != ("+" if sign > 0 else "-"):
            return None
        number = base + sign * int(digits)
        return number if SIGRTMIN <= number <= SIGRTMAX else None
    return None


def parse_signal(text: str) -> int:
    """A signal number from `9`, `KILL`, `SIGKILL`, `kill` or `SIGRTMIN+3`; InvalidArgument otherwise."""
    raw = text.strip()
    if raw.isdigit():
        number = int(raw)
        if 0 < number <= SIGRTMAX:
            return number
        raise InvalidArgument(f"invalid signal `{text}`")
    name = raw.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name in _BY_NAME and name not in ("SIGRTMIN", "SIGRTMAX"):
        return _BY_NAME[name]
    realtime = _realtime(name)
    if realtime is None:
        raise InvalidArgument(f"invalid signal `{text}`")
    return realtime


def signal_name(number: int) -> str:
    """The conventional name of a signal number (`SIGKILL`, `SIGRTMIN+3`), or the number as text."""
    try:
        return signal.Signals(number).name
    except ValueError:
        if SIGRTMIN < number < SIGRTMAX:
            return f"SIGRTMIN+{number - SIGRTMIN}"
        return str(number)
