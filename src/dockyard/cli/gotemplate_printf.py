"""Go's fmt.Sprintf for the template `printf` function: verbs, flags, width, precision and Go's in-band error
markers (``%!d(string=x)``, ``%!s(MISSING)``, ``%!(EXTRA int=2)``). It knows nothing of templates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dockyard.cli.gotemplate_literals import go_quote
from dockyard.cli.gotemplate_typed import NIL_POINTER, Duration, GoStruct
from dockyard.cli.gotemplate_values import (
    MISSING,
    format_float,
    format_v,
    go_type,
    is_list,
    sorted_keys,
    strip,
)

_FLAGS = "#0+- "
_INT_VERBS = {"v": "d", "d": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}


@dataclass(frozen=True, slots=True)
class Spec:
    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    precision: int | None = None
    plus_v: bool = False  # %+v: struct fields with their names; no sign on numbers

    def pad(self, text: str, *, zero_ok: bool = True) -> str:
        if self.width is None or len(text) >= self.width:
            return text
        if self.minus:
            return text.ljust(self.width)
        if self.zero and zero_ok:
            sign = text[0] if text[:1] in ("+", "-") else ""
            return sign + text[len(sign) :].rjust(self.width - len(sign), "0")
        return text.rjust(self.width)


def sprintf(fmt: str, args: Sequence[object]) -> str:
    out: list[str] = []
    arg_index = 0
    i = 0
    reordered = False
    while i < len(fmt):
        percent = fmt.find("%", i)
        if percent < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:percent])
        i = percent + 1
        flags: dict[str, bool] = {}
        while i < len(fmt) and fmt[i] in _FLAGS:
            flags[fmt[i]] = True
            i += 1
        width, i, arg_index, bad_width = _number(fmt, i, args, arg_index)
        precision: int | None = None
        bad_precision = False
        if i < len(fmt) and fmt[i] == ".":
            precision, i, arg_index, bad_precision = _number(fmt, i + 1, args, arg_index)
            precision = precision or 0
        if bad_width:
            out.append("%!(BADWIDTH)")
        if bad_precision:
            out.append("%!(BADPREC)")
        arg_index, i, bad_index = _arg_number(fmt, i, len(args), arg_index)
        reordered = reordered or bad_index is not None
        if i >= len(fmt):
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if bad_index:
            out.append(f"%!{verb}(BADINDEX)")
            continue
        if arg_index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        spec = Spec(
            minus=flags.get("-", False),
            plus=flags.get("+", False),
            sharp=flags.get("#", False),
            space=flags.get(" ", False),
            zero=flags.get("0", False) and not flags.get("-", False),
            width=width,
            precision=precision,
        )
        out.append(format_arg(args[arg_index], verb, spec))
        arg_index += 1
    if not reordered and arg_index < len(args):
        extra = ", ".join(_typed(arg) for arg in args[arg_index:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _arg_number(fmt: str, i: int, num_args: int, arg_index: int) -> tuple[int, int, bool | None]:
    """An explicit argument index `[n]` (1-based) before the verb: (next arg index, i, bad?); bad is None
    when there is none."""
    if i >= len(fmt) or fmt[i] != "[":
        return arg_index, i, None
    close = fmt.find("]", i)
    digits = fmt[i + 1 : close] if close > 0 else ""
    if not digits.isdigit() or not 1 <= int(digits) <= num_args:
        return arg_index, (close + 1 if close > 0 else len(fmt)), True
    return int(digits) - 1, close + 1, False


def _number(fmt: str, i: int, args: Sequence[object], arg_index: int) -> tuple[int | None, int, int, bool]:
    """A width or precision: digits, or `*` taking an int argument. Returns (value, i, arg_index, bad)."""
    if i < len(fmt) and fmt[i] == "*":
        if arg_index < len(args):
            arg = strip(args[arg_index])
            if isinstance(arg, int) and not isinstance(arg, bool):
                return arg, i + 1, arg_index + 1, False
            return None, i + 1, arg_index + 1, True
        return None, i + 1, arg_index, True
    start = i
    while i < len(fmt) and fmt[i].isdigit():
        i += 1
    return (int(fmt[start:i]) if i > start else None), i, arg_index, False


def _typed(arg: object) -> str:
    value = strip(arg)
    if value is None or value is MISSING:
        return "<nil>"
    return f"{go_type(value)}={format_v(value)}"


def _bad(verb: str, value: object) -> str:
    return f"%!{verb}({_typed(value)})"


def format_arg(arg: object, verb: str, spec: Spec) -> str:
    if verb == "v" and spec.plus:  # Go's fmt turns the flag into plusV for %v
        spec = dataclasses.replace(spec, plus=False, plus_v=True)
    value = strip(arg)
    if value is None or value is MISSING:
        return spec.pad("<nil>", zero_ok=False) if verb in "vT" else f"%!{verb}(<nil>)"
    if verb == "T":
        return spec.pad(go_type(value), zero_ok=False)
    if value is NIL_POINTER:
        return spec.pad("<nil>", zero_ok=False) if verb == "v" else f"%!{verb}(<nil>)"
    if isinstance(value, Duration) and verb in "vs":
        return spec.pad(str(value), zero_ok=False)
    if isinstance(value, GoStruct):
        names = [f"{name}:" if spec.plus_v else "" for name in value.fields]
        items = (name + format_arg(item, verb, spec) for name, item in zip(names, value.fields.values(), strict=True))
        return "{" + " ".join(items) + "}"
    if isinstance(value, bool):
        return spec.pad("true" if value else "false", zero_ok=False) if verb in "vt" else _bad(verb, value)
    if isinstance(value, int):
        return _format_int(value, verb, spec)
    if isinstance(value, float):
        return _format_float(value, verb, spec)
    if isinstance(value, str):
        return _format_str(value, verb, spec)
    if is_list(value):
        assert isinstance(value, Sequence)
        return "[" + " ".join(format_arg(item, verb, spec) for item in value) + "]"
    if isinstance(value, Mapping):
        pairs = (f"{format_arg(k, verb, spec)}:{format_arg(value[k], verb, spec)}" for k in sorted_keys(value))
        return "map[" + " ".join(pairs) + "]"
    return spec.pad(format_v(value)) if verb in "vs" else _bad(verb, value)


def _format_int(value: int, verb: str, spec: Spec) -> str:
    if verb == "c":
        return spec.pad(chr(value), zero_ok=False)
    if verb == "q":
        return spec.pad(_quote_rune(value), zero_ok=False)
    if verb == "U":
        return spec.pad(f"U+{value:04X}", zero_ok=False)
    if verb not in _INT_VERBS:
        return _bad(verb, value)
    digits = format(abs(value), _INT_VERBS[verb])
    if spec.precision is not None:
        digits = "" if spec.precision == 0 and value == 0 else digits.rjust(spec.precision, "0")
    sign = "-" if value < 0 else "+" if spec.plus else " " if spec.space else ""
    if spec.zero and spec.width is not None and spec.precision is None:
        digits = digits.rjust(spec.width - len(sign), "0")
    prefix = ""
    if verb == "O" or (spec.sharp and verb == "o" and not digits.startswith("0")):
        prefix = "0o" if verb == "O" else "0"
    elif spec.sharp and verb in "xXb":
        prefix = {"x": "0x", "X": "0X", "b": "0b"}[verb]
    return spec.pad(sign + prefix + digits, zero_ok=False)


def _quote_rune(code: int) -> str:
    if code == ord("'"):
        return "'\\''"
    inner = go_quote(chr(code))[1:-1].replace('\\"', '"')
    return f"'{inner}'"


def _format_float(value: float, verb: str, spec: Spec) -> str:
    if verb not in "veEfFgG":
        return _bad(verb, value)
    text = format_float(value, "g" if verb == "v" else verb, spec.precision)
    if spec.plus and not text.startswith("-"):
        text = "+" + text
    elif spec.space and not text.startswith("-"):
        text = " " + text
    finite = text.lstrip("+- ") not in ("Inf", "NaN")
    return spec.pad(text, zero_ok=finite)


def _format_str(value: str, verb: str, spec: Spec) -> str:
    if spec.precision is not None and verb in "vsq":
        value = value[: spec.precision]
    if verb == "v" and spec.sharp:  # %#v: Go syntax, a quoted string
        return spec.pad(go_quote(value), zero_ok=False)
    if verb in "vs":
        return spec.pad(value)
    if verb == "q":
        return spec.pad(go_quote(value), zero_ok=False)
    if verb in "xX":
        encoded = value.encode("utf-8", "replace").hex()
        return spec.pad(encoded.upper() if verb == "X" else encoded)
    return _bad(verb, value)
