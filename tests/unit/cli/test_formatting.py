"""docker's --format rules for list commands and Go's tabwriter alignment.

The expected tables were produced by Go's text/tabwriter with docker's settings (minwidth 10, padding 3)
over the same template output, so spacing matches the docker CLI byte for byte.
"""

from __future__ import annotations

import pytest

from dockyard.cli.formatting import HeaderContext, cell_width, final_format, format_rows, tabwrite
from dockyard.cli.gotemplate import TemplateError

PS_TABLE = "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}"
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
}
IMAGES_TABLE = "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}"
IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED", "Size": "SIZE"}

REC_D = {
    "ID": "3f2c1b0a9e8d",
    "Image": "busybox:latest",
    "Command": '"sh -c \'i=0; whi…"',
    "RunningFor": "2 minutes ago",
    "Status": "Up 2 minutes",
    "Ports": "",
    "Names": "rec-d",
}
REC_P = {
    "ID": "a1b2c3d4e5f6",
    "Image": "busybox",
    "Command": '"httpd -f -p 80"',
    "RunningFor": "About a minute ago",
    "Status": "Up About a minute",
    "Ports": "0.0.0.0:18080->80/tcp, :::18080->80/tcp, 127.0.0.1:49153->81/udp",
    "Names": "rec-p",
}
IMAGES = [
    {
        "Repository": "127.0.0.1:5000/library/busybox",
        "Tag": "latest",
        "ID": "a416a98b71e2",
        "CreatedSince": "2 years ago",
        "Size": "4.26MB",
    },
    {
        "Repository": "rec-build",
        "Tag": "1",
        "ID": "0b1c2d3e4f5a",
        "CreatedSince": "About a minute ago",
        "Size": "4.26MB",
    },
]


def ps(fmt: str | None, rows: list[object]) -> str:
    return format_rows(fmt, rows, default_table=PS_TABLE, headers=PS_HEADERS)


def test_ps_header_without_rows() -> None:
    assert ps(None, []) == "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"


def test_ps_default_table() -> None:
    ports = "0.0.0.0:18080->80/tcp, :::18080->80/tcp, 127.0.0.1:49153->81/udp"
    assert ps(None, [REC_D, REC_P]).splitlines() == [
        "CONTAINER ID   IMAGE            COMMAND              CREATED              STATUS              "
        + "PORTS".ljust(len(ports) + 3)
        + "NAMES",
        '3f2c1b0a9e8d   busybox:latest   "sh -c \'i=0; whi…"   2 minutes ago        Up 2 minutes        '
        + " " * (len(ports) + 3)
        + "rec-d",
        'a1b2c3d4e5f6   busybox          "httpd -f -p 80"     About a minute ago   Up About a minute   '
        + ports
        + "   rec-p",
    ]


@pytest.mark.parametrize("fmt", [None, "", "table"])
def test_default_table_spellings(fmt: str | None) -> None:
    assert ps(fmt, [REC_D]) == ps(PS_TABLE, [REC_D])


def test_images_table() -> None:
    assert format_rows(None, [], default_table=IMAGES_TABLE, headers=IMAGES_HEADERS) == (
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    )
    assert format_rows(None, IMAGES, default_table=IMAGES_TABLE, headers=IMAGES_HEADERS) == (
        "REPOSITORY                       TAG       IMAGE ID       CREATED              SIZE\n"
        "127.0.0.1:5000/library/busybox   latest    a416a98b71e2   2 years ago          4.26MB\n"
        "rec-build                        1         0b1c2d3e4f5a   About a minute ago   4.26MB\n"
    )


def test_custom_table_with_literal_tab_escape() -> None:
    assert ps("table {{.ID}}\\t{{.Names}}", [REC_D, REC_P]) == (
        "CONTAINER ID   NAMES\n3f2c1b0a9e8d   rec-d\na1b2c3d4e5f6   rec-p\n"
    )


def test_table_header_keeps_titles_through_header_functions() -> None:
    # docker renders the header with functions that return their argument unchanged.
    assert ps("table {{upper .Names}}\\t{{json .Status}}\\t{{lower .ID}}", [REC_D]) == (
        'NAMES     STATUS           CONTAINER ID\nREC-D     "Up 2 minutes"   3f2c1b0a9e8d\n'
    )


def test_table_header_for_unknown_field_is_no_value() -> None:
    out = format_rows(
        "table {{.Repository}}\\t{{.Nope}}\\t{{.Tag}}",
        IMAGES[:1],
        default_table=IMAGES_TABLE,
        headers=IMAGES_HEADERS,
    )
    assert (
        out
        == "REPOSITORY                       <no value>   TAG\n127.0.0.1:5000/library/busybox   <no value>   latest\n"
    )


def test_table_header_for_labels() -> None:
    class Row:
        def Label(self, name: str) -> str:
            return {"org.opencontainers.image.title": "busybox"}.get(name, "")

    out = format_rows(
        'table {{.Label "org.opencontainers.image.title"}}\\t{{.Label "com.example.build_id"}}',
        [Row()],
        default_table="",
        headers={},
    )
    assert out == "title     build id\nbusybox   \n"


