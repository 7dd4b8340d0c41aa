"""Go text/template semantics with docker's functions: outputs and error texts as Go and the docker CLI give.

The expected strings of the plain-data cases were checked against Go's own text/template (go1.19 with
docker/cli's template functions); cases marked "go>=1.22" follow newer Go, which docker CLI 28 is built with.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dockyard.cli.gotemplate import Template, TemplateError, parse, render
from dockyard.errors import InvalidArgument

CONTAINER = {
    "Id": "3f2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b",
    "Name": "/web",
    "Args": ["-c", "echo hi"],
    "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0, "Error": ""},
    "Config": {
        "Image": "busybox:latest",
        "Cmd": ["sh", "-c", "echo <hi> & bye"],
        "Env": ["PATH=/usr/bin", "FOO=bar"],
        "Labels": {"com.example": "yes", "a": "1", "z": "2"},
        "Tty": False,
        "Entrypoint": None,
    },
    "NetworkSettings": {
        "IPAddress": "172.17.0.2",
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}], "81/udp": None},
    },
    "Mounts": [
        {"Source": "/var/lib/vol", "Destination": "/data", "RW": True},
        {"Source": "/tmp/work", "Destination": "/bind", "RW": False},
    ],
    "HostConfig": {"Memory": 67108864, "NanoCpus": 500000000, "CpuShares": 0},
    "SizeRw": 1.5,
}

RENDER_CASES = [
    # fields, dot, missing keys, nulls
    pytest.param("{{.NetworkSettings.IPAddress}}", CONTAINER, "172.17.0.2", id="nested-field"),
    pytest.param("{{.State.Status}} {{.State.Pid}}", CONTAINER, "running 4242", id="two-fields"),
    pytest.param("{{.Name}}", CONTAINER, "/web", id="field"),
    pytest.param("{{.}}", "plain", "plain", id="dot-string"),
    pytest.param("{{.}}", 5, "5", id="dot-int"),
    pytest.param("{{.}}", True, "true", id="dot-bool"),
    pytest.param("{{.}}", None, "<no value>", id="dot-nil"),
    pytest.param("{{.Nope}}", CONTAINER, "<no value>", id="missing-key"),
    pytest.param("{{.State.Health.Status}}", CONTAINER, "<no value>", id="missing-chain"),
    pytest.param("{{.Config.Entrypoint}}", CONTAINER, "<no value>", id="null-prints-no-value"),
    pytest.param("{{.Config.Labels.a}}", CONTAINER, "1", id="map-key-as-field"),
    pytest.param("{{$.Name}}", CONTAINER, "/web", id="root-variable"),
    pytest.param("{{ .Name }}", CONTAINER, "/web", id="spaces-in-action"),
    # Go's %v printing
    pytest.param("{{.Config.Cmd}}", CONTAINER, "[sh -c echo <hi> & bye]", id="print-list"),
    pytest.param("{{.Config.Labels}}", CONTAINER, "map[a:1 com.example:yes z:2]", id="print-map-sorted"),
    pytest.param("{{.}}", {"a": [1, "x", None, 1.5, True], "b": {"c": 2}}, "map[a:[1 x <nil> 1.5 true] b:map[c:2]]"),
    pytest.param(
        "{{.}}",
        [1e21, 1e20, 123456.0, 1234567.0, 0.0001, 0.00001, 100.0],
        "[1e+21 1e+20 123456 1.234567e+06 0.0001 1e-05 100]",
        id="floats-v",
    ),
    pytest.param("{{.SizeRw}}", CONTAINER, "1.5", id="float-field"),
    pytest.param("{{.HostConfig.Memory}}", CONTAINER, "67108864", id="int-field"),
    pytest.param("{{.Config.Tty}}", CONTAINER, "false", id="bool-field"),
    pytest.param(
        "{{.NetworkSettings.Ports}}", CONTAINER, "map[80/tcp:[map[HostIp:0.0.0.0 HostPort:18080]] 81/udp:<nil>]"
    ),
    # literals
    pytest.param(
        "{{'a'}} {{'\\n'}} {{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}}",
        {},
        "97 10 31 15 15 5 1000",
        id="int-literals",
    ),
    pytest.param("{{1e3}} {{1.5}} {{.5}} {{-2}} {{+3}}", {}, "1000 1.5 0.5 -2 3", id="number-literals"),
    pytest.param('{{true}} {{false}} {{"s\\tq"}} {{`raw\\n`}}', {}, "true false s\tq raw\\n", id="other-literals"),
    pytest.param('{{"\\u00e9\\x41\\101"}}', {}, "éAA", id="string-escapes"),
    # trim markers and comments
    pytest.param("a  {{- .Name -}}  b", CONTAINER, "a/webb", id="trim-both"),
    pytest.param("{{- /* comment */ -}}  x  {{- /* c */}} y", {}, "x y", id="comments-trim"),
    pytest.param("{{.Name}}{{/* multi\nline */}}!", CONTAINER, "/web!", id="multiline-comment"),
    pytest.param("{{-3}}", {}, "-3", id="minus-is-number"),
    pytest.param("a\n  {{- .Name}}\n", CONTAINER, "a/web\n", id="trim-newlines"),
    # if / else if / else, truthiness
    pytest.param('{{if eq .State.Status "running"}}up{{else}}down{{end}}', CONTAINER, "up", id="if-eq"),
    pytest.param(
        '{{if eq .State.Status "exited"}}x{{else if .State.Running}}r{{else}}d{{end}}', CONTAINER, "r", id="else-if"
    ),
    pytest.param("{{if .Config.Tty}}t{{else}}f{{end}}", CONTAINER, "f", id="if-false"),
    pytest.param("{{if .State.ExitCode}}t{{else}}f{{end}}", CONTAINER, "f", id="if-zero"),
    pytest.param("{{if .State.Error}}t{{else}}f{{end}}", CONTAINER, "f", id="if-empty-string"),
    pytest.param("{{if .Nope}}t{{else}}f{{end}}", CONTAINER, "f", id="if-missing"),
    pytest.param("{{if .A}}t{{else}}f{{end}}", {"A": []}, "f", id="if-empty-list"),
    pytest.param("{{if .A}}t{{else}}f{{end}}", {"A": {}}, "f", id="if-empty-map"),
    pytest.param("{{if .A}}t{{else}}f{{end}}", {"A": 0.0}, "f", id="if-zero-float"),
    pytest.param("{{if .A}}t{{else}}f{{end}}", {"A": "0"}, "t", id="if-string-0"),
    pytest.param("{{if .Mounts}}t{{end}}", CONTAINER, "t", id="if-nonempty-list"),
    # with
    pytest.param("{{with .State}}{{.Pid}}{{end}}", CONTAINER, "4242", id="with"),
    pytest.param("{{with .State.Health}}{{.Status}}{{else}}none{{end}}", CONTAINER, "none", id="with-else"),
    pytest.param("{{with .A}}a{{else with .B}}b{{else}}c{{end}}", {"B": 1}, "b", id="else-with-go>=1.23"),
    # range
    pytest.param(
        '{{range .Mounts}}{{.Source}} -> {{.Destination}}{{"\\n"}}{{end}}',
        CONTAINER,
        "/var/lib/vol -> /data\n/tmp/work -> /bind\n",
        id="range-mounts",
    ),
    pytest.param(
        "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
        CONTAINER,
        "a=1;com.example=yes;z=2;",
        id="range-map-sorted",
    ),
    pytest.param("{{range $i, $e := .Args}}{{$i}}:{{$e}} {{end}}", CONTAINER, "0:-c 1:echo hi ", id="range-index"),
    pytest.param("{{range $e := .Args}}[{{$e}}]{{end}}", CONTAINER, "[-c][echo hi]", id="range-one-var"),
    pytest.param("{{range .L}}{{.}}{{else}}empty{{end}}", {"L": []}, "empty", id="range-else-empty"),
    pytest.param("{{range .L}}{{.}}{{else}}empty{{end}}", {}, "empty", id="range-else-missing"),
    pytest.param("{{range .L}}{{.}}{{else}}empty{{end}}", {"L": None}, "empty", id="range-else-null"),
    pytest.param("{{range .L}}{{$.A}}{{.}}{{end}}", {"A": "r", "L": [1, 2]}, "r1r2", id="range-root"),
    pytest.param("{{range .L}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}", {"L": [1, 2, 3]}, "1", id="break"),
    pytest.param("{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}", {"L": [1, 2, 3]}, "13", id="continue"),
    pytest.param("{{range 3}}{{.}}{{end}}", {}, "012", id="range-int-go>=1.22"),
    pytest.param(
        "{{range $p, $conf := .NetworkSettings.Ports}}{{$p}}>{{(index $conf 0).HostPort}} {{break}}{{end}}",
        CONTAINER,
        "80/tcp>18080 ",
        id="range-ports",
    ),
    # variables
    pytest.param("{{$x := .Name}}{{$x}}", CONTAINER, "/web", id="declare"),
    pytest.param("{{$x := 1}}{{$x = 2}}{{$x}}", {}, "2", id="assign"),
    pytest.param("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", {}, "2", id="assign-outer"),
    pytest.param("{{$x := 1}}{{if true}}{{$x := 2}}{{end}}{{$x}}", {}, "1", id="shadow-scoped"),
    # templates
    pytest.param(
        '{{define "T"}}[{{.}}]{{end}}{{template "T" .Name}}{{template "T" "lit"}}',
        CONTAINER,
        "[/web][lit]",
        id="define-template",
    ),
    pytest.param('{{define "T"}}[{{.}}]{{end}}{{template "T"}}', CONTAINER, "[<no value>]", id="template-no-data"),
    pytest.param('{{block "B" .State.Pid}}<{{.}}>{{end}}', CONTAINER, "<4242>", id="block"),
    # pipelines and parentheses
    pytest.param("{{.Name | upper}}", CONTAINER, "/WEB", id="pipe"),
    pytest.param('{{.Name | printf "%s-%s" "x"}}', CONTAINER, "x-/web", id="pipe-last-arg"),
    pytest.param('{{.Name | len | printf "%03d"}}', CONTAINER, "004", id="pipe-chain"),
    pytest.param("{{(index .Mounts 1).Destination}}", CONTAINER, "/bind", id="paren-chain"),
    pytest.param('{{len (split .Config.Image ":")}}', CONTAINER, "2", id="paren-arg"),
    # Go builtins
    pytest.param(
        '{{len .Mounts}} {{len .Config.Labels}} {{len .Name}} {{len "héllo"}}', CONTAINER, "2 3 4 6", id="len"
    ),
    pytest.param('{{index .Config.Labels "com.example"}}', CONTAINER, "yes", id="index-map"),
    pytest.param('{{index .Config.Labels "com.missing"}}', CONTAINER, "<no value>", id="index-missing"),
    pytest.param("{{index .Config.Cmd 2}}", CONTAINER, "echo <hi> & bye", id="index-list"),
    pytest.param('{{index . "NetworkSettings" "Ports" "80/tcp" 0 "HostPort"}}', CONTAINER, "18080", id="index-nested"),
    pytest.param("{{index .S 1}}", {"S": "abc"}, "98", id="index-string-byte"),
    pytest.param(
        "{{slice .S 1 2}}|{{slice .L 1}}|{{slice .S}}", {"S": "abcd", "L": [1, 2, 3]}, "b|[2 3]|abcd", id="slice"
    ),
    pytest.param(
        '{{and 1 0 2}}|{{and 1 2}}|{{or 0 "" .M}}|{{or 0 "x"}}|{{not 0}}|{{not .L}}',
        {"L": [1]},
        "0|2|<no value>|x|true|false",
        id="and-or-not",
    ),
    pytest.param('{{or .State.Health "no healthcheck"}}', CONTAINER, "no healthcheck", id="or-default"),
    pytest.param(
        '{{eq .State.Pid 4242}} {{eq .A "a" "b" "c"}} {{eq .Nope "x"}} {{eq .Nope .Nope2}}',
        {**CONTAINER, "A": "c"},
        "true true false true",
        id="eq",
    ),
    pytest.param(
        '{{ne 1 2}} {{le 2 2}} {{ge 1 2}} {{gt "b" "a"}} {{lt 1.5 2.5}}', {}, "true true false true true", id="compare"
    ),
    pytest.param('{{print 1 2 "a" "b" 3 .L}}', {"L": [1]}, "1 2ab3 [1]", id="print"),
    pytest.param('{{println 1 "a"}}', {}, "1 a\n", id="println"),
    pytest.param('{{printf "%s:%d" .Name 3}}', CONTAINER, "/web:3", id="printf"),
    pytest.param(
        '{{printf "%s:%d %v %q %x %5s|%-5s| %t %f %.2f" "a" 3 .L "q" 255 "ab" "cd" true 1.5 2.345}}',
        {"L": [1, 2]},
        'a:3 [1 2] "q" ff    ab|cd   | true 1.500000 2.35',
        id="printf-verbs",
    ),
    pytest.param(
        '{{printf "%5.1f|%-8v|%08.3f|%+d|%x|%X|%o|%b|%c|%U|%e|%g|%G" '
        '3.14159 "ab" 3.14159 5 -255 255 8 5 65 65 1234.5678 0.00001234 1e21}}',
        {},
        "  3.1|ab      |0003.142|+5|-ff|FF|10|101|A|U+0041|1.234568e+03|1.234e-05|1E+21",
        id="printf-flags",
    ),
    pytest.param(
        '{{printf "%d %s %t %x %q" "s" 3 "x" "hi" 65}}',
        {},
        "%!d(string=s) %!s(int=3) %!t(string=x) 6869 'A'",
        id="printf-bad-verbs",
    ),
    pytest.param(
        '{{printf "%s %d %v|%d" .M .M .M}}', {}, "%!s(<nil>) %!d(<nil>) <nil>|%!d(MISSING)", id="printf-nil-missing"
    ),
    pytest.param('{{printf "%d" 1 2}}', {}, "1%!(EXTRA int=2)", id="printf-extra"),
    pytest.param(
        '{{printf "%v %s" .L .M}}',
        {"L": ["a", 1, None], "M": {"b": [1], "a": "x"}},
        "[a 1 <nil>] map[a:x b:[%!s(int=1)]]",
        id="printf-collections",
    ),
    pytest.param(
        '{{printf "%T %T %T %T %T" 1 1.5 "s" true .L}}',
        {"L": [1]},
        "int float64 string bool []interface {}",
        id="printf-T",
    ),
    pytest.param('{{printf "%*d|%-*d|%.*f|%d%%"  5 1 4 2 2 3.14159 50}}', {}, "    1|2   |3.14|50%", id="printf-star"),
    pytest.param('{{html "<a href=\'x\'>\\"&"}}', {}, "&lt;a href=&#39;x&#39;&gt;&#34;&amp;", id="html"),
    pytest.param("{{html .M}}", {}, "&lt;no value&gt;", id="html-no-value"),
    pytest.param(
        '{{js "<a href=\'x\'>\\"&=\\\\"}}', {}, "\\u003Ca href\\u003D\\'x\\'\\u003E\\\"\\u0026\\u003D\\\\", id="js"
    ),
    pytest.param('{{urlquery "a b&c/d?é"}}', {}, "a+b%26c%2Fd%3F%C3%A9", id="urlquery"),
    # docker's functions
    pytest.param(
        "{{json .Config}}",
        CONTAINER,
        '{"Cmd":["sh","-c","echo <hi> & bye"],"Entrypoint":null,"Env":["PATH=/usr/bin","FOO=bar"],'
        '"Image":"busybox:latest","Labels":{"a":"1","com.example":"yes","z":"2"},"Tty":false}',
        id="json-map",
    ),
    pytest.param(
        "{{json .}}",
        {"s": 'a"b\\c\n\t\u0001\u2028é<>&', "f": 1.0, "n": None, "b": False},
        '{"b":false,"f":1,"n":null,"s":"a\\"b\\\\c\\n\\t\\u0001\\u2028é<>&"}',
        id="json-escapes",
    ),
    pytest.param(
        "{{json .}}",
        {"a": [1.5, 1e21, 1e20, 0.000001, 1e-7]},
        '{"a":[1.5,1e+21,100000000000000000000,0.000001,1e-7]}',
        id="json-floats",
    ),
    pytest.param("{{json .Nope}}|{{json .Config.Entrypoint}}", CONTAINER, "null|null", id="json-null"),
    # Go only joins a []string (docker's typed pass); a JSON list of strings is accepted here as well.
    pytest.param('{{join .Args " "}}', CONTAINER, "-c echo hi", id="join-lenient"),
    pytest.param('{{join (split "a,b,c" ",") "|"}}', {}, "a|b|c", id="split-join"),
    pytest.param('{{split "a:b:c" ":"}} {{split "abc" ""}}', {}, "[a b c] [a b c]", id="split"),
    pytest.param('{{upper .Name}} {{lower "ÀB"}}', CONTAINER, "/WEB àb", id="upper-lower"),
    pytest.param('{{title "hello wORLD-foo_bar x.y"}}', {}, "Hello WORLD-Foo_bar X.Y", id="title"),
    pytest.param('{{pad "ab" 2 3}}|{{pad "" 2 3}}|', {}, "  ab   ||", id="pad"),
    pytest.param(
        '{{truncate "abcdef" 3}}|{{truncate "ab" 3}}|{{truncate .Name 2}}', CONTAINER, "abc|ab|/w", id="truncate"
    ),
]

PARSE_ERRORS = [
    pytest.param("{{foo}}", 'template: :1: function "foo" not defined', id="unknown-function"),
    pytest.param("{{.Foo", "template: :1: unclosed action", id="unclosed-action"),
    pytest.param("{{.Foo }", 'template: :1: unexpected "}" in operand', id="unexpected-brace"),
    pytest.param("{{.Foo}", "template: :1: bad character U+007D '}'", id="bad-character"),
    pytest.param("a\n{{end}}", "template: :2: unexpected {{end}}", id="stray-end"),
    pytest.param("{{else}}", "template: :1: unexpected {{else}}", id="stray-else"),
    pytest.param("{{if .A}}", "template: :1: unexpected EOF", id="unclosed-if"),
    pytest.param("{{$x}}", 'template: :1: undefined variable "$x"', id="undefined-variable"),
    pytest.param("{{}}", "template: :1: missing value for command", id="empty-action"),
    pytest.param("{{range}}{{end}}", "template: :1: missing value for range", id="empty-range"),
    pytest.param("{{if}}{{end}}", "template: :1: missing value for if", id="empty-if"),
    pytest.param('{{"abc}}', "template: :1: unterminated quoted string", id="unterminated-string"),
    pytest.param("{{/* x }}", "template: :1: unclosed comment", id="unclosed-comment"),
    pytest.param("{{/* x */ .A}}", "template: :1: comment ends before closing delimiter", id="comment-then-code"),
    pytest.param("{{.A | 1}}", "template: :1: non executable command in pipeline stage 2", id="non-executable"),
    pytest.param('{{"a".b}}', 'template: :1: unexpected . after term "\\"a\\""', id="field-of-literal"),
    pytest.param("{{3x}}", 'template: :1: bad number syntax: "3x"', id="bad-number"),
    pytest.param("a  {{-.Name}}", 'template: :1: bad number syntax: "-.N"', id="trim-marker-needs-space"),
    pytest.param("{{99999999999999999999}}", 'template: :1: integer overflow: "99999999999999999999"', id="overflow"),
    pytest.param("{{break}}", "template: :1: {{break}} outside {{range}}", id="break-outside-range"),
    pytest.param(
        "{{range $a, $b, $c := .L}}{{end}}", "template: :1: too many declarations in range", id="too-many-decls"
    ),
    pytest.param("{{.A)}}", "template: :1: unexpected right paren", id="right-paren-go>=1.20"),
    pytest.param("line1\n{{if}}", "template: :2: missing value for if", id="line-number"),
    pytest.param('{{define "a"}}x', "template: :1: unexpected EOF", id="unclosed-define"),
    pytest.param(
        '{{define "a"}}x{{end}}{{define "a"}}y{{end}}',
        'template: :1: template: multiple definition of template "a"',
        id="redefinition",
    ),
]

EXEC_ERRORS = [
    pytest.param(
        "{{.Foo.Bar}}",
        {"Foo": 1},
        'template: :1:6: executing "" at <.Foo.Bar>: can\'t evaluate field Bar in type interface {}',
        id="field-of-int",
    ),
    pytest.param(
        "{{.A.B.C}}",
        {"A": {"B": 1}},
        'template: :1:4: executing "" at <.A.B.C>: can\'t evaluate field C in type interface {}',
        id="chain-position",
    ),
    pytest.param(
        "{{.Foo.Bar}}",
        {"Foo": None},
        'template: :1:6: executing "" at <.Foo.Bar>: nil pointer evaluating interface {}.Bar',
        id="field-of-null",
    ),
    pytest.param(
        "{{.Foo}}",
        "str",
        'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type string',
        id="field-of-string",
    ),
    pytest.param(
        "{{with .A}}{{.Foo}}{{end}}",
        {"A": "s"},
        'template: :1:13: executing "" at <.Foo>: can\'t evaluate field Foo in type string',
        id="with-unboxes",
    ),
    pytest.param(
        "{{range .A}}x{{end}}",
        {"A": 5.5},
        'template: :1:8: executing "" at <.A>: range can\'t iterate over 5.5',
        id="range-float",
    ),
    pytest.param(
        "{{index .A 5}}",
        {"A": [1]},
        'template: :1:2: executing "" at <index .A 5>: error calling index: index out of range: 5',
        id="index-range",
    ),
    pytest.param(
        "{{index .M 1}}",
        {"M": {"a": 1}},
        'template: :1:2: executing "" at <index .M 1>: error calling index: value has type int; should be string',
        id="index-key-type",
    ),
    pytest.param(
        "{{index .Missing 1}}",
        {},
        'template: :1:2: executing "" at <index .Missing 1>: error calling index: index of untyped nil',
        id="index-nil",
    ),
    pytest.param(
        "{{join .Args}}",
        CONTAINER,
        'template: :1:2: executing "" at <join>: wrong number of args for join: want 2 got 1',
        id="arg-count",
    ),
    pytest.param(
        "{{printf}}",
        {},
        'template: :1:2: executing "" at <printf>: wrong number of args for printf: want at least 1 got 0',
        id="arg-count-variadic",
    ),
    pytest.param(
        "{{upper .B}}",
        {},
        'template: :1:8: executing "" at <.B>: invalid value; expected string',
        id="missing-string-arg",
    ),
    pytest.param(
        "{{upper .A}}",
        {"A": 3},
        'template: :1:8: executing "" at <.A>: wrong type for value; expected string; got int',
        id="wrong-arg-type",
    ),
    pytest.param(
        "{{upper 5}}", {}, 'template: :1:8: executing "" at <5>: expected string; found 5', id="literal-arg-type"
    ),
    pytest.param(
        '{{truncate "abcdef" 1.5}}',
        {},
        'template: :1:20: executing "" at <1.5>: expected integer; found 1.5',
        id="literal-int-type",
    ),
    pytest.param(
        "{{upper nil}}", {}, 'template: :1:8: executing "" at <nil>: cannot assign nil to string', id="nil-arg"
    ),
    pytest.param(
        "{{eq .A 1.0}}",
        {"A": 1},
        'template: :1:2: executing "" at <eq .A 1.0>: error calling eq: incompatible types for comparison',
        id="eq-int-float",
    ),
    pytest.param(
        "{{lt .A 1}}",
        {"A": True},
        'template: :1:2: executing "" at <lt .A 1>: error calling lt: incompatible types for comparison',
        id="lt-bool-int",
    ),
    pytest.param(
        "{{lt .L 1}}",
        {"L": [1]},
        'template: :1:2: executing "" at <lt .L 1>: error calling lt: invalid type for comparison',
        id="lt-list",
    ),
    pytest.param(
        "{{len 3}}", {}, 'template: :1:2: executing "" at <len 3>: error calling len: len of type int', id="len-int"
    ),
    pytest.param(
        "{{1 2}}", {}, 'template: :1:2: executing "" at <1>: can\'t give argument to non-function 1', id="non-function"
    ),
    pytest.param(
        "{{.A 1}}",
        {"A": 1},
        'template: :1:2: executing "" at <.A>: A is not a method but has arguments',
        id="map-field-args",
    ),
    pytest.param("{{nil}}", {}, 'template: :1:2: executing "" at <nil>: nil is not a command', id="nil-command"),
    pytest.param(
        '{{template "x"}}',
        {},
        'template: :1:11: executing "" at <{{template "x"}}>: template "x" not defined',
        id="undefined-template",
    ),
    pytest.param(
        '{{define "T"}}{{.Foo.Bar}}{{end}}{{template "T" .}}',
        {"Foo": 1},
        'template: :1:20: executing "T" at <.Foo.Bar>: can\'t evaluate field Bar in type interface {}',
        id="error-in-define",
    ),
    pytest.param(
        "line1\nx{{.A.B}}",
        {"A": 1},
        'template: :2:5: executing "" at <.A.B>: can\'t evaluate field B in type interface {}',
        id="line-and-column",
    ),
    pytest.param(
        "{{.Name | truncate 2}}",
        CONTAINER,
        'template: :1:19: executing "" at <2>: expected string; found 2',
        id="piped-value-is-last-arg",
    ),
    pytest.param(
        '{{truncate "abc" -1}}',
        {},
        'template: :1:2: executing "" at <truncate "abc" -1>: '
        "error calling truncate: runtime error: slice bounds out of range [:-1]",
        id="truncate-negative",
    ),
]


@pytest.mark.parametrize(("text", "data", "expected"), RENDER_CASES)
def test_render(text: str, data: object, expected: str) -> None:
    assert render(text, data) == expected


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(text)
    assert caught.value.detail == message
    assert str(caught.value) == f"template parsing error: {message}"


@pytest.mark.parametrize(("text", "data", "message"), EXEC_ERRORS)
def test_execution_errors(text: str, data: object, message: str) -> None:
    template = parse(text)
    with pytest.raises(TemplateError) as caught:
        template.execute(data)
    assert caught.value.detail == message
    assert str(caught.value) == f"template parsing error: {message}"


def test_template_error_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match=r'^template parsing error: template: :1: function "foo" not defined$'):
        render("{{foo}}", {})


def test_partial_output_is_kept_on_error() -> None:
    with pytest.raises(TemplateError) as caught:
        render("a{{.X}}b{{.X.Y}}c", {"X": 1})
    assert caught.value.partial == "a1b"


def test_parsed_template_executes_many_times() -> None:
    template = parse("{{.ID}}")
    assert isinstance(template, Template)
    assert [template.execute({"ID": i}) for i in range(3)] == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("text", "data", "message"),
    [
        (
            "{{.State.Health.Status}}",
            CONTAINER,
            'template: :1:8: executing "" at <.State.Health.Status>: map has no entry for key "Health"',
        ),
        (
            "{{.Config.Labels.foo}}",
            CONTAINER,
            'template: :1:9: executing "" at <.Config.Labels.foo>: map has no entry for key "foo"',
        ),
        ("{{.A.B}}", {}, 'template: :1:4: executing "" at <.A.B>: map has no entry for key "A"'),
    ],
)
def test_missingkey_error_as_docker_inspect_fallback(text: str, data: object, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(text).execute(data, missing_key="error")
    assert caught.value.detail == message


def test_missingkey_error_still_renders_present_keys() -> None:
    assert parse("{{.State.Status}}").execute(CONTAINER, missing_key="error") == "running"


# -- objects: the CLI's row contexts -------------------------------------------------------------------------


class Row:
    """A row object like docker's ContainerContext: properties and methods are fields."""

    def __init__(self) -> None:
        self._labels = {"com.example": "yes", "a": "1"}

    @property
    def ID(self) -> str:
        return "3f2c1b0a9e8d"

    def Names(self) -> str:
        return "web"

    def Label(self, name: str) -> str:
        return self._labels.get(name, "")


