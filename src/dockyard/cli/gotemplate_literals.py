"""Go's literal syntax for the template engine: strconv.Quote and Unquote, and the integers Go's ParseInt and
ParseUint read (0x/0o/0b prefixes, octal leading zeros, underscores); pure functions."""

from __future__ import annotations

import re


def go_quote(text: str) -> str:
    """strconv.Quote: double quotes, Go escapes, printable non-ASCII kept as is."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def looks_float(text: str) -> bool:
    return not re.match(r"[+-]?0[xX]", text) and bool(re.search(r"[.eEpP]", text))


def parse_uint(text: str) -> int | None:
    """strconv.ParseUint(text, 0, 64) for what ParseInt refused: no sign, below 2**64."""
    if text.startswith(("+", "-")):
        return None
    value = _parse_int_any(text)
    return value if value is not None and 0 <= value < 2**64 else None


def _parse_int_any(text: str) -> int | None:
    """The integer a Go literal spells, unbounded: 0x/0o/0b prefixes, a leading 0 means octal, underscores."""
    body = text.lstrip("+-")
    try:
        octal = re.fullmatch(r"0[0-7_]+", body)  # Go reads a leading 0 as octal
        value = int(body[1:].lstrip("_") or "0", 8) if octal else int(body, 0)
    except ValueError:
        return None
    return -value if text.startswith("-") else value


def parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64)."""
    value = _parse_int_any(text)
    return value if value is not None and -(2**63) <= value < 2**63 else None


_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def go_unquote(quoted: str) -> str:
    """strconv.Unquote for "…", `…` and '…' literals; ValueError on bad syntax."""
    if len(quoted) < 2 or quoted[0] != quoted[-1] or quoted[0] not in "\"'`":
        raise ValueError(quoted)
    quote, body = quoted[0], quoted[1:-1]
    if quote == "`":
        return body.replace("\r", "")
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote or ch == "\n":
            raise ValueError(quoted)
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        char, i = _unescape(body, i + 1, quote)
        out.append(char)
    result = "".join(out)
    if quote == "'" and len(result) != 1:
        raise ValueError(quoted)
    return result


def _unescape(body: str, i: int, quote: str) -> tuple[str, int]:
    if i >= len(body):
        raise ValueError(body)
    ch = body[i]
    if ch in _SIMPLE:
        return _SIMPLE[ch], i + 1
    if ch == quote:
        return ch, i + 1
    widths = {"x": 2, "u": 4, "U": 8}
    if ch in widths:
        digits = body[i + 1 : i + 1 + widths[ch]]
        if len(digits) != widths[ch] or not re.fullmatch(r"[0-9a-fA-F]+", digits):
            raise ValueError(body)
        code = int(digits, 16)
        if code > 0x10FFFF or 0xD800 <= code < 0xE000:
            raise ValueError(body)
        return chr(code), i + 1 + widths[ch]
    if "0" <= ch <= "7":
        digits = body[i : i + 3]
        if not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
            raise ValueError(body)
        return chr(int(digits, 8)), i + 3
    raise ValueError(body)
