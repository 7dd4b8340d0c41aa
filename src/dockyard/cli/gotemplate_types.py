"""Docker's Go types for `inspect -f`: a typed view of the inspect JSON, as the docker CLI's template sees it.

The docker CLI decodes inspect JSON into its Go structs (types.ContainerJSON, network.Inspect, volume.Volume)
and runs the template over those first; only when that fails does it run it again over the raw JSON with
`missingkey=error` (cli/command/inspect.TemplateInspector). The Go types decide what a template prints:
a nil slice prints `[]`, a nil map `map[]`, a nil pointer `<nil>`, a field the JSON omitted is its zero value,
a missing map key read as a field is `<no value>`, and `index` on a missing key returns the zero value of the
map's element type ("" for Labels, `<nil>` for Networks' *EndpointSettings, `[]` for Ports' []PortBinding).
This module holds those types as data (from moby's api/types and api/swagger.yaml, Engine API 1.47) and
builds the view; it does no template evaluation. Fields missing from a struct here make the typed run fail
and fall back to the raw JSON, as a field missing from docker's struct does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from dockyard.cli.gotemplate_typed import NIL_POINTER, Duration, GoMap, GoStruct, GoTime, JsonNumber, NilSlice
from dockyard.cli.gotemplate_values import go_json

# Type grammar: s string, i int, b bool, f float64, d time.Duration, t time.Time, [T slice of T,
# {T map[string]T, <T map[nat.Port]T (a string is not a nat.Port: `index` with one fails, as in Go),
# *T pointer to T, E struct{} (a set's element), a struct name, `any` raw JSON; a trailing `?` on a field
# marks `json:",omitempty"`, and `Go/json:` a field whose JSON name differs from its Go name.
STRUCTS: dict[str, str] = {
    "ContainerJSON": "Id:s Created:s Path:s Args:[s State:*State Image:s ResolvConfPath:s HostnamePath:s "
    "HostsPath:s LogPath:s Node:*any? Name:s RestartCount:i Driver:s Platform:s MountLabel:s ProcessLabel:s "
    "AppArmorProfile:s ExecIDs:[s HostConfig:*HostConfig GraphDriver:DriverData SizeRw:*i? SizeRootFs:*i? "
    "Mounts:[MountPoint Config:*Config NetworkSettings:*NetworkSettings ImageManifestDescriptor:*any?",
    "State": "Status:s Running:b Paused:b Restarting:b OOMKilled:b Dead:b Pid:i ExitCode:i Error:s "
    "StartedAt:s FinishedAt:s Health:*Health?",
    "Health": "Status:s FailingStreak:i Log:[*HealthcheckResult",
    "HealthcheckResult": "Start:t End:t ExitCode:i Output:s",
    "DriverData": "Data:{s Name:s",
    "MountPoint": "Type:s? Name:s? Source:s Destination:s Driver:s? Mode:s RW:b Propagation:s",
    "Config": "Hostname:s Domainname:s User:s AttachStdin:b AttachStdout:b AttachStderr:b ExposedPorts:<E? "
    "Tty:b OpenStdin:b StdinOnce:b Env:[s Cmd:[s Healthcheck:*HealthConfig? ArgsEscaped:b? Image:s "
    "Volumes:{E WorkingDir:s Entrypoint:[s NetworkDisabled:b? MacAddress:s? OnBuild:[s Labels:{s "
    "StopSignal:s? StopTimeout:*i? Shell:[s?",
    "HealthConfig": "Test:[s Interval:d? Timeout:d? StartPeriod:d? StartInterval:d? Retries:i?",
    "HostConfig": "Binds:[s ContainerIDFile:s LogConfig:LogConfig NetworkMode:s PortBindings:<[PortBinding "
    "RestartPolicy:RestartPolicy AutoRemove:b VolumeDriver:s VolumesFrom:[s ConsoleSize:[i Annotations:{s? "
    "CapAdd:[s CapDrop:[s CgroupnsMode:s Dns:[s DnsOptions:[s DnsSearch:[s ExtraHosts:[s GroupAdd:[s "
    "IpcMode:s Cgroup:s Links:[s OomScoreAdj:i PidMode:s Privileged:b PublishAllPorts:b ReadonlyRootfs:b "
    "SecurityOpt:[s StorageOpt:{s? Tmpfs:{s? UTSMode:s UsernsMode:s ShmSize:i Sysctls:{s? Runtime:s? "
    "Isolation:s CpuShares:i Memory:i NanoCpus:i CgroupParent:s BlkioWeight:i BlkioWeightDevice:[*any "
    "BlkioDeviceReadBps:[*any BlkioDeviceWriteBps:[*any BlkioDeviceReadIOps:[*any BlkioDeviceWriteIOps:[*any "
    "CpuPeriod:i CpuQuota:i CpuRealtimePeriod:i CpuRealtimeRuntime:i CpusetCpus:s CpusetMems:s "
    "Devices:[DeviceMapping DeviceCgroupRules:[s DeviceRequests:[any KernelMemory:i? KernelMemoryTCP:i? "
    "MemoryReservation:i MemorySwap:i MemorySwappiness:*i OomKillDisable:*b PidsLimit:*i Ulimits:[*any "
    "CpuCount:i CpuPercent:i IOMaximumIOps:i IOMaximumBandwidth:i Mounts:[any? MaskedPaths:[s "
    "ReadonlyPaths:[s Init:*b?",
    "LogConfig": "Type:s Config:{s",
    "RestartPolicy": "Name:s MaximumRetryCount:i",
    "PortBinding": "HostIp:s HostPort:s",
    "DeviceMapping": "PathOnHost:s PathInContainer:s CgroupPermissions:s",
    "NetworkSettings": "Bridge:s SandboxID:s SandboxKey:s Ports:<[PortBinding HairpinMode:b "
    "LinkLocalIPv6Address:s LinkLocalIPv6PrefixLen:i SecondaryIPAddresses:[Address "
    "SecondaryIPv6Addresses:[Address EndpointID:s Gateway:s GlobalIPv6Address:s GlobalIPv6PrefixLen:i "
    "IPAddress:s IPPrefixLen:i IPv6Gateway:s MacAddress:s Networks:{*EndpointSettings",
    "Address": "Addr:s PrefixLen:i",
    "EndpointSettings": "IPAMConfig:*EndpointIPAMConfig Links:[s Aliases:[s MacAddress:s DriverOpts:{s "
    "GwPriority:i NetworkID:s EndpointID:s Gateway:s IPAddress:s IPPrefixLen:i IPv6Gateway:s "
    "GlobalIPv6Address:s GlobalIPv6PrefixLen:i DNSNames:[s",
    "EndpointIPAMConfig": "IPv4Address:s? IPv6Address:s? LinkLocalIPs:[s?",
    "Volume": "ClusterVolume:*any? CreatedAt:s? Driver:s Labels:{s Mountpoint:s Name:s Options:{s Scope:s "
    "Status:{any? UsageData:*VolumeUsageData?",
    "VolumeUsageData": "RefCount:i Size:i",
    "ImageInspect": "Id:s RepoTags:[s RepoDigests:[s Parent:s Comment:s Created:s? DockerVersion:s? Author:s "
    "Config:*ImageConfig ContainerConfig:*Config? Architecture:s Variant:s? Os:s OsVersion:s? Size:i "
    "VirtualSize:i? GraphDriver:DriverData RootFS:RootFS Metadata:ImageMetadata Descriptor:*any? "
    "Manifests:[any?",
    "ImageConfig": "User:s? ExposedPorts:{E? Env:[s? Entrypoint:[s? Cmd:[s? Volumes:{E? WorkingDir:s? "
    "Labels:{s? StopSignal:s? ArgsEscaped:b? Healthcheck:*HealthConfig? OnBuild:[s? Shell:[s?",
    "RootFS": "Type:s Layers:[s",
    # events.Message by its Go field names (cli/system.py go_event maps the JSON's lowercase keys to them)
    "EventMessage": "Status/status:s? ID/id:s? From/from:s? Type:s Action:s Actor:EventActor Scope/scope:s? "
    "Time/time:i? TimeNano/timeNano:i?",
    "EventActor": "ID:s Attributes:{s",
    "ImageMetadata": "LastTagTime:t?",
    "NetworkInspect": "Name:s Id:s Created:t Scope:s Driver:s EnableIPv4:b EnableIPv6:b IPAM:IPAM Internal:b "
    "Attachable:b Ingress:b ConfigFrom:ConfigReference ConfigOnly:b Containers:{EndpointResource "
    "Options:{s Labels:{s Peers:[any? Services:{any?",
    "IPAM": "Driver:s Options:{s Config:[IPAMConfig",
    "IPAMConfig": "Subnet:s? IPRange:s? Gateway:s? AuxiliaryAddresses:{s?",
    "ConfigReference": "Network:s",
    "EndpointResource": "Name:s EndpointID:s MacAddress:s IPv4Address:s IPv6Address:s",
    # `version -f`: the docker CLI's versionInfo (cli/command/system/version.go) over types.Version
    "VersionInfo": "Client:ClientVersion Server:*ServerVersion",
    "ClientVersion": "Platform:*PlatformInfo? Version:s? APIVersion/ApiVersion:s? DefaultAPIVersion:s? "
    "GitCommit:s? GoVersion:s? Os:s? Arch:s? BuildTime:s? Context:s",
    "PlatformInfo": "Name:s?",
    "ServerVersion": "Platform:ServerPlatform? Components:[ComponentVersion? Version:s APIVersion/ApiVersion:s "
    "MinAPIVersion:s? GitCommit:s GoVersion:s Os:s Arch:s KernelVersion:s? Experimental:b? BuildTime:s?",
    "ServerPlatform": "Name:s",
    "ComponentVersion": "Name:s Version:s Details:{s?",
    # `info -f`: the docker CLI's dockerInfo (cli/command/system/info.go), which embeds system.Info (moby
    # api/types/system/info.go as vendored by docker CLI 28); a JSON name `-` is never encoded. Members the
    # daemon sends that system.Info lacks (BridgeNfIptables…) drop out of `{{json .}}`, as in docker's.
    "DockerInfo": "^Info:*SystemInfo ServerErrors:[s? UserName/-:s ClientInfo:*ClientInfo? ClientErrors:[s?",
    "ClientInfo": "Debug:b ^clientVersion:ClientVersion Plugins:[any Warnings:[s",
    "SystemInfo": "ID:s Containers:i ContainersRunning:i ContainersPaused:i ContainersStopped:i Images:i Driver:s "
    "DriverStatus:[[s SystemStatus:[[s? Plugins:PluginsInfo MemoryLimit:b SwapLimit:b KernelMemory:b? "
    "KernelMemoryTCP:b? CPUCfsPeriod/CpuCfsPeriod:b CPUCfsQuota/CpuCfsQuota:b CPUShares:b CPUSet:b PidsLimit:b "
    "IPv4Forwarding:b Debug:b NFd:i OomKillDisable:b NGoroutines:i SystemTime:s LoggingDriver:s CgroupDriver:s "
    "CgroupVersion:s? NEventsListener:i KernelVersion:s OperatingSystem:s OSVersion:s OSType:s Architecture:s "
    "IndexServerAddress:s RegistryConfig:*ServiceConfig NCPU:i MemTotal:i GenericResources:[any DockerRootDir:s "
    "HTTPProxy/HttpProxy:s HTTPSProxy/HttpsProxy:s NoProxy:s Name:s Labels:[s ExperimentalBuild:b "
    "ServerVersion:s Runtimes:{RuntimeWithStatus DefaultRuntime:s Swarm:SwarmInfo LiveRestoreEnabled:b "
    "Isolation:s InitBinary:s ContainerdCommit:Commit RuncCommit:Commit InitCommit:Commit SecurityOptions:[s "
    "ProductLicense:s? DefaultAddressPools:[NetworkAddressPool? FirewallBackend:*FirewallInfo? CDISpecDirs:[s "
    "DiscoveredDevices:[DeviceInfo? Containerd:*ContainerdInfo? Warnings:[s",
    "PluginsInfo": "Volume:[s Network:[s Authorization:[s Log:[s",
    # []*NetIPNet print as their String (`127.0.0.0/8`): strings here; *IndexInfo prints as an address in Go
    "ServiceConfig": "AllowNondistributableArtifactsCIDRs:[s? AllowNondistributableArtifactsHostnames:[s? "
    "InsecureRegistryCIDRs:[s IndexConfigs:{*IndexInfo Mirrors:[s ExtraFields:{any?",
    "IndexInfo": "Name:s Mirrors:[s Secure:b Official:b",
    "RuntimeWithStatus": "^Runtime:Runtime Status/status:{s?",
    "Runtime": "Path/path:s? Args/runtimeArgs:[s? Type/runtimeType:s? Options/options:{any?",
    "SwarmInfo": "NodeID:s NodeAddr:s LocalNodeState:s ControlAvailable:b Error:s RemoteManagers:[SwarmPeer "
    "Nodes:i? Managers:i? Cluster:*any? Warnings:[s?",
    "SwarmPeer": "NodeID:s Addr:s",
    "Commit": "ID:s Expected:s?",
    "NetworkAddressPool": "Base:s Size:i",
    "FirewallInfo": "Driver:s Info:[[s?",
    "DeviceInfo": "Source:s ID:s",
    "ContainerdInfo": "Address:s? Namespaces:ContainerdNamespaces",
    "ContainerdNamespaces": "Containers:s Plugins:s",
}


# The Go names errors show, for the structs whose errors reach the user (volume inspect has no fallback).
GO_NAMES = {"Volume": "volume.Volume", "VolumeUsageData": "*volume.UsageData", "EventMessage": "*events.Message",
            "VersionInfo": "system.versionInfo", "ClientVersion": "system.clientVersion",
            "PlatformInfo": "*system.platformInfo", "ServerVersion": "*types.Version",
            "ServerPlatform": "struct { Name string }", "ComponentVersion": "types.ComponentVersion",
            "DockerInfo": "system.dockerInfo", "ClientInfo": "*system.clientInfo", "SystemInfo": "*system.Info",
            "PluginsInfo": "system.PluginsInfo", "ServiceConfig": "*registry.ServiceConfig",
            "SwarmInfo": "swarm.Info", "Commit": "system.Commit", "RuntimeWithStatus": "system.RuntimeWithStatus",
            "Runtime": "system.Runtime"}  # fmt: skip
_KEY_TYPES = {"{": "string", "<": "nat.Port"}
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _fields(struct: str) -> list[tuple[str, str, bool, str]]:
    out = []
    for spec in STRUCTS[struct].split():
        names, _, kind = spec.partition(":")
        name, _, json_name = names.partition("/")
        out.append((name, kind.rstrip("?"), kind.endswith("?"), json_name or name))
    return out


def _embedded(struct: str) -> frozenset[str]:
    """The struct's embedded fields: `^Name:Type` in the grammar (read from the same JSON object: Go inlines
    an embedded struct's fields)."""
    return frozenset(name.removeprefix("^") for name, _, _, _ in fields_of(struct) if name.startswith("^"))


