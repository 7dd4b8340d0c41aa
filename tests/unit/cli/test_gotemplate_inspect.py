"""`inspect -f` over docker's Go types (gotemplate_types) with the raw-JSON fallback, and the Go-fmt details the
docker CLI 28 oracle showed (tests/compat/test_template_parity.py): expected strings are docker's own output.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dockyard.cli.gotemplate import TemplateError, parse, render
from dockyard.cli.gotemplate_typed import GoTime, go_duration
from dockyard.cli.gotemplate_types import event_view, inspect_json, inspect_view, typed
from dockyard.cli.gotemplate_values import go_json

CONTAINER: dict[str, Any] = {
    "Id": "4d3f853dc0c7aa",
    "Created": "2026-11-29T01:28:02.544039986Z",
    "Path": "sleep",
    "Args": ["1000"],
    "State": {
        "Status": "running",
        "Running": True,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 4242,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": "2026-11-29T01:28:02.71Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
    },  # fmt: skip
    "Name": "/ctr",
    "ExecIDs": None,
    "HostConfig": {
        "Binds": ["tvol:/data"],
        "LogConfig": {"Type": "json-file", "Config": {}},
        "Links": None,
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "PortBindings": {},
        "PidsLimit": None,
        "Sysctls": None,
        "Memory": 0,
    },  # fmt: skip
    "GraphDriver": {"Data": {"UpperDir": "/u"}, "Name": "overlay2"},
    "Mounts": [
        {
            "Type": "volume",
            "Name": "tvol",
            "Source": "/v/tvol/_data",
            "Destination": "/data",
            "Driver": "local",
            "Mode": "z",
            "RW": True,
            "Propagation": "",
        }
    ],  # fmt: skip
    "Config": {
        "Hostname": "4d3f853dc0c7",
        "Env": ["FOO=bar"],
        "Cmd": ["sleep", "1000"],
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 0, "Timeout": 90_000_000_000},
        "Image": "busybox",
        "Volumes": None,
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": {"zeta": "last", "com.example.x": "1"},
    },  # fmt: skip
    "NetworkSettings": {
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
        "SecondaryIPAddresses": None,
        "Networks": {
            "tnet": {
                "IPAMConfig": None,
                "Links": None,
                "Aliases": None,
                "MacAddress": "02:42",
                "DriverOpts": None,
                "NetworkID": "n1",
                "EndpointID": "e1",
                "Gateway": "172.21.0.1",
                "IPAddress": "172.21.0.2",
                "IPPrefixLen": 16,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": None,
            }
        },  # fmt: skip
    },
}

VOLUME: dict[str, Any] = {"CreatedAt": "2026-11-29T01:27:58Z", "Driver": "local", "Labels": {"vl": "1"},
                          "Mountpoint": "/v/tvol/_data", "Name": "tvol", "Options": None, "Scope": "local"}  # fmt: skip

NETWORK: dict[str, Any] = {
    "Name": "tnet", "Id": "e4a8", "Created": "2026-11-29T01:27:58.901555Z", "Scope": "local", "Driver": "bridge",
    "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "172.21.0.0/16",
    "Gateway": "172.21.0.1"}]}, "Internal": False, "Attachable": False, "Ingress": False,
    "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {}, "Options": {}, "Labels": {},
}  # fmt: skip

IMAGE: dict[str, Any] = {
    "Id": "sha256:38a1", "RepoTags": ["busybox:latest"], "RepoDigests": [], "Parent": "", "Comment": "",
    "Created": "2026-05-07T20:33:45Z", "Author": "", "Architecture": "amd64", "Os": "linux", "Size": 1986000,
    "Config": {"Hostname": "", "Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": None, "Entrypoint": None,
               "Tty": False},
    "GraphDriver": {"Data": {}, "Name": "overlay2"}, "RootFS": {"Layers": ["sha256:6bf8"], "Type": "layers"},
    "Metadata": {"LastTagTime": "2026-11-29T01:27:55.740168Z"},
}  # fmt: skip


def inspect(text: str, doc: object) -> str:
    return parse(text).execute_inspect(copy.deepcopy(doc))


def inspect_error(text: str, doc: object) -> str:
    with pytest.raises(TemplateError) as caught:
        inspect(text, doc)
    return caught.value.detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{.Config.Labels.nope}}", "<no value>"),  # typed map: no entry is "no value", not an error
        ("{{.Config.Labels.nope.deeper}}", "<no value>"),
        ('{{index .Config.Labels "nope"}}', ""),  # map[string]string: the zero value ""
        ('{{index .NetworkSettings.Networks "nope"}}', "<nil>"),  # map[string]*EndpointSettings
        ("{{with .Config.Labels.nope}}yes{{else}}no{{end}}", "no"),
        ('{{or .Config.Labels.nope "dflt"}}', "dflt"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}", "com.example.x=1 zeta=last "),
        ("{{.HostConfig.Links}}", "[]"),  # nil slice
        ("{{json .HostConfig.Links}}", "null"),
        ("{{.ExecIDs}} {{.Config.OnBuild}} {{.NetworkSettings.SecondaryIPAddresses}}", "[] [] []"),
        ("{{.Config.Volumes}} {{.HostConfig.Sysctls}}", "map[] map[]"),  # nil maps
        ("{{.Config.ExposedPorts}} {{.HostConfig.Tmpfs}}", "map[] map[]"),  # omitted: the zero value
        ("{{.SizeRw}} {{.HostConfig.PidsLimit}} {{.Config.StopTimeout}}", "<nil> <nil> <nil>"),
        ("[{{.Config.StopSignal}}]", "[]"),
        ("{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Timeout}}", "0s 1m30s"),
        ("{{json .Config.Healthcheck}}", '{"Test":["CMD-SHELL","true"],"Timeout":90000000000}'),  # omitempty
        ("{{.HostConfig.RestartPolicy}}", "{no 0}"),
        ("{{.HostConfig.LogConfig}}", "{json-file map[]}"),
        ("{{.GraphDriver}}", "{map[UpperDir:/u] overlay2}"),
        ("{{.Mounts}}", "[{volume tvol /v/tvol/_data /data local z true }]"),
        (
            "{{json .Mounts}}",
            '[{"Type":"volume","Name":"tvol","Source":"/v/tvol/_data","Destination":"/data",'
            '"Driver":"local","Mode":"z","RW":true,"Propagation":""}]',
        ),  # fmt: skip
        (
            '{{index .NetworkSettings.Networks "tnet"}}',
            "{<nil> [] [] 02:42 map[] 0 n1 e1 172.21.0.1 172.21.0.2 16   0 []}",
        ),  # fmt: skip
        (
            "{{range $n, $c := .NetworkSettings.Networks}}{{$n}} {{$c.Aliases}} {{$c.IPAMConfig}}{{end}}",
            "tnet [] <nil>",
        ),  # fmt: skip
        ('{{printf "%T %T" .State.Pid .Config.Healthcheck.Interval}}', "int time.Duration"),
        ('{{printf "%d" .Config.Healthcheck.Timeout}}', "90000000000"),
    ],
)
def test_container_typed_view(text: str, expected: str) -> None:
    assert inspect(text, CONTAINER) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a string is not a nat.Port: the typed run fails and the raw JSON answers, missing key as nil
        ('{{index .NetworkSettings.Ports "80/tcp"}}', "[map[HostIp:0.0.0.0 HostPort:8080]]"),
        ('{{index .NetworkSettings.Ports "81/tcp"}}', "<no value>"),
        ('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', "8080"),
        # the raw run decodes numbers as json.Number, a string kind
        ('{{eq .State.Pid "x"}}', "false"),
        ("{{len .State.Pid}}", "4"),
    ],
)
def test_container_raw_fallback(text: str, expected: str) -> None:
    assert inspect(text, CONTAINER) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.Foo}}", 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"'),
        (
            '{{index .Config.ExposedPorts "80/tcp"}}',
            'template: :1:15: executing "" at <.Config.ExposedPorts>: map has no entry for key "ExposedPorts"',
        ),
        (
            '{{split .State.Pid ","}}',
            'template: :1:14: executing "" at <.State.Pid>: wrong type for value; expected string; got json.Number',
        ),
        (
            "{{.Name.Foo}}",
            'template: :1:7: executing "" at <.Name.Foo>: can\'t evaluate field Foo in type interface {}',
        ),
    ],
)
def test_container_errors_are_the_raw_runs(text: str, message: str) -> None:
    assert inspect_error(text, CONTAINER) == message


def test_volume_has_no_raw_fallback() -> None:
    assert inspect("{{.Options}} {{.UsageData}} {{.Labels.vl}} {{.Labels.nope}}", VOLUME) == "map[] <nil> 1 <no value>"
    assert inspect('[{{index .Labels "nope"}}]', VOLUME) == "[]"
    message = inspect_error("{{.Foo}}", VOLUME)
    assert message == 'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type volume.Volume'


def test_network_types() -> None:
    assert inspect("{{.Created}}", NETWORK) == "2026-11-29 01:27:58.901555 +0000 UTC"
    assert inspect("{{.IPAM.Config}}", NETWORK) == "[{172.21.0.0/16  172.21.0.1 map[]}]"
    assert inspect("{{.ConfigFrom}} {{.Peers}}", NETWORK) == "{} []"
    ipam = '{"Driver":"default","Options":{},"Config":[{"Subnet":"172.21.0.0/16","Gateway":"172.21.0.1"}]}'
    assert inspect("{{json .IPAM}}", NETWORK) == ipam
    assert inspect("{{json .Created}}", NETWORK) == '"2026-11-29T01:27:58.901555Z"'


def test_image_types() -> None:
    assert inspect("{{.Config.Labels}} {{.Config.Labels.nope}}", IMAGE) == "map[] <no value>"
    assert inspect('[{{index .Config.Labels "x"}}]', IMAGE) == "[]"
    assert inspect("{{json .Config}}", IMAGE) == '{"Env":["PATH=/bin"],"Cmd":["sh"]}'
    assert inspect("{{json .RootFS}}", IMAGE) == '{"Type":"layers","Layers":["sha256:6bf8"]}'
    assert inspect("{{.Metadata}}", IMAGE) == "{2026-11-29 01:27:55.740168 +0000 UTC}"


def test_inspect_json_is_one_compact_array() -> None:
    container = {"Id": "c1", "State": {"Status": "created"}, "HostConfig": {"Links": None}}
    assert inspect_json([container]) == '[{"Id":"c1","State":{"Status":"created"},"HostConfig":{"Links":null}}]'
    volume = {"Name": "v", "Driver": "local", "Mountpoint": "/m", "Labels": {"q": "<&>"}, "Scope": "local"}
    one = '{"Driver":"local","Labels":{"q":"\\u003c\\u0026\\u003e"},"Mountpoint":"/m","Name":"v","Options":null,'
    one += '"Scope":"local"}'
    assert inspect_json([volume, volume]) == f"[{one},{one}]"  # re-marshalled: Go order, nil map, HTML escaped
    assert inspect_json([]) == "[]"


def test_event_view_is_an_events_message() -> None:
    actor = {"ID": "c1", "Attributes": {"name": "ctr2"}}
    event = {"Status": "", "ID": "", "From": "", "Type": "container", "Action": "create", "Actor": actor,
             "Scope": "local", "Time": 5, "TimeNano": 5000}  # fmt: skip
    text = '{{.Actor}} [{{index .Actor.Attributes "nope"}}] {{.Actor.Attributes.nope}}'
    assert render(text, event_view(event)) == "{c1 map[name:ctr2]} [] <no value>"
    assert render("{{json .}}", event_view(event)) == (
        '{"Type":"container","Action":"create","Actor":{"ID":"c1","Attributes":{"name":"ctr2"}},"scope":"local",'
        '"time":5,"timeNano":5000}'
    )
    with pytest.raises(TemplateError) as caught:
        render("{{.Foo}}", event_view({}))
    assert caught.value.detail.endswith("can't evaluate field Foo in type *events.Message")


def test_unknown_documents_run_raw_only() -> None:
    assert inspect_view({"Whatever": 1}) == (None, True)
    assert inspect("{{.Whatever}}", {"Whatever": 1}) == "1"
    assert inspect_error("{{.Nope}}", {"Whatever": 1}).endswith('map has no entry for key "Nope"')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{len .}}", "error calling len: len of type RestartPolicy"),
        ('{{index . "Name"}}', "error calling index: can't index item of type RestartPolicy"),
        ("{{range .}}x{{end}}", "range can't iterate over {no 0}"),
    ],
)
def test_a_struct_is_not_a_map(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(text, typed({"Name": "no", "MaximumRetryCount": 0}, "RestartPolicy"))
    assert caught.value.detail.endswith(message)


def test_typed_values_of_the_wrong_shape_stay_raw() -> None:
    assert typed("x", "{s") == "x"
    assert typed(None, "[s") == ()


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5\u00b5s"),
        (500_000_000, "500ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (-2_000_000_000, "-2s"),
    ],  # fmt: skip
)
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_go_time() -> None:
    health = GoTime("2026-11-29T01:29:44.914383330Z")
    assert str(health) == "2026-11-29 01:29:44.91438333 +0000 UTC"
    assert go_json(health) == '"2026-11-29T01:29:44.91438333Z"'
    assert str(GoTime("2026-11-29T03:00:00+02:00")) == "2026-11-29 03:00:00 +0200 +0200"
    assert str(GoTime("not a time")) == "not a time"


# -- Go fmt and parse details found by the oracle ---------------------------------------------------------------


def test_printf_explicit_argument_indexes() -> None:
    assert render('{{printf "%[2]d %[1]d" 1 2}}', {}) == "2 1"
    assert render('{{printf "%[3]d" 1 2}}', {}) == "%!d(BADINDEX)"


def test_printf_plus_v_names_struct_fields_and_signs_nothing() -> None:
    text = '{{printf "%+v|%+v|%+d|%+v" .HostConfig.RestartPolicy .Config.Labels 5 .State.Pid}}'
    assert inspect(text, CONTAINER) == "{Name:no MaximumRetryCount:0}|map[com.example.x:1 zeta:last]|+5|4242"


def test_eq_compares_comparable_structs() -> None:
    assert inspect("{{eq .HostConfig.RestartPolicy .HostConfig.RestartPolicy}}", CONTAINER) == "true"
    assert inspect("{{eq (index .Mounts 0) (index .Mounts 0)}}", CONTAINER) == "true"
    message = inspect_error("{{eq .GraphDriver .GraphDriver}}", CONTAINER)  # a map field: not comparable
    assert "error calling eq: non-comparable type map[" in message


def test_printf_sharp_v_quotes_strings() -> None:
    assert render('{{printf "%#v" .Name}}', {"Name": "/ctr"}) == '"/ctr"'


def test_uint_sized_literal_parses_then_overflows_int() -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{9223372036854775808}}", {})
    message = 'template: :1:2: executing "" at <9223372036854775808>: 9223372036854775808 overflows int'
    assert caught.value.detail == message
    with pytest.raises(TemplateError) as parsed:
        parse("{{100000000000000000000}}")
    assert parsed.value.detail == 'template: :1: integer overflow: "100000000000000000000"'


def test_call_error_names_the_callee() -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{call .Name}}", {"Name": "/ctr"})
    message = 'template: :1:2: executing "" at <call .Name>: error calling call: non-function .Name of type string'
    assert caught.value.detail == message
