"""Docker's `--format` rules for lists (`ps`, `images`, `volume ls`…): table/json/raw templates, the header row,
and columns aligned as Go's text/tabwriter does. It renders strings only; printing and `--quiet` are the
caller's.

Reference: docker/cli cli/command/formatter/formatter.go (`Context.preFormat/postFormat`) and its tabwriter
fork, created as ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``: minimum cell width 10 including padding,
3 spaces of padding, cells terminated by tabs, the text after a line's last tab outside any column.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence

from dockyard.cli.template_error import TemplateError

TABLE_KEY = "table"
JSON_KEY = "json"
JSON_FORMAT = "{{json .}}"
_ESCAPES = re.compile(r"\\[tn]")
# A template of nothing but `{{.Field}}` actions between plain text (every default table) is rendered without the
# Go template engine, whose import alone costs ~25 ms; anything else goes through gotemplate.
_SIMPLE = re.compile(r"(?:[^{}]|\{\{ *\.\w+ *\}\})*")
_FIELD = re.compile(r"\{\{ *\.(\w+) *\}\}")


class HeaderContext(Mapping[str, str]):
    """What a table's header row is rendered from: field name → column title (docker's SubHeaderContext),
    plus its `Label` method so `{{.Label "com.example.x"}}` gets a header too."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __getitem__(self, key: str) -> str:
        return self._headers[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)

    def Label(self, name: str) -> str:  # Go's method name, called from templates
        """The last dot-separated part of a label key, `-` and `_` read as spaces (as docker's)."""
        return re.sub("[-_]", " ", str(name).split(".")[-1])


def final_format(fmt: str) -> tuple[str, bool]:
    """docker's preFormat: (template text, is_table). `table X` → X; `json` → {{json .}}; then spaces are
    trimmed and the two-character escapes `\\t` and `\\n` become a tab and a newline."""
    is_table = fmt.startswith(TABLE_KEY)
    if is_table:
        fmt = fmt[len(TABLE_KEY) :]
    elif fmt == JSON_KEY:
        fmt = JSON_FORMAT
    fmt = fmt.strip(" ")
    return _ESCAPES.sub(lambda m: "\t" if m.group() == "\\t" else "\n", fmt), is_table


def format_rows(
    fmt: str | None,
    rows: Sequence[object],
    *,
    default_table: str,
    headers: Mapping[str, str],
) -> str:
    """Render `rows` as docker does for `--format fmt`; the result ends with a newline unless it is empty.

    None, "" or "table" use `default_table` (itself a "table …" format); "json" prints `{{json .}}` per row;
    "table X" prints a header row (`headers` maps field names to titles) and aligned columns; anything else
    is a template executed per row, each followed by a newline. Raises TemplateError with docker's message.
    """
    if not fmt or fmt == TABLE_KEY:
        fmt = default_table
    text, is_table = final_format(fmt)
    simple = _simple_rows(text, rows, headers if is_table else None)
    if simple is not None:
        body = "".join(line + "\n" for line in simple[1:])
        return tabwrite(simple[0] + "\n" + body) if is_table else body
    from dockyard.cli.gotemplate import HEADER_FUNCTIONS, parse

    template = parse(text)
    body = "".join(template.execute(row) + "\n" for row in rows)
    if not is_table:
        return body
    try:
        header = template.execute(HeaderContext(headers), functions=HEADER_FUNCTIONS)
    except TemplateError as err:
        header = err.partial  # docker ignores the header's error and keeps what was written
    return tabwrite(header + "\n" + body)


def simple_fields(text: str) -> list[str] | None:
    """The field names of a template made of plain `{{.Field}}` actions and text only; None otherwise."""
    if _SIMPLE.fullmatch(text) is None:
        return None
    return _FIELD.findall(text)


def _simple_rows(text: str, rows: Sequence[object], headers: Mapping[str, str] | None) -> list[str] | None:
    """[header, row lines…] for a template of plain `{{.Field}}` actions over mappings of strings (the header
    is "" when `headers` is None); None when the template or a value needs the real engine."""
    if _SIMPLE.fullmatch(text) is None:
        return None
    pieces = _FIELD.split(text)  # literal, field, literal, field, …, literal
    if headers is not None and any(field not in headers for field in pieces[1::2]):
        return None

    def render(data: Mapping[str, object]) -> str | None:
        out = []
        for index, piece in enumerate(pieces):
            value = data.get(piece) if index % 2 else piece
            if not isinstance(value, str):
                return None
            out.append(value)
        return "".join(out)

    lines = [render(headers) if headers is not None else ""]
    for row in rows:
        lines.append(render(row) if isinstance(row, Mapping) else None)
    return None if None in lines else [line or "" for line in lines]


# -- Go's text/tabwriter -----------------------------------------------------------------------------------------


def cell_width(text: str) -> int:
    """Display width as go-runewidth counts it: wide East Asian characters 2, combining marks 0."""
    if text.isascii():
        return len(text)  # every ASCII character is one column (a table of 100 rows measures ~12,000 cells)
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def tabwrite(text: str, *, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-terminated cells into columns (padchar ' ', no flags), as docker's table output."""
    return _TabWriter(text, minwidth, padding).render()


class _TabWriter:
    def __init__(self, text: str, minwidth: int, padding: int) -> None:
        self.minwidth = minwidth
        self.padding = padding
        raw_lines = text.split("\n")
        self.lines = [line.split("\t") for line in raw_lines]
        last = self.lines[-1]
        if last and last[-1] == "":
            last.pop()  # an empty unterminated cell at the very end is not a cell
        self.out: list[str] = []

    def render(self) -> str:
        # A line of a single cell flushes the writer; column blocks end there anyway, so format() over all
        # lines gives the same result.
        self.format(0, len(self.lines), [])
        return "".join(self.out)

    def format(self, line0: int, line1: int, widths: list[int]) -> None:
        """Go's Writer.format: find each block of consecutive lines sharing column `len(widths)`, size it
        by its widest cell plus padding (at least minwidth), and recurse into the next column."""
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(self.lines[this]) - 1:
                this += 1
                continue
            self.write_lines(line0, this, widths)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(self.lines[this]) - 1:
                width = max(width, cell_width(self.lines[this][column]) + self.padding)
                this += 1
            self.format(line0, this, [*widths, width])
            line0 = this
        self.write_lines(line0, line1, widths)

    def write_lines(self, line0: int, line1: int, widths: list[int]) -> None:
        for index in range(line0, line1):
            for column, cell in enumerate(self.lines[index]):
                self.out.append(cell)
                if column < len(widths):
                    self.out.append(" " * (widths[column] - cell_width(cell)))
            if index + 1 < len(self.lines):
                self.out.append("\n")