_FIELDS: dict[str, list[tuple[str, str, bool, str]]] = {}


def fields_of(struct: str) -> list[tuple[str, str, bool, str]]:
    """(name, type, omitempty, JSON name) of a struct's fields, in Go's declaration order."""
    if struct not in _FIELDS:
        _FIELDS[struct] = _fields(struct)
    return _FIELDS[struct]


def zero(kind: str) -> object:
    """The Go zero value of a type in this module's grammar."""
    if kind in ("s", "i", "b", "f", "d", "t"):
        return {"s": "", "i": 0, "b": False, "f": 0.0, "d": Duration(0), "t": GoTime(_ZERO_TIME)}[kind]
    if kind.startswith("["):
        return NilSlice()
    if kind.startswith(("{", "<")):
        return GoMap({}, zero(kind[1:]), nil=True, key_type=_KEY_TYPES[kind[0]])
    if kind.startswith("*") or kind == "any":
        return NIL_POINTER
    if kind == "E":
        return GoStruct("struct {}", {}, frozenset())
    return _struct(kind, {})


def typed(value: object, kind: str) -> object:
    """JSON `value` as the Go type `kind` would hold it; a JSON value of the wrong shape stays raw."""
    if kind == "any":
        return NIL_POINTER if value is None else value
    if value is None:
        return zero(kind)
    if kind.startswith("*"):
        return typed(value, kind[1:])
    if kind == "d" and isinstance(value, int) and not isinstance(value, bool):
        return Duration(value)
    if kind.startswith("[") and isinstance(value, list):
        return [typed(item, kind[1:]) for item in value]
    if kind == "t" and isinstance(value, str):
        return GoTime(value)
    if kind.startswith(("{", "<")) and isinstance(value, dict):
        elem = kind[1:]
        return GoMap({k: typed(v, elem) for k, v in value.items()}, zero(elem), key_type=_KEY_TYPES[kind[0]])
    if kind == "E" and isinstance(value, dict):
        return zero("E")
    if kind in STRUCTS and isinstance(value, dict):
        return _struct(kind, value)
    return value