class FailingRow(Row):
    def Fail(self) -> str:
        raise InvalidArgument("no such thing")


@dataclass(frozen=True)
class Image:
    Repository: str
    Size: int


OBJECT_CASES = [
    pytest.param("{{.ID}} {{.Names}}", Row(), "3f2c1b0a9e8d web", id="property-and-method"),
    pytest.param('{{.Label "com.example"}}|{{.Label "nope"}}', Row(), "yes|", id="method-with-args"),
    pytest.param("{{.Names | upper}} {{upper .Names}}", Row(), "WEB WEB", id="method-in-pipeline"),
    pytest.param("{{with .}}{{.ID}}{{end}}", Row(), "3f2c1b0a9e8d", id="object-is-true"),
    pytest.param("{{json .}}", Row(), '{"ID":"3f2c1b0a9e8d","Names":"web"}', id="json-of-object"),
    pytest.param("{{json .}}", Image("busybox", 4), '{"Repository":"busybox","Size":4}', id="json-of-dataclass"),
    pytest.param("{{.}}|{{.Repository}}", Image("busybox", 4), "{busybox 4}|busybox", id="dataclass-fields"),
]


@pytest.mark.parametrize(("text", "data", "expected"), OBJECT_CASES)
def test_objects(text: str, data: object, expected: str) -> None:
    assert render(text, data) == expected


