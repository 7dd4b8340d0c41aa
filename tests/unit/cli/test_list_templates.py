"""List views' `--format` over docker's row contexts (cli/gotemplate_typed.RowContext), and the typed views of
`version -f` / `info -f` (cli/gotemplate_types): unknown fields, `{{json .}}`, docker's values and exit codes."""

from __future__ import annotations

import pytest

from dockyard.cli import containers_info, formatting, images, networks, volumes
from dockyard.cli.exits import CliExit
from dockyard.cli.gotemplate import parse
from dockyard.cli.gotemplate_types import info_view, version_view
from dockyard.cli.template_error import TemplateError

CONTAINER = {"Id": "0f6770bbe325b45e37a4", "Names": ["/ctr"], "Image": "busybox", "ImageID": "sha256:38a1",
             "Command": "sleep 100", "Created": 0, "State": "running", "Status": "Up 2 seconds",
             "Labels": {"q": 'a"b<c>&', "zeta": "last"}, "Ports": [], "Mounts": [],
             "NetworkSettings": {"Networks": {"tnet": {}}}}  # fmt: skip
IMAGE = {"Id": "sha256:38a18cc2f2cff6aef1ee", "RepoTags": ["busybox:latest"], "RepoDigests": ["busybox@sha256:c6"],
         "Created": 0, "Size": 1986000, "SharedSize": -1, "Containers": -1}  # fmt: skip


def _rows(fmt: str, rows: list[object]) -> str:
    return formatting.format_rows(fmt, rows, default_table="table {{.ID}}", headers={"ID": "ID"})


def test_unknown_field_of_a_row_is_an_error_naming_dockers_context() -> None:
    row = containers_info.PsRow(CONTAINER, trunc=True)
    with pytest.raises(TemplateError) as err:
        _rows("{{.Nope}}", [row])
    assert err.value.detail == (
        'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext'
    )
    with pytest.raises(TemplateError, match="can't evaluate field ID in type \\*formatter.volumeContext"):
        _rows("{{.ID}}", [volumes.VolumeRow({"Name": "v", "Driver": "local"})])
    with pytest.raises(TemplateError, match="wrong number of args for ID: want 0 got 1"):
        _rows('{{.ID "x"}}', [row])


def test_row_json_is_dockers_marshal_json() -> None:
    """Sorted keys, HTML escaped, Platform null for a container without a manifest descriptor."""
    text = _rows("{{json .}}", [containers_info.PsRow(CONTAINER, trunc=True)])
    assert '"Labels":"q=a\\"b\\u003cc\\u003e\\u0026,zeta=last"' in text
    assert '"Platform":null' in text and text.index('"Names"') < text.index('"Platform"') < text.index('"Ports"')
    volume = _rows("json", [volumes.VolumeRow({"Name": "v", "Driver": "local", "Labels": {"a": "1"}})])
    assert volume == (
        '{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"a=1","Links":"N/A","Mountpoint":"",'
        '"Name":"v","Scope":"local","Size":"N/A","Status":"N/A"}\n'
    )
    net = {"Id": "133fd85e23e6aa", "Name": "tnet", "Driver": "bridge", "Scope": "local", "EnableIPv6": True,
           "Created": "2026-11-29T01:50:09.896802Z", "Labels": {"x": "1"}}  # fmt: skip
    assert _rows("{{.IPv4}} {{.IPv6}} {{.CreatedAt}} {{.Label `x`}}", [networks.NetworkRow(net, trunc=True)]) == (
        "false true 2026-11-29 01:50:09.896802 +0000 UTC 1\n"
    )


def test_image_values_and_digest_rows() -> None:
    rows = images.image_rows(IMAGE, digests=False, trunc=True)
    assert _rows("{{.Size}} {{.VirtualSize}} {{.Digest}} {{.SharedSize}}", rows) == "1.99MB 1.986MB <none> N/A\n"
    rows = images.image_rows(IMAGE, digests=False, need_digest=True, trunc=True)
    assert _rows("{{.Digest}}", rows) == "sha256:c6\n"  # a format naming {{.Digest}} shows it, as docker's
    only_digest = {**IMAGE, "RepoTags": []}
    assert _rows("[{{.Tag}}|{{.Digest}}]", images.image_rows(only_digest, digests=False, trunc=True)) == "[<none>|]\n"
    assert images.image_format("table {{.ID}}", quiet=False, digests=True) == "table {{.ID}}\t{{.Digest}}"
    assert images.image_format("{{.Tag}}", quiet=True, digests=False) == "{{.Tag}}"  # a custom format wins over -q
    assert images.image_format("", quiet=True, digests=False) == "{{.ID}}"