def test_json_format_is_one_object_per_line() -> None:
    assert ps("json", [REC_D, REC_P]).splitlines()[1] == (
        '{"Command":"\\"httpd -f -p 80\\"","ID":"a1b2c3d4e5f6","Image":"busybox","Names":"rec-p",'
        '"Ports":"0.0.0.0:18080->80/tcp, :::18080->80/tcp, 127.0.0.1:49153->81/udp",'
        '"RunningFor":"About a minute ago","Status":"Up About a minute"}'
    )
    assert ps("{{json .}}", [REC_D]) == ps("json", [REC_D])
    assert ps("json", []) == ""


def test_raw_template_per_row() -> None:
    assert ps("{{.ID}}: {{.Names}}", [REC_D, REC_P]) == "3f2c1b0a9e8d: rec-d\na1b2c3d4e5f6: rec-p\n"
    assert ps("{{.ID}}", []) == ""


def test_raw_template_is_trimmed_and_unescaped() -> None:
    assert ps("  {{.ID}}\\t{{.Names}}\\n ", [REC_D]) == "3f2c1b0a9e8d\trec-d\n\n"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("table {{.ID}}", ("{{.ID}}", True)),
        ("tablex {{.ID}}", ("x {{.ID}}", True)),
        ("json", ("{{json .}}", False)),
        (" {{.ID}}\\n", ("{{.ID}}\n", False)),
        ("{{.A}}\\\\t", ("{{.A}}\\\t", False)),
    ],
)
def test_final_format(fmt: str, expected: tuple[str, bool]) -> None:
    assert final_format(fmt) == expected


def test_bad_template_raises_docker_message() -> None:
    with pytest.raises(TemplateError, match=r'^template parsing error: template: :1: function "nope" not defined$'):
        ps("table {{nope .ID}}", [REC_D])


def test_execution_error_in_a_row() -> None:
    with pytest.raises(TemplateError) as caught:
        ps("{{.ID.Short}}", [REC_D])
    assert str(caught.value) == (
        'template parsing error: template: :1:5: executing "" at <.ID.Short>: '
        "can't evaluate field Short in type interface {}"
    )


def test_header_context_label_and_mapping() -> None:
    header = HeaderContext({"ID": "CONTAINER ID"})
    assert header["ID"] == "CONTAINER ID"
    assert list(header) == ["ID"]
    assert header.Label("com.docker.compose.project-name") == "project name"


# -- tabwriter -----------------------------------------------------------------------------------------------


def test_tabwriter_minimum_width_and_padding() -> None:
    assert tabwrite("a\tb\nccccccccccccc\td\n") == "a               b\nccccccccccccc   d\n"


def test_tabwriter_single_cell_lines_split_column_blocks() -> None:
    text = "NAME\nA\tB\tC\nn1\na\tbbbbbbbbbbbbbbbb\tc\nn2\naaaaaaaaaaaa\tb\tc\n"
    assert tabwrite(text) == (
        "NAME\nA         B         C\nn1\na         bbbbbbbbbbbbbbbb   c\nn2\naaaaaaaaaaaa   b         c\n"
    )


def test_tabwriter_trailing_cells_and_missing_newline() -> None:
    assert tabwrite("ab\tc\t\nx\ty") == "ab        c         \nx         y"
    assert tabwrite("a\t") == "a"
    assert tabwrite("") == ""


def test_tabwriter_counts_display_width() -> None:
    assert cell_width("日本") == 4
    assert cell_width("e\u0301") == 1
    assert tabwrite("日本語\tx\nab\ty\n") == "日本語    x\nab        y\n"


@pytest.mark.parametrize(
    "fmt",
    [None, "table", "table {{.ID}}\t{{ .Names }}", "{{.ID}}: {{.Names}}", "table {{.ID}}\t{{.Nope}}",
     "table {{upper .ID}}", "{{.Count}}", "json"],
)  # fmt: skip
def test_plain_field_templates_render_as_the_template_engine(fmt: str | None) -> None:
    """The fast path for `{{.Field}}`-only templates (no gotemplate import) gives the engine's output."""
    from dockyard.cli import gotemplate

    class Row(dict[str, object]):
        def Label(self, name: str) -> str:
            return f"label-{name}"

    rows = [Row(ID="abc", Names="x  y", Count=3), Row(ID="日本語", Names="z", Count=0)]
    headers = {"ID": "CONTAINER ID", "Names": "NAMES", "Count": "COUNT"}
    default = "table {{.ID}}\t{{.Names}}"
    got = format_rows(fmt, rows, default_table=default, headers=headers)
    text, is_table = final_format(fmt if fmt and fmt != "table" else default)
    template = gotemplate.parse(text)
    body = "".join(template.execute(r) + "\n" for r in rows)
    if is_table:
        try:
            header = template.execute(HeaderContext(headers), functions=gotemplate.HEADER_FUNCTIONS)
        except TemplateError as err:
            header = err.partial
        body = tabwrite(header + "\n" + body)
    assert got == body