OBJECT_ERRORS = [
    pytest.param(
        "{{.Nope}}",
        'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type FailingRow',
        id="unknown-attribute",
    ),
    pytest.param(
        "{{._labels}}",
        'template: :1:2: executing "" at <._labels>: can\'t evaluate field _labels in type FailingRow',
        id="private-attribute",
    ),
    pytest.param(
        "{{.ID 1}}",
        'template: :1:2: executing "" at <.ID>: ID has arguments but cannot be invoked as function',
        id="property-with-args",
    ),
    pytest.param(
        "{{.Label}}",
        'template: :1:2: executing "" at <.Label>: wrong number of args for Label: want 1 got 0',
        id="method-missing-args",
    ),
    pytest.param(
        "{{.Fail}}", 'template: :1:2: executing "" at <.Fail>: error calling Fail: no such thing', id="method-error"
    ),
]


@pytest.mark.parametrize(("text", "message"), OBJECT_ERRORS)
def test_object_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(text, FailingRow())
    assert caught.value.detail == message


def test_dict_methods_are_not_fields() -> None:
    assert render("{{.items}}|{{.keys}}", {"keys": "k"}) == "<no value>|k"


def test_call_invokes_a_function_value() -> None:
    assert render("{{call .F 2 3}}", {"F": lambda a, b: a * b}) == "6"
