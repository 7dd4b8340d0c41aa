"""`--format` / `-f` parity: the real docker CLI (which renders templates itself) is the oracle; for each template
`docker …` and `dockyard …` run against the same dockyardd and must print the same bytes, errors and status.

stderr is compared without dockyard's `dockyard: ` prefix (cli/main.py puts it on every error line). Left out on
purpose: templates printing a non-nil nested pointer (`{{.State}}` with a Health, `{{.NetworkSettings.Networks}}`,
`{{.State.Health.Log}}`), where docker prints a memory address such as `0xc0001847e0`, and `{{.}}` of a list row
(docker prints its Go struct, pointers included). A list view whose output holds a relative time ("3 seconds ago")
is compared up to three times: the two CLIs may run either side of a second's boundary.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from compat_harness import Daemon, docker_ok, needs_docker, start_daemon

pytestmark = [pytest.mark.privileged, needs_docker]

CONTAINER_TEMPLATES = [
    # fields, nested maps, missing keys
    "{{.Name}} {{.State.Running}} {{.State.Status}}",
    "{{.Config.Labels}}",
    "{{.Config.Labels.zeta}}",
    "{{.Config.Labels.nope}}",
    "{{.Config.Labels.nope.deeper}}",
    "{{.GraphDriver.Data.nope}}",
    "{{.HostConfig.LogConfig.Config.nope}}",
    # index: the element type's zero value, or the raw fallback for nat.Port keys
    '{{index .Config.Labels "com.example.x"}}',
    '{{index .Config.Labels "nope"}}',
    '{{index .NetworkSettings.Networks "nope"}}',
    '{{index .NetworkSettings.Networks "tnet"}}',
    '{{(index .NetworkSettings.Networks "tnet").Gateway}}',
    '{{index .NetworkSettings.Ports "80/tcp"}}',
    '{{index .NetworkSettings.Ports "81/tcp"}}',
    '{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}',
    '{{index .GraphDriver.Data "nope"}}',
    '{{index .HostConfig.Tmpfs "nope"}}',
    '{{index .HostConfig.PortBindings "nope"}}',
    '{{index .Config.ExposedPorts "80/tcp"}}',
    # nil and omitted values
    "{{.HostConfig.Links}} {{.Config.Entrypoint}} {{.ExecIDs}} {{.HostConfig.CapAdd}}",
    "{{.Config.Volumes}} {{.HostConfig.Sysctls}} {{.HostConfig.Tmpfs}} {{.Config.ExposedPorts}}",
    "{{.SizeRw}} {{.HostConfig.PidsLimit}} {{.HostConfig.Init}} {{.Config.StopTimeout}}",
    "[{{.Config.StopSignal}}] {{.HostConfig.MemorySwappiness}} {{.HostConfig.OomKillDisable}}",
    "{{.NetworkSettings.SecondaryIPAddresses}} {{.Config.OnBuild}}",
    "{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Retries}}",
    # structs
    "{{.HostConfig.RestartPolicy}} {{.HostConfig.LogConfig}}",
    "{{.Mounts}}",
    "{{.GraphDriver.Name}} {{len .GraphDriver.Data}}",
    "{{.NetworkSettings.Ports}}",
    # json
    "{{json .Config.Labels}}",
    "{{json .Config.Env}}",
    "{{json .HostConfig.Links}}",
    "{{json .Mounts}}",
    "{{json .Config.Healthcheck}}",
    "{{json .NetworkSettings.Ports}}",
    "{{json .HostConfig.RestartPolicy}}",
    "{{json .}}",
    # functions
    '{{join .Config.Env ","}}',
    '{{split "a,b,c" ","}}',
    "{{len .Config.Env}} {{len .Config.Labels}} {{len .Name}}",
    '{{printf "%s|%d|%v|%q" .Name .State.Pid .Config.Labels .Name}}',
    '{{printf "%q" .Config.Env}} {{printf "%v" .HostConfig.Links}}',
    '{{printf "%d" .Name}} {{printf "%v %v" 1}} {{printf "%v" 1 2}}',
    '{{printf "%5.2f|%-6s|%06d|%x|%X" 3.14159 "ab" 42 255 "hi"}}',
    '{{printf "%+d % d %#x %#o %b %c %U %%" 5 5 255 8 5 65 65}}',
    '{{printf "%[2]d %[1]d" 1 2}} {{printf "%#v" .Name}} {{printf "%e %g" 1234.5678 1e21}}',
    '{{printf "%v %v %v" 1e21 0.5 1e20}} {{1e21}} {{0.5}} {{0x10}} {{1_000}}',
    '{{upper .Name}} {{lower "ABC"}} {{title "hello world"}}',
    '{{printf "%+v" .HostConfig.RestartPolicy}} {{printf "%+v|%+d|%+v" .Config.Labels 5 1.5}}',
    '{{printf "%+v" .Mounts}} {{printf "%v %s %d" .Config.Healthcheck.Interval .Config.Healthcheck.Interval 5}}',
    "{{eq .HostConfig.RestartPolicy .HostConfig.RestartPolicy}} {{eq (index .Mounts 0) (index .Mounts 0)}}",
    "{{eq .GraphDriver .GraphDriver}}",
    '{{len .HostConfig.RestartPolicy}} {{range .HostConfig.RestartPolicy}}x{{end}} {{index .State "Pid"}}',
    "{{.NetworkSettings.Networks.tnet.Gateway}} {{.NetworkSettings.Networks.nope.IPAddress}}",
    "{{len .HostConfig.Links}} {{len .Config.Volumes}} {{.Config.Cmd}} {{slice .Config.Cmd 1}}",
    "{{if .HostConfig.Links}}y{{else}}n{{end}} {{if .HostConfig.RestartPolicy}}y{{end}} {{if .SizeRw}}y{{end}}",
    '{{.Config.Labels.zeta | upper | printf "%q"}}',
    # control flow
    "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}",
    "{{range $i, $e := .Config.Env}}{{if $i}},{{end}}{{$e}}{{end}}",
    "{{range .HostConfig.Links}}x{{else}}none{{end}}",
    "{{range $p, $conf := .NetworkSettings.Ports}}{{$p}}->{{(index $conf 0).HostPort}};{{end}}",
    "{{with .Config.Labels.nope}}yes{{else}}no{{end}}",
    "{{with .Config.Labels.nope}}{{else with .Name}}{{.}}{{end}}",
    "{{if .State.Running}}run{{else if .State.Paused}}paused{{else}}stopped{{end}}",
    '{{if and .State.Running .State.Paused}}both{{else}}notboth{{end}} {{or .Config.Labels.nope "dflt"}}',
    '{{or "" 0 "x"}} {{and 1 0 2}} {{not .State.Running}}',
    '{{eq .State.Status "running"}} {{eq .State.Pid 0}} {{ne .Name "/ctr"}} {{eq "a" "b" "a"}}',
    '{{eq .State.Pid "x"}}',
    "{{lt 1 2.5}}",
    "{{eq 1 1.0}}",
    '{{$n := .Name}}{{$n}}{{$n = "z"}}{{$n}}',
    "  {{- .Name -}}  x",
    "{{range .Config.Env}}{{break}}{{end}}done",
    '{{define "x"}}X{{.}}{{end}}{{template "x" .Name}}',
    "{{/* comment */}}ok",
    # exec errors: docker prints an empty line, the error, exit 1
    "{{.Foo}}",
    "{{.Config.Foo}}",
    "{{.Name.Foo}}",
    "{{index .Config.Env 5}}",
    "{{len 3}}",
    "{{len .State.Pid}}",
    '{{split .State.Pid ","}}',
    '{{join .Name ","}}',
    "{{upper 5}}",
    "{{json}}",
    "{{call .Name}}",
    "{{9223372036854775808}}",
    "{{true}} {{nil}}",
    '{{template "x"}}',
    # parse errors: exit 64
    "{{.Name",
    "{{nofunc .}}",
    "{{end}}",
    "{{range .Config.Env}}",
    "{{if}}{{end}}",
    "{{$x}}",
    "{{break}}",
    "{{100000000000000000000}}",
]

OTHER_CASES = [
    ("inspect", "-f", "{{.Name}} {{.HostConfig.Links}} {{.Config.Labels}}", "ctr2"),
    ("inspect", "-f", "{{.Name}}", "ctr", "ctr2"),
    ("inspect", "-f", "{{.State.Health}} {{with .State.Health}}{{.Status}}{{else}}none{{end}}", "ctr2"),
    ("inspect", "-f", "{{.State.Health.Status}}", "ctr2"),
    ("inspect", "-f", "{{.Foo}}", "ctr", "ctr2"),
    ("inspect", "-f", "{{.Name}}", "ctr", "nope"),
    ("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Created}}", "tnet"),
    ("network", "inspect", "-f", "{{json .IPAM}} {{.IPAM.Config}} {{.ConfigFrom}} {{.Peers}}", "tnet"),
    ("network", "inspect", "-f", "{{range $id, $c := .Containers}}{{$c.Name}} {{$c.IPv4Address}}{{end}}", "tnet"),
    ("network", "inspect", "-f", '{{.Labels.nope}} [{{index .Labels "nope"}}] {{.Foo}}', "tnet"),
    ("network", "inspect", "-f", "{{json .}}", "tnet"),
    ("volume", "inspect", "-f", "{{.Name}} {{.Labels}} {{.Labels.vl}} {{.Labels.nope}}", "tvol"),
    ("volume", "inspect", "-f", '[{{index .Labels "nope"}}] {{.Options}} {{.Status}} {{.UsageData}}', "tvol"),
    ("volume", "inspect", "-f", "{{json .}}", "tvol"),
    ("volume", "inspect", "-f", "json", "tvol"),
    ("inspect", "-f", "json", "ctr2"),
    ("network", "inspect", "-f", "json", "tnet"),
    ("volume", "inspect", "-f", "{{.Foo}}", "tvol"),
    ("volume", "inspect", "-f", "{{.Name", "tvol"),
    ("image", "inspect", "-f", "{{.Config.Labels}} {{.Config.Labels.nope}} [{{index .Config.Labels `x`}}]", "busybox"),
    ("image", "inspect", "-f", "{{json .Config}} {{json .RootFS}} {{.Metadata}} {{.Config.ExposedPorts}}", "busybox"),
    ("image", "inspect", "-f", "{{.ContainerConfig}}", "busybox"),
    ("ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.State}}"),
    ("ps", "-a", "--format", '{{.Ports}} {{.Labels}} {{.Label "zeta"}} [{{.Label "nope"}}] {{.Mounts}}'),
    ("ps", "-a", "--format", "table {{.Names}}\t{{.Image}}\t{{.Networks}}"),
    ("ps", "-a", "--format", '{{if eq .State "running"}}R{{else}}-{{end}} {{.ID | printf "%.4s"}}'),
    ("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"),
    ("images", "--format", "table {{.Repository}}\t{{.Size}}"),
    ("volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"),  # not .Labels: docker joins a Go map
    ("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"),
]


LIST_CASES = [
    # unknown fields and bad templates: docker's formatter errors (ps checks the template first, in its own words)
    *[(*verb, "--format", template) for verb in (("ps", "-a"), ("container", "ls", "-a"), ("images",),
                                                  ("image", "ls"), ("volume", "ls"), ("network", "ls"))
      for template in ("{{.Nope}}", "table {{.ID}}\t{{.Nope}}", "{{.Nope", "{{nofunc .}}", "x{{index .ID 50}}",
                       "{{json .}}", "json", '{{.Label "x"}} {{.ID "y"}}')],
    ("ps", "-a", "--format", '{{if eq .State "running"}}{{.Nope}}{{end}}'),
    ("ps", "-a", "--format", "{{.Platform}} {{.Size}} {{.Label}}"),
    ("ps", "-a", "-q", "--format", "{{.Names}}"),
    ("ps", "-a", "--format", "table {{.Names}}\t{{.Size}}"),
    ("ps", "-a", "-s"),
    ("ps", "-a", "--format", '{{.Label "q"}} {{.Labels}} {{.LocalVolumes}} {{.Mounts}} {{.Command}}'),
    ("images", "--format", "{{.VirtualSize}} {{.Digest}} {{.Containers}} {{.SharedSize}} {{.UniqueSize}}"),
    ("images", "--digests", "--format", "{{.Digest}} {{.Repository}}"),
    ("images", "--digests", "--format", "table {{.ID}}"),
    ("images", "--format", "raw"),
    ("images", "-q", "--format", "{{.Repository}}"),
    ("images", "-q"),
    ("history", "busybox", "--format", "{{.Nope}}"),
    ("history", "busybox", "--format", "{{json .}}"),
    ("history", "busybox", "-q", "--format", "{{.Size}}"),
    ("volume", "ls"),
    ("volume", "ls", "-q", "--format", "{{.Name}}"),
    ("volume", "ls", "--format", 'table {{.Name}}\t{{.Group}}\t{{.Status}}\t{{.Availability}}\t{{.Label "vl"}}'),
    ("network", "ls"),
    ("network", "ls", "--format", "raw"),
    ("network", "ls", "-q", "--format", "{{.Name}}"),
    ("network", "ls", "--format", 'table {{.Name}}\t{{.IPv4}}\t{{.IPv6}}\t{{.CreatedAt}}\t{{.Label "x"}}'),
    *[("stats", "--no-stream", "--format", template, "ctr")
      for template in ("{{.Name}} {{.Container}} {{.ID}}", "{{.Nope}}", "{{.Nope", "table {{.Name}}\t{{.Nope}}")],
    *[("system", "df", "--format", template)
      for template in ("{{.Type}} {{.TotalCount}} {{.Active}}", "{{.Nope}}", "{{.Nope", "table {{.Type}}\t{{.Nope}}",
                       '{{if eq .Type "Local Volumes"}}{{.Nope}}{{end}}', "{{json .}}")],
]  # fmt: skip

# version -f and info -f: templates over the server's half only (the client's half is docker's own build)
VERSION_TEMPLATES = [
    "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}/{{.Server.Arch}}",
    "{{json .Server}}",
    "{{.Server}}",
    "{{.Server.Platform.Name}}:{{.Server.Experimental}}:{{.Server.BuildTime}}:{{.Client.Platform}}",
    "{{range .Server.Components}}{{.Name}}\t{{.Version}}{{range $k := getDetailsOrder .}} {{$k}}{{end}}{{end}}",
    "{{index .Server.Components 0 | json}}",
    "{{.Nope}}",
    "{{.Client.Nope}}",
    "{{.Server.ApiVersion}}",
    "a\tb{{.Nope}}",
    "{{.Nope",
    "{{nofunc}}",
]
INFO_TEMPLATES = [
    "{{.Warnings}} {{.ServerErrors}} {{.ClientErrors}} {{.Labels}} {{.SecurityOptions}}",
    "{{.Nope}}",
    "{{.Nope",
    "{{json .Plugins}} {{.Plugins}} {{.Plugins.Volume}}",
    "{{.ServerVersion}} {{.NCPU}} {{.Driver}} {{.MemTotal}} {{.OSType}} {{.CgroupVersion}} {{.Info.ID}}",
    "{{.Runtimes}} {{json .Runtimes}}",
    "{{range $k, $v := .Runtimes}}{{$k}}={{$v.Path}} {{$v.Status}}{{end}}",
    "{{.Swarm}} {{json .Swarm}} {{.Swarm.LocalNodeState}}",
    "{{json .RegistryConfig}} {{.RegistryConfig.InsecureRegistryCIDRs}}",
    "{{.ContainerdCommit}} {{.RuncCommit.ID}} {{json .InitCommit}}",
    "{{.Containerd}}|{{.FirewallBackend}}|{{.Isolation}}|{{.CDISpecDirs}}|{{.DefaultAddressPools}}",
    "{{.CPUCfsPeriod}} {{.CpuCfsPeriod}} {{.HTTPProxy}}x{{.UserName}}",
    "{{.ClientInfo.Context}} {{.ClientInfo.Debug}} {{.ClientInfo.Plugins}} {{.ClientInfo.Warnings}}",
    "{{.Swarm.Nope}}",
    "{{.ClientInfo.Nope}}",
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_daemon(tmp_path_factory.mktemp("parity")) as d:
        docker_ok(d, "network", "create", "tnet")
        docker_ok(d, "volume", "create", "--label", "vl=1", "--label", "a.b=c", "tvol")
        # a health check whose first probe is an hour away: State.Health stays the same between the two CLIs
        docker_ok(d, "run", "-d", "--name", "ctr", "-l", "com.example.x=1", "-l", "zeta=last", "-l", 'q=a"b<c>&',
                  "-e", "FOO=bar", "-e", "EMPTY=", "-p", "127.0.0.1::80", "-p", "127.0.0.1::90/udp",
                  "--network", "tnet", "-v", "tvol:/data", "--health-cmd", "true", "--health-interval", "1h",
                  "busybox", "sleep", "1000")  # fmt: skip
        docker_ok(d, "create", "--name", "ctr2", "busybox", "true")
        yield d
        # why: the network's bridge and NAT rules are host state; they must not outlive the module
        docker_ok(d, "rm", "-f", "ctr", "ctr2")
        docker_ok(d, "network", "rm", "tnet")
        docker_ok(d, "volume", "rm", "tvol")


def _dockyard(daemon: Daemon, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], env=daemon.env(), capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def _compare(daemon: Daemon, args: tuple[str, ...], *, attempts: int = 1) -> None:
    for attempt in range(attempts):
        want = daemon.docker(*args)
        got = _dockyard(daemon, args)
        ours_err = "".join(line.removeprefix("dockyard: ") for line in got.stderr.splitlines(keepends=True))
        if (got.stdout, ours_err, got.returncode) == (want.stdout, want.stderr, want.returncode):
            return
        if attempt + 1 == attempts:
            assert (got.stdout, ours_err, got.returncode) == (want.stdout, want.stderr, want.returncode), args


EVENT_TEMPLATES = [
    "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.ID}}",
    "{{.Status}} {{.ID}} {{.From}} {{.Scope}} {{.Time}} {{.TimeNano}}",
    '{{.Actor.Attributes.nope}} [{{index .Actor.Attributes "nope"}}] {{.Actor}}',
    "{{json .}} x",
    "{{json .Actor}}",
    "{{.Foo}}",
    "{{.Type",
]


@pytest.mark.parametrize("template", EVENT_TEMPLATES)
def test_events_format(daemon: Daemon, template: str) -> None:
    until = str(int(time.time()))  # a closed window: both CLIs read the same events
    _compare(daemon, ("events", "--since", "0", "--until", until, "--filter", "container=ctr2", "--format", template))


@pytest.mark.parametrize("template", CONTAINER_TEMPLATES)
def test_container_inspect_template(daemon: Daemon, template: str) -> None:
    _compare(daemon, ("inspect", "-f", template, "ctr"))


@pytest.mark.parametrize("args", OTHER_CASES, ids=lambda args: " ".join(args)[:60])
def test_other_verbs(daemon: Daemon, args: tuple[str, ...]) -> None:
    _compare(daemon, args)


@pytest.mark.parametrize("args", LIST_CASES, ids=lambda args: " ".join(args)[:60])
def test_list_views(daemon: Daemon, args: tuple[str, ...]) -> None:
    _compare(daemon, args, attempts=3)  # relative times ("3 seconds ago") may tick between the two runs


@pytest.mark.parametrize("template", VERSION_TEMPLATES)
def test_version_format(daemon: Daemon, template: str) -> None:
    _compare(daemon, ("version", "-f", template))


@pytest.mark.parametrize("template", INFO_TEMPLATES)
def test_info_format(daemon: Daemon, template: str) -> None:
    _compare(daemon, ("info", "-f", template), attempts=3)  # NFd and the like may move between the two runs


def test_info_json(daemon: Daemon) -> None:
    """`info -f json`, all of system.Info in Go's order, but for the moving SystemTime and the client's half."""

    def server_half(text: str) -> dict[str, object]:
        doc = json.loads(text)
        return {key: value for key, value in doc.items() if key not in ("SystemTime", "ClientInfo")}

    want = daemon.docker("info", "-f", "json")
    got = _dockyard(daemon, ("info", "-f", "json"))
    assert (got.returncode, got.stderr) == (want.returncode, want.stderr) == (0, "")
    assert list(server_half(got.stdout)) == list(server_half(want.stdout))
    assert server_half(got.stdout)["RegistryConfig"] == server_half(want.stdout)["RegistryConfig"]
    assert json.loads(got.stdout)["ClientInfo"].keys() == json.loads(want.stdout)["ClientInfo"].keys() - {"BuildTime"}
