"""`Client`: typed calls of the Engine API over any Transport; turns Docker's JSON into small models and errors.

Knows Docker's field names and status codes (with api/ the only layer that does); never imports the engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard.client.transport import RawResponse, Transport
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.client.hosts import TLSOptions

API_VERSION = "1.47"
_STDCOPY_HEADER = 8


class APIError(DockyardError):
    """The server answered with an error status; `message` is its `{"message": …}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateOptions:
    image: str
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    auto_remove: bool = False
    memory: int = 0
    nano_cpus: int = 0
    pids_limit: int = 0
    read_only: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    network: str = ""
    ip: str = ""
    network_aliases: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    mac_address: str = ""
    expose: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()  # raw `-p` values; parsed (Docker's messages) into PortBindings
    publish_all: bool = False
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    attach: tuple[str, ...] = ()  # the streams `run` attaches: stdin, stdout, stderr
    restart: Mapping[str, Any] = field(default_factory=lambda: {"Name": "no", "MaximumRetryCount": 0})
    log_driver: str = ""
    log_opts: Mapping[str, str] = field(default_factory=dict)
    init: bool | None = None
    stop_signal: str = ""
    stop_timeout: int | None = None
    healthcheck: Mapping[str, Any] | None = None  # Docker's Healthcheck object
    console_size: tuple[int, int] = (0, 0)
    # mounts (client/mounts.py builds these from -v/--mount/--tmpfs/--volumes-from)
    binds: tuple[str, ...] = ()
    mounts: tuple[Mapping[str, Any], ...] = ()  # HostConfig.Mounts entries
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()  # Config.Volumes (anonymous volumes)
    volumes_from: tuple[str, ...] = ()
    env_file: tuple[str, ...] = ()  # --env-file entries, before -e (cli/run_options.py)
    host_config_extra: Mapping[str, Any] = field(default_factory=dict)  # HostConfig fields of cli/run_options.py
    config_extra: Mapping[str, Any] = field(default_factory=dict)  # Config fields (Labels: under -l's)

    def to_json(self) -> dict[str, Any]:
        body = self._base_json()
        body["Env"] = [*self.env_file, *self.env]
        body["HostConfig"].update(self.host_config_extra)
        for key, value in self.config_extra.items():
            body[key] = {**value, **body[key]} if key == "Labels" else value
        body["HostConfig"].update(self._network_json())
        self._mounts_json(body)
        self._lifecycle_json(body)
        body["ExposedPorts"] = {key: {} for key in self._exposed()}
        if self.mac_address:
            body["MacAddress"] = self.mac_address
        if self.ip or self.network_aliases:
            endpoint: dict[str, Any] = {"Aliases": list(self.network_aliases) or None}
            if self.ip:
                endpoint["IPAMConfig"] = {"IPv4Address": self.ip}
            body["NetworkingConfig"] = {"EndpointsConfig": {self.network or "default": endpoint}}
        return body

    def _lifecycle_json(self, body: dict[str, Any]) -> None:
        body.update(
            Tty=self.tty, OpenStdin=self.open_stdin, StdinOnce=self.stdin_once,
            AttachStdin="stdin" in self.attach, AttachStdout="stdout" in self.attach,
            AttachStderr="stderr" in self.attach,
        )  # fmt: skip
        if self.stop_signal:
            body["StopSignal"] = self.stop_signal
        if self.stop_timeout is not None:
            body["StopTimeout"] = self.stop_timeout
        if self.healthcheck is not None:
            body["Healthcheck"] = dict(self.healthcheck)
        hc = body["HostConfig"]
        hc.update(RestartPolicy=dict(self.restart), LogConfig={"Type": self.log_driver, "Config": dict(self.log_opts)},
                  ConsoleSize=list(self.console_size))  # fmt: skip
        if self.init is not None:
            hc["Init"] = self.init

    def _mounts_json(self, body: dict[str, Any]) -> None:
        body["Volumes"] = {path: {} for path in self.volumes}
        hc = body["HostConfig"]
        hc.update(Binds=list(self.binds) or None, VolumesFrom=list(self.volumes_from) or None)
        if self.mounts:
            hc["Mounts"] = [dict(m) for m in self.mounts]
        if self.tmpfs:
            hc["Tmpfs"] = dict(self.tmpfs)

    def _exposed(self) -> list[str]:
        if not (self.expose or self.publish):  # no port flags: skip importing the parsers
            return []
        from dockyard.engine.networks import parse_expose, parse_publish

        keys = list(parse_expose(self.expose))
        keys += [s.key for s in parse_publish(self.publish) if s.key not in keys]
        return keys

    def _network_json(self) -> dict[str, Any]:
        bindings: dict[str, list[dict[str, str]]] = {}
        for spec in _parse_publish(self.publish):
            host_port = ""
            if spec.host_port_start:
                host_port = str(spec.host_port_start)
                if spec.host_port_end != spec.host_port_start:
                    host_port += f"-{spec.host_port_end}"
            bindings.setdefault(spec.key, []).append({"HostIp": spec.host_ip, "HostPort": host_port})
        return {
            "NetworkMode": self.network or "default",
            "PortBindings": bindings,
            "PublishAllPorts": self.publish_all,
            "Dns": list(self.dns),
            "DnsSearch": list(self.dns_search),
            "DnsOptions": list(self.dns_options),
            "ExtraHosts": list(self.extra_hosts) or None,
        }

    def _base_json(self) -> dict[str, Any]:
        return {
            "Image": self.image,
            "Cmd": list(self.cmd) if self.cmd is not None else None,
            "Entrypoint": list(self.entrypoint) if self.entrypoint is not None else None,
            "Env": list(self.env),
            "WorkingDir": self.working_dir,
            "User": self.user,
            "Hostname": self.hostname,
            "Labels": dict(self.labels),
            "Tty": False,
            "OpenStdin": False,
            "HostConfig": {
                "AutoRemove": self.auto_remove,
                "Memory": self.memory,
                "NanoCpus": self.nano_cpus,
                "PidsLimit": self.pids_limit or None,
                "ReadonlyRootfs": self.read_only,
                "Privileged": self.privileged,
                "CapAdd": list(self.cap_add) or None,
                "CapDrop": list(self.cap_drop) or None,
                "SecurityOpt": list(self.security_opt) or None,
            },
        }


def _parse_publish(raws: tuple[str, ...]) -> tuple[Any, ...]:
    if not raws:
        return ()
    from dockyard.engine.networks import parse_publish

    return parse_publish(raws)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerSummary:
    id: str
    names: tuple[str, ...]
    image: str
    command: str
    created: int
    state: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSummary:
    id: str
    tags: tuple[str, ...]
    created: int
    size: int


class Client:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def _call(self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: Any = None) -> RawResponse:
        data = json.dumps(body).encode() if body is not None else None
        response = self.transport.request(method, f"/v{API_VERSION}{path}", query=query, body=data)
        if response.status >= 400:
            raw = response.read()
            try:
                message = str(json.loads(raw)["message"])
            except (ValueError, KeyError, TypeError):
                message = raw.decode(errors="replace").strip() or f"status {response.status}"
            raise APIError(response.status, message)
        return response

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return json.loads(self._call(method, path, **kw).read() or b"null")

    def request_json(self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: Any = None) -> Any:
        """Any Engine API call whose answer is JSON (or empty: None); the resource verbs (network …) use it."""
        return self._json(method, path, query=query, body=body)

    def ping(self) -> Mapping[str, str]:
        return self._call("GET", "/_ping").headers

    def version(self) -> dict[str, Any]:
        data: dict[str, Any] = self._json("GET", "/version")
        return data

    def create_container(self, options: CreateOptions, name: str | None = None) -> str:
        return self.create_container_warned(options, name)[0]

    def create_container_warned(self, options: CreateOptions, name: str | None = None) -> tuple[str, list[str]]:
        """The new container's id and the daemon's create `Warnings` (the docker CLI prints each on stderr)."""
        query = {"name": name} if name else None
        data = self._json("POST", "/containers/create", query=query, body=options.to_json())
        return str(data["Id"]), [str(w) for w in data.get("Warnings") or ()]

    def start_container(self, container: str) -> None:
        self._call("POST", f"/containers/{container}/start").read()

    def wait_container(self, container: str, condition: str = "not-running") -> int:
        data = self._json("POST", f"/containers/{container}/wait", query={"condition": condition})
        return int(data["StatusCode"])

    def kill_container(self, container: str, signal: str = "SIGKILL") -> None:
        self._call("POST", f"/containers/{container}/kill", query={"signal": signal}).read()

    def remove_container(self, container: str, *, force: bool = False, volumes: bool = False) -> None:
        query = {"force": "1" if force else "0"}
        if volumes:
            query["v"] = "1"
        self._call("DELETE", f"/containers/{container}", query=query).read()

    def inspect_container(self, container: str) -> dict[str, Any]:
        data: dict[str, Any] = self._json("GET", f"/containers/{container}/json")
        return data

    def containers(self, *, all: bool = False) -> list[ContainerSummary]:
        data = self._json("GET", "/containers/json", query={"all": "1" if all else "0"})
        return [
            ContainerSummary(
                id=c["Id"],
                names=tuple(c.get("Names") or ()),
                image=c.get("Image", ""),
                command=c.get("Command", ""),
                created=int(c.get("Created", 0)),
                state=c.get("State", ""),
                status=c.get("Status", ""),
            )
            for c in data
        ]

    def images(self) -> list[ImageSummary]:
        data = self._json("GET", "/images/json")
        return [
            ImageSummary(id=i["Id"], tags=tuple(i.get("RepoTags") or ()), created=i["Created"], size=i["Size"])
            for i in data
        ]

    def build_busybox(self) -> str:
        return str(self._json("POST", "/_dockyard/images/busybox")["Id"])

    def build_debian(self, suite: str = "bookworm") -> str:
        return str(self._json("POST", "/_dockyard/images/debian", query={"suite": suite})["Id"])

    def system_check(self) -> list[str]:
        return [str(p) for p in self._json("GET", "/_dockyard/system/check")["Problems"]]

    def logs(
        self, container: str, *, follow: bool = False, timestamps: bool = False, tail: str = "all"
    ) -> Iterator[tuple[str, bytes]]:
        """(stream, bytes) pairs; stdcopy frames are decoded, a tty's raw stream is all `stdout`."""
        query = {"stdout": "1", "stderr": "1", "follow": "1" if follow else "0", "tail": tail}
        if timestamps:
            query["timestamps"] = "1"
        response = self._call("GET", f"/containers/{container}/logs", query=query)
        if "multiplexed" not in response.headers.get("content-type", "multiplexed"):
            return (("stdout", chunk) for chunk in response.chunks)
        return _demux(response.chunks)


def _demux(chunks: Iterator[bytes]) -> Iterator[tuple[str, bytes]]:
    names = {0: "stdin", 1: "stdout", 2: "stderr"}
    buf = b""
    for chunk in chunks:
        buf += chunk
        while len(buf) >= _STDCOPY_HEADER:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < _STDCOPY_HEADER + size:
                break
            yield names.get(buf[0], "stdout"), buf[_STDCOPY_HEADER : _STDCOPY_HEADER + size]
            buf = buf[_STDCOPY_HEADER + size :]


def from_env(host: str | None = None, data_root: str | None = None, *, tls: TLSOptions | None = None) -> Client:
    """A client for `host` (or DOCKYARD_HOST/DOCKER_HOST/the docker context, or a daemon on the default socket when
    no private data root was asked for); without one, the in-process engine (client/hosts.py says how)."""
    from dockyard.client.hosts import default_daemon, resolve_host, resolve_tls
    from dockyard.client.transport import InProcessTransport, parse_host

    host = resolve_host(host) or default_daemon(data_root)
    if host:
        from dockyard.client.unix import HttpTransport

        settings = resolve_tls(tls)
        return Client(HttpTransport(parse_host(host, tls=settings is not None), settings))

    def engine() -> Any:
        from dockyard.engine.engine import Engine

        return Engine.from_env(data_root)

    return Client(InProcessTransport(engine))