def test_ps_checks_the_template_over_an_empty_context_first() -> None:
    assert containers_info.check_ps_format("table {{.Names}}\t{{.Size}}") is True
    assert containers_info.check_ps_format("{{json .}}") is True  # MarshalJSON calls Size: docker asks for sizes
    assert containers_info.check_ps_format("json") is False
    assert containers_info.check_ps_format('{{if eq .State "running"}}{{.Nope}}{{end}}') is False
    with pytest.raises(CliExit) as err:
        containers_info.check_ps_format("{{.Nope")
    assert (err.value.code, err.value.message) == (1, "failed to parse template: template: :1: unclosed action")
    with pytest.raises(CliExit) as err:
        containers_info.check_ps_format("x{{index .ID 50}}")
    assert (err.value.code, err.value.message) == (
        1,
        'failed to execute template: template: :1:3: executing "" at <index .ID 50>: error calling index: '
        "index out of range: 50",
    )


SERVER = {"Platform": {"Name": "Dockyard Engine"}, "Version": "0.1.0", "ApiVersion": "1.47", "MinAPIVersion": "1.24",
          "Os": "linux", "Arch": "amd64", "GitCommit": "", "GoVersion": "python3.11",
          "Components": [{"Name": "Engine", "Version": "0.1.0", "Details": {"b": "2", "a": "1"}}]}  # fmt: skip


def test_version_view_is_dockers_version_info() -> None:
    view = version_view({"Version": "1", "ApiVersion": "1.47", "Context": "default"}, SERVER)
    assert (
        parse("{{.Server.APIVersion}} {{.Client.APIVersion}} {{.Client.Platform}}").execute(view) == "1.47 1.47 <nil>"
    )
    assert parse("{{json .Client}}").execute(view) == '{"Version":"1","ApiVersion":"1.47","Context":"default"}'
    assert parse("{{.Server}}").execute(view) == (
        "{{Dockyard Engine} [{Engine 0.1.0 map[a:1 b:2]}] 0.1.0 1.47 1.24  python3.11 linux amd64  false }"
    )
    with pytest.raises(TemplateError, match="can't evaluate field ApiVersion in type \\*types.Version"):
        parse("{{.Server.ApiVersion}}").execute(view)


def test_info_view_embeds_system_info() -> None:
    data = {"ID": "x", "Warnings": None, "CpuCfsPeriod": True, "BridgeNfIptables": True,
            "Runtimes": {"runc": {"path": "/usr/bin/runc"}}, "Plugins": {"Volume": ["local"]}}  # fmt: skip
    view = info_view(data, {"Debug": False, "Version": "0.1.0", "Context": "default"})
    assert parse("{{.Warnings}} {{.Info.ID}} {{.CPUCfsPeriod}} {{.ServerErrors}}").execute(view) == "[] x true []"
    assert parse("{{.Runtimes}}").execute(view) == "map[runc:{{/usr/bin/runc []  map[]} map[]}]"
    assert parse("{{json .Runtimes}} {{json .Plugins}}").execute(view) == (
        '{"runc":{"path":"/usr/bin/runc"}} {"Volume":["local"],"Network":null,"Authorization":null,"Log":null}'
    )
    text = parse("{{json .}}").execute(view)
    assert text.startswith('{"ID":"x","Containers":0,') and "BridgeNfIptables" not in text
    assert '"ClientInfo":{"Debug":false,"Version":"0.1.0","Context":"default","Plugins":[],"Warnings":null}' in text
    assert "UserName" not in text
    with pytest.raises(TemplateError, match="can't evaluate field Nope in type system.dockerInfo"):
        parse("{{.Nope}}").execute(view)
