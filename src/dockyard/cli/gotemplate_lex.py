"""Lexer for Go's text/template syntax: turns a template into tokens; it knows nothing of nodes or values.

The states follow Go's text/template/parse/lex.go (same token kinds, trim markers, error texts) so that parse
errors read exactly as the docker CLI prints them. Positions are character offsets into the template.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dockyard.cli.gotemplate_literals import go_quote

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
_SPACE = " \t\r\n"


class TemplateFailure(Exception):
    """A Go-worded template error (``template: :1: …``); the public API wraps it in `TemplateError`."""

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial


class Tok(enum.Enum):
    ERROR = "error"
    BOOL = "bool"
    CHAR = "char"
    CHAR_CONSTANT = "charconst"
    ASSIGN = "="
    DECLARE = ":="
    EOF = "eof"
    FIELD = "field"
    IDENTIFIER = "identifier"
    LEFT_DELIM = "{{"
    LEFT_PAREN = "("
    NUMBER = "number"
    PIPE = "|"
    RAW_STRING = "rawstring"
    RIGHT_DELIM = "}}"
    RIGHT_PAREN = ")"
    SPACE = "space"
    STRING = "string"
    TEXT = "text"
    VARIABLE = "variable"
    # Keywords: Go prints them as <word> in "unexpected …" errors.
    BLOCK = "block"
    BREAK = "break"
    CONTINUE = "continue"
    DOT = "."
    DEFINE = "define"
    ELSE = "else"
    END = "end"
    IF = "if"
    NIL = "nil"
    RANGE = "range"
    TEMPLATE = "template"
    WITH = "with"


_KEYWORD_LIST = (
    Tok.BLOCK,
    Tok.BREAK,
    Tok.CONTINUE,
    Tok.DOT,
    Tok.DEFINE,
    Tok.ELSE,
    Tok.END,
    Tok.IF,
    Tok.NIL,
    Tok.RANGE,
    Tok.TEMPLATE,
    Tok.WITH,
)
KEYWORDS = {t.value: t for t in _KEYWORD_LIST}
_KEYWORD_TOKENS = frozenset(KEYWORDS.values())


@dataclass(frozen=True, slots=True)
class Token:
    typ: Tok
    val: str
    pos: int
    line: int

    def __str__(self) -> str:
        """As Go's item.String(), used in "unexpected X in Y" errors."""
        if self.typ is Tok.EOF:
            return "EOF"
        if self.typ is Tok.ERROR:
            return self.val
        if self.typ in _KEYWORD_TOKENS:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdecimal()


def _right_trim_length(text: str) -> int:
    return len(text) - len(text.rstrip(_SPACE))


def _left_trim_length(text: str) -> int:
    return len(text) - len(text.lstrip(_SPACE))


def _has_left_trim_marker(text: str) -> bool:
    return len(text) >= 2 and text[0] == "-" and text[1] in _SPACE