def _struct(name: str, value: Mapping[str, object]) -> GoStruct:
    fields = [(field.removeprefix("^"), kind, omit, json_name.removeprefix("^"))
              for field, kind, omit, json_name in fields_of(name)]  # fmt: skip
    embedded = _embedded(name)
    values = {}
    for field, kind, _, json_name in fields:  # by Go name (pre-mapped documents) or else by JSON name
        raw = value if field in embedded else value[field] if field in value else value.get(json_name)
        values[field] = typed(raw, kind)
    omitempty = frozenset(field for field, _, omit, _ in fields if omit)
    json_names = {field: json_name for field, _, _, json_name in fields if json_name != field}
    return GoStruct(GO_NAMES.get(name, name), values, omitempty, json_names, embedded)


def inspect_json(docs: Sequence[object]) -> str:
    """`inspect --format json` (docker's JSONInspector): one compact array. A document docker has raw bytes
    for is compacted as the daemon sent it (its key order); a volume is re-marshalled from volume.Volume by
    json.Marshal (Go's field order, HTML characters escaped)."""
    parts = []
    for doc in docs:
        view, has_raw = inspect_view(doc)
        if has_raw or view is None:
            parts.append(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
        else:
            parts.append(go_json(view).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    return "[" + ",".join(parts) + "]"


def version_view(client: Mapping[str, object], server: Mapping[str, object] | None) -> GoStruct:
    """`docker version -f`'s value: the client's fields and the server's /version document (None: the daemon
    did not answer, a nil *types.Version), by their JSON names."""

    def go_names(doc: Mapping[str, object]) -> dict[str, object]:  # the view is read by Go field names
        return {("APIVersion" if key == "ApiVersion" else key): value for key, value in doc.items()}

    return _struct("VersionInfo", {"Client": go_names(client), "Server": None if server is None else go_names(server)})


def info_view(info: Mapping[str, object], client: Mapping[str, object]) -> GoStruct:
    """`docker info -f`'s value: the daemon's /info document as system.Info, embedded in dockerInfo beside the
    client's information (`client`: clientVersion's fields by JSON name, plus Debug; its Plugins are `[]`)."""
    return _struct("DockerInfo", {**info, "ClientInfo": {**client, "Plugins": []}})


def event_view(event: Mapping[str, object]) -> GoStruct:
    """An event (with Go's field names) as `docker events --format` templates over it: an events.Message."""
    return _struct("EventMessage", event)


def inspect_view(doc: object) -> tuple[object | None, bool]:
    """(the typed value docker's CLI templates over for an inspect document, whether it falls back to the raw
    JSON when that fails). None for a shape it does not know: then only the raw run happens. Which object it
    is shows in the keys every such document has. `docker volume inspect` has no raw fallback (its getRef
    returns no raw bytes), so its typed error is the one reported."""
    if not isinstance(doc, dict):
        return None, True
    if "State" in doc and "HostConfig" in doc:
        return _struct("ContainerJSON", doc), True
    if "RootFS" in doc and "RepoTags" in doc:
        return _struct("ImageInspect", doc), True
    if "Mountpoint" in doc and "Driver" in doc:
        return _struct("Volume", doc), False
    if "IPAM" in doc and "Driver" in doc:
        return _struct("NetworkInspect", doc), True
    return None, True


def json_numbers(value: object) -> object:
    """Raw inspect JSON as docker's fallback decodes it (json.Decoder.UseNumber): numbers become json.Number."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return JsonNumber(int.__repr__(value))
    if isinstance(value, float):
        return JsonNumber(repr(value))
    if isinstance(value, list):
        return [json_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: json_numbers(item) for key, item in value.items()}
    return value
