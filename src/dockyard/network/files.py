"""A container's /etc/hosts, /etc/resolv.conf and /etc/hostname: content built as Docker builds it, then written.

Content generation is pure; `write_files` writes into a directory the engine owns and bind-mounts. Nothing
here reads container state or talks to the kernel.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.oci.model import Model

EMBEDDED_DNS = "127.0.0.11"
# Docker falls back to Google's resolvers when the host has none usable from a container. Tests must never
# send traffic there: they always pass their own nameservers.
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")

DEFAULT_HOSTS = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)


class ResolvConf(Model):
    """The parts of a resolv.conf Docker carries over: nameservers, search domains, options."""

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


class ContainerFiles(Model):
    """Paths written by `write_files`, to bind-mount at /etc/hosts, /etc/resolv.conf, /etc/hostname."""

    hosts: Path
    resolv_conf: Path
    hostname: Path


def parse_resolv_conf(text: str) -> ResolvConf:
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        key, args = words[0], words[1:]
        if key == "nameserver" and args:
            nameservers.append(args[0])
        elif key in ("search", "domain"):
            search = list(args)  # the last search/domain line wins, as in resolver(5)
        elif key == "options":
            options.extend(args)
    return ResolvConf(nameservers=tuple(nameservers), search=tuple(search), options=tuple(options))


def read_host_resolv_conf(path: str = "/etc/resolv.conf") -> ResolvConf:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_resolv_conf(f.read())
    except OSError:
        return ResolvConf()


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def hosts_content(
    hostname: str,
    ip: str | None = None,
    *,
    domainname: str = "",
    extra_hosts: Sequence[tuple[str, str]] = (),
) -> str:
    """Docker's layout: the fixed localhost/IPv6 block, `--add-host` entries, then `<ip>\t<hostname>`."""
    lines = [f"{addr}\t{names}" for addr, names in DEFAULT_HOSTS]
    lines += [f"{addr}\t{name}" for name, addr in extra_hosts]
    if ip:
        names = f"{hostname}.{domainname} {hostname}" if domainname else hostname
        lines.append(f"{ip}\t{names}")
    return "\n".join(lines) + "\n"


def parse_extra_host(raw: str) -> tuple[str, str]:
    """`--add-host name:ip` (or `name=ip`) → (name, ip); Docker's message for a bad one."""
    sep = "=" if "=" in raw else ":"
    name, _, ip = raw.partition(sep)
    ip = ip.strip("[]")
    if not name or not ip:
        raise InvalidArgument(f"bad format for add-host: {raw!r}")
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip)
        except ValueError as err:
            raise InvalidArgument(f"invalid IP address in add-host: {ip!r}") from err
    return name, ip


def resolv_conf_content(
    host: ResolvConf,
    *,
    embedded_dns: bool,
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
) -> str:
    """The container's resolv.conf.

    Default bridge: the host's nameservers minus loopback ones (unreachable from the container's
    namespace), else Docker's fallback. User-defined networks: the embedded resolver and `ndots:0`, which it
    needs so that bare names go to it first; the host's servers become its upstreams instead.
    """
    search = tuple(dns_search) or host.search
    options = tuple(dns_options) or host.options
    if embedded_dns:
        servers: tuple[str, ...] = (EMBEDDED_DNS,)
        options = _with_ndots0(options)
    else:
        servers = tuple(dns) or tuple(ns for ns in host.nameservers if not is_loopback(ns)) or FALLBACK_NAMESERVERS
    lines = [f"nameserver {ns}" for ns in servers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def _with_ndots0(options: Iterable[str]) -> tuple[str, ...]:
    """Docker keeps a user's explicit ndots; otherwise the embedded resolver wants ndots:0."""
    opts = tuple(options)
    if any(o.startswith("ndots:") for o in opts):
        return opts
    return ("ndots:0", *opts)


def upstream_servers(host: ResolvConf, dns: Sequence[str] = ()) -> tuple[str, ...]:
    """What the embedded resolver forwards to: `--dns` servers, else the host's (loopback ones work: the
    resolver sends from the host's namespace), else Docker's fallback."""
    return tuple(dns) or host.nameservers or FALLBACK_NAMESERVERS


def hostname_content(hostname: str) -> str:
    return hostname + "\n"


def _write(path: Path, content: str) -> None:
    """A new file atomically; an existing one in place.

    why: a running container has these files bind-mounted, which pins the inode: a rename would leave the
    container reading the old file after `network connect`/`disconnect` (moby's rebuildDNS writes in place too).
    """
    data = content.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def write_files(directory: Path, *, hosts: str, resolv_conf: str, hostname: str) -> ContainerFiles:
    """Write the three files into `directory` (created if missing): new ones atomically, existing ones in place."""
    directory.mkdir(parents=True, exist_ok=True)
    files = ContainerFiles(hosts=directory / "hosts", resolv_conf=directory / "resolv.conf",
                           hostname=directory / "hostname")  # fmt: skip
    _write(files.hosts, hosts)
    _write(files.resolv_conf, resolv_conf)
    _write(files.hostname, hostname)
    return files


def write_host_mode_files(directory: Path, *, hostname: str | None = None) -> ContainerFiles:
    """`--network host`: the host's own hosts and resolv.conf, and its hostname (Docker copies them)."""

    def read(path: str, default: str) -> str:
        try:
            return Path(path).read_text()
        except OSError:
            return default

    return write_files(directory, hosts=read("/etc/hosts", hosts_content("localhost")),
                       resolv_conf=read("/etc/resolv.conf", ""),
                       hostname=hostname_content(hostname or os.uname().nodename))  # fmt: skip
