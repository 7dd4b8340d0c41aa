"""Dockerfile word splitting (quotes and backslashes) and `$VAR` / `${VAR}` / `${VAR:-x}` / `${VAR:+x}` expansion,
as Docker's shell lexer does them for ENV, LABEL and friends. Pure functions.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_words(text: str) -> list[str]:
    """Split on unquoted whitespace; quotes group and are removed, a backslash escapes the next character
    (inside single quotes nothing is special)."""
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                current.append(c)
        elif c == "\\" and i + 1 < len(text) and (quote == "" or text[i + 1] in '"\\$'):
            current.append(text[i + 1])
            i += 1
        elif quote == '"':
            if c == '"':
                quote = ""
            else:
                current.append(c)
        elif c in "'\"":
            quote, in_word = c, True
        elif c.isspace():
            if in_word or current:
                words.append("".join(current))
            current, in_word = [], False
        else:
            current.append(c)
            in_word = True
        i += 1
    if quote:
        raise InvalidArgument(f"unexpected end of statement while looking for matching {quote}")
    if in_word or current:
        words.append("".join(current))
    return words


def expand(text: str, env: dict[str, str]) -> str:
    """Expand `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}`; `\\$` stays a literal `$`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        if c != "$" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        if text[i + 1] == "{":
            end = text.find("}", i + 2)
            if end < 0:
                raise InvalidArgument(f"missing '}}' in `{text}`")
            out.append(_braced(text[i + 2 : end], env))
            i = end + 1
            continue
        m = _NAME.match(text, i + 1)
        if m is None:
            out.append(c)
            i += 1
            continue
        out.append(env.get(m.group(0), ""))
        i = m.end()
    return "".join(out)


def _braced(inner: str, env: dict[str, str]) -> str:
    for op in (":-", ":+"):
        name, sep, word = inner.partition(op)
        if sep:
            value = env.get(name, "")
            if op == ":-":
                return value or expand(word, env)
            return expand(word, env) if value else ""
    if not _NAME.fullmatch(inner):
        raise InvalidArgument(f"bad substitution: `${{{inner}}}`")
    return env.get(inner, "")
