"""Go standard-library behaviours Docker's messages depend on (path.Clean, %q, ParseBool, go-units sizes); pure.

Docker's error texts embed values formatted by Go, so reproducing a message means reproducing these helpers.
Nothing here touches the filesystem.
"""

from __future__ import annotations

import posixpath
import re

_BINARY_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_GO_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class GoValueError(ValueError):
    """A Go parse function failed; str() is Go's own message."""


def clean(path: str) -> str:
    """Go's path.Clean: like posixpath.normpath, but a leading `//` collapses and "" becomes "."."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def is_local(path: str) -> bool:
    """Go's filepath.IsLocal on Unix: non-empty, relative, and lexically inside the directory it is evaluated in."""
    if not path or path.startswith("/"):
        return False
    cleaned = clean(path)
    return cleaned != ".." and not cleaned.startswith("../")


def quote(value: str) -> str:
    """Go's %q for a string: double quotes, with backslash escapes for quotes, backslashes and control characters."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_list(values: list[str]) -> str:
    """Go's %s/%v of a []string: `[a b c]`."""
    return "[" + " ".join(values) + "]"


def parse_bool(value: str) -> bool:
    """Go's strconv.ParseBool; the error text is Go's (`strconv.ParseBool: parsing "x": invalid syntax`)."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise GoValueError(f"strconv.ParseBool: parsing {quote(value)}: invalid syntax")


def _parse_float(num: str) -> float:
    # strconv.ParseFloat: digits with an optional fraction and exponent ("inf"/"nan" never reach here: the suffix
    # split below leaves letters out of `num`)
    if not _GO_FLOAT.fullmatch(num):
        raise GoValueError(f"strconv.ParseFloat: parsing {quote(num)}: invalid syntax")
    return float(num)


def ram_in_bytes(size: str) -> int:
    """go-units RAMInBytes: `64m`, `1g`, `1.5GiB`, `512`, `10 kb` (binary multiples); errors as go-units words them."""
    sep = max(size.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise GoValueError(f"invalid size: '{size}'")
    if size[sep] != " ":
        num, suffix = size[: sep + 1], size[sep + 1 :]
    else:
        num, suffix = size[:sep], size[sep + 1 :]
    value = _parse_float(num)
    if value < 0:
        raise GoValueError(f"invalid size: '{size}'")
    if not suffix:
        return int(value)
    lowered = suffix.lower()
    bad = GoValueError(f"invalid suffix: '{lowered if len(suffix) <= 3 else suffix}'")
    if len(suffix) > 3:
        raise bad
    if lowered[0] == "b":
        if len(lowered) > 1:
            raise bad
        return int(value)
    multiplier = _BINARY_UNITS.get(lowered[0])
    if multiplier is None:
        raise bad
    if (len(lowered) == 2 and lowered[1] != "b") or (len(lowered) == 3 and lowered[1:] != "ib"):
        raise bad
    return int(value * multiplier)


_MEMPARSE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}


def kernel_size(value: str) -> int | None:
    """The kernel's memparse() as tmpfs reads `size=`: digits and an optional k/m/g/t/p/e; None for `50%` or junk."""
    match = re.fullmatch(r"(0[xX][0-9a-fA-F]+|\d+)([kKmMgGtTpPeE]?)", value)
    if match is None:
        return None
    number = int(match.group(1), 0) if match.group(1).lower().startswith("0x") else int(match.group(1))
    unit = match.group(2).lower()
    return number * _MEMPARSE_UNITS[unit] if unit else number