class Lexer:
    """Scans the whole template eagerly; an ERROR token, when any, is the last one."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.line = 1
        self.start_line = 1
        self.paren_depth = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        while True:
            if not self._lex_text():
                break
            if not self._lex_action():
                break
        return self.tokens

    # -- helpers -------------------------------------------------------------------------------------------

    def _emit(self, typ: Tok) -> None:
        self.tokens.append(Token(typ, self.text[self.start : self.pos], self.start, self.start_line))
        self._ignore()

    def _ignore(self) -> None:
        self.line += self.text.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def _error(self, message: str) -> bool:
        self.tokens.append(Token(Tok.ERROR, message, self.start, self.start_line))
        return False

    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def _accept(self, chars: str) -> bool:
        if self._peek() and self._peek() in chars:
            self.pos += 1
            return True
        return False

    def _accept_run(self, chars: str) -> None:
        while self._peek() and self._peek() in chars:
            self.pos += 1

    def _at_right_delim(self) -> tuple[bool, bool]:
        rest = self.text[self.pos :]
        if len(rest) >= 2 and rest[0] in _SPACE and rest[1:].startswith("-" + RIGHT_DELIM):
            return True, True
        return rest.startswith(RIGHT_DELIM), False

    # -- text and delimiters -------------------------------------------------------------------------------

    def _lex_text(self) -> bool:
        """Text up to the next `{{`; returns False at the end of input (EOF emitted)."""
        index = self.text.find(LEFT_DELIM, self.pos)
        if index < 0:
            self.pos = len(self.text)
            if self.pos > self.start:
                self._emit(Tok.TEXT)
            self._emit(Tok.EOF)
            return False
        self.pos = index
        trim = 0
        if _has_left_trim_marker(self.text[index + len(LEFT_DELIM) :]):
            trim = _right_trim_length(self.text[self.start : index])
        self.pos -= trim
        if self.pos > self.start:
            self._emit(Tok.TEXT)
        self.pos += trim
        self._ignore()
        return True

    def _lex_action(self) -> bool:
        """From `{{` to the matching `}}` (or a comment); returns False after an error."""
        self.pos += len(LEFT_DELIM)
        trim = _has_left_trim_marker(self.text[self.pos :])
        after = 2 if trim else 0
        if self.text.startswith(LEFT_COMMENT, self.pos + after):
            self.pos += after
            self._ignore()
            return self._lex_comment()
        self.tokens.append(Token(Tok.LEFT_DELIM, LEFT_DELIM, self.start, self.start_line))
        self.pos += after
        self._ignore()
        self.paren_depth = 0
        while True:
            delim, trim_space = self._at_right_delim()
            if delim:
                if self.paren_depth:
                    return self._error("unclosed left paren")
                return self._lex_right_delim(trim_space)
            if not self._lex_inside_action():
                return False

    def _lex_comment(self) -> bool:
        self.pos += len(LEFT_COMMENT)
        index = self.text.find(RIGHT_COMMENT, self.pos)
        if index < 0:
            return self._error("unclosed comment")
        self.pos = index + len(RIGHT_COMMENT)
        delim, trim_space = self._at_right_delim()
        if not delim:
            return self._error("comment ends before closing delimiter")
        self.pos += (2 if trim_space else 0) + len(RIGHT_DELIM)
        if trim_space:
            self.pos += _left_trim_length(self.text[self.pos :])
        self._ignore()
        return True

    def _lex_right_delim(self, trim_space: bool) -> bool:
        if trim_space:
            self.pos += 2
            self._ignore()
        self.pos += len(RIGHT_DELIM)
        self._emit(Tok.RIGHT_DELIM)
        if trim_space:
            self.pos += _left_trim_length(self.text[self.pos :])
            self._ignore()
        return True

    # -- inside an action ----------------------------------------------------------------------------------

    def _lex_inside_action(self) -> bool:
        ch = self._peek()
        if not ch:
            return self._error("unclosed action")
        if ch in _SPACE:
            return self._lex_space()
        self.pos += 1
        if ch == "=":
            self._emit(Tok.ASSIGN)
        elif ch == ":":
            if not self._accept("="):
                return self._error("expected :=")
            self._emit(Tok.DECLARE)
        elif ch == "|":
            self._emit(Tok.PIPE)
        elif ch == '"':
            return self._lex_quote('"', Tok.STRING, "unterminated quoted string")
        elif ch == "`":
            return self._lex_raw_quote()
        elif ch == "'":
            return self._lex_quote("'", Tok.CHAR_CONSTANT, "unterminated character constant")
        elif ch == "$":
            return self._lex_field_or_variable(Tok.VARIABLE)
        elif ch == "." and self._peek() and not ("0" <= self._peek() <= "9"):
            return self._lex_field_or_variable(Tok.FIELD)
        elif ch in "+-." or "0" <= ch <= "9":
            self.pos -= 1
            return self._lex_number()
        elif _is_alnum(ch):
            self.pos -= 1
            return self._lex_identifier()
        elif ch == "(":
            self.paren_depth += 1
            self._emit(Tok.LEFT_PAREN)
        elif ch == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self._error("unexpected right paren")
            self._emit(Tok.RIGHT_PAREN)
        elif ord(ch) < 0x80 and ch.isprintable():
            self._emit(Tok.CHAR)
        else:
            return self._error(f"unrecognized character in action: {_rune_repr(ch)}")
        return True

    def _lex_space(self) -> bool:
        count = 0
        while self._peek() and self._peek() in _SPACE:
            self.pos += 1
            count += 1
        # A space right before "-}}" belongs to the trim marker.
        if self.text.startswith("-" + RIGHT_DELIM, self.pos):
            self.pos -= 1
            if count == 1:
                return True
        self._emit(Tok.SPACE)
        return True

    def _lex_quote(self, quote: str, typ: Tok, unterminated: str) -> bool:
        while True:
            ch = self._peek()
            self.pos += 1
            if ch == "\\":
                nxt = self._peek()
                if nxt and nxt != "\n":
                    self.pos += 1
                    continue
                return self._error(unterminated)
            if not ch or ch == "\n":
                return self._error(unterminated)
            if ch == quote:
                self._emit(typ)
                return True

    def _lex_raw_quote(self) -> bool:
        index = self.text.find("`", self.pos)
        if index < 0:
            return self._error("unterminated raw quoted string")
        self.pos = index + 1
        self._emit(Tok.RAW_STRING)
        return True

    def _at_terminator(self) -> bool:
        ch = self._peek()
        if not ch or ch in _SPACE or ch in ".,|:()":
            return True
        return self.text.startswith(RIGHT_DELIM, self.pos)

    def _lex_field_or_variable(self, typ: Tok) -> bool:
        if self._at_terminator():
            self._emit(Tok.DOT if typ is Tok.FIELD else Tok.VARIABLE)
            return True
        while self._peek() and _is_alnum(self._peek()):
            self.pos += 1
        if not self._at_terminator():
            return self._error(f"bad character {_rune_repr(self._peek())}")
        self._emit(typ)
        return True

    def _lex_identifier(self) -> bool:
        while self._peek() and _is_alnum(self._peek()):
            self.pos += 1
        if not self._at_terminator():
            return self._error(f"bad character {_rune_repr(self._peek())}")
        word = self.text[self.start : self.pos]
        if word in KEYWORDS:
            self._emit(KEYWORDS[word])
        elif word in ("true", "false"):
            self._emit(Tok.BOOL)
        else:
            self._emit(Tok.IDENTIFIER)
        return True

    def _lex_number(self) -> bool:
        if not self._scan_number():
            return self._error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
        if self._peek() in ("+", "-"):  # Go's complex literals (1+2i) are not supported
            self.pos += 1
            self._scan_number()
            return self._error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
        self._emit(Tok.NUMBER)
        return True

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 11 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 23 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if self._peek() and _is_alnum(self._peek()):
            self.pos += 1
            return False
        return True


def _rune_repr(ch: str) -> str:
    """Go's %#U: U+007D '}'."""
    return f"U+{ord(ch):04X} '{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"


def tokenize(text: str) -> list[Token]:
    return Lexer(text).run()
