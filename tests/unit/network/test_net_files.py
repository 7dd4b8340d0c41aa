"""/etc/hosts, /etc/resolv.conf and /etc/hostname content, byte for byte as Docker writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.network import files
from dockyard.network.files import ResolvConf

DOCKER_HOSTS_HEAD = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def test_hosts_layout() -> None:
    assert files.hosts_content("abc123", "172.17.0.2") == DOCKER_HOSTS_HEAD + "172.17.0.2\tabc123\n"


def test_hosts_without_address_extra_hosts_and_domain() -> None:
    assert files.hosts_content("h") == DOCKER_HOSTS_HEAD
    out = files.hosts_content("web", "10.0.0.5", domainname="example.org", extra_hosts=[("db", "10.0.0.9")])
    assert out == DOCKER_HOSTS_HEAD + "10.0.0.9\tdb\n10.0.0.5\tweb.example.org web\n"


def test_parse_extra_host() -> None:
    assert files.parse_extra_host("db:10.0.0.9") == ("db", "10.0.0.9")
    assert files.parse_extra_host("db=::1") == ("db", "::1")
    assert files.parse_extra_host("gw:host-gateway") == ("gw", "host-gateway")
    with pytest.raises(InvalidArgument, match="bad format for add-host: 'db'"):
        files.parse_extra_host("db")
    with pytest.raises(InvalidArgument, match="invalid IP address in add-host: 'x.y'"):
        files.parse_extra_host("db:x.y")


HOST_RESOLV = """# generated
nameserver 127.0.0.53
nameserver 10.1.1.1 ; comment
nameserver ::1
domain old.example
search corp.example example.org
options edns0 trust-ad
"""


def test_parse_resolv_conf() -> None:
    assert files.parse_resolv_conf(HOST_RESOLV) == ResolvConf(
        nameservers=("127.0.0.53", "10.1.1.1", "::1"),
        search=("corp.example", "example.org"),
        options=("edns0", "trust-ad"),
    )


def test_default_bridge_resolv_conf_drops_loopback_servers() -> None:
    host = files.parse_resolv_conf(HOST_RESOLV)
    assert files.resolv_conf_content(host, embedded_dns=False) == (
        "nameserver 10.1.1.1\nsearch corp.example example.org\noptions edns0 trust-ad\n"
    )


def test_default_bridge_falls_back_to_docker_defaults() -> None:
    host = ResolvConf(nameservers=("127.0.0.53",))
    assert files.resolv_conf_content(host, embedded_dns=False) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_user_defined_network_uses_embedded_resolver() -> None:
    host = files.parse_resolv_conf(HOST_RESOLV)
    assert files.resolv_conf_content(host, embedded_dns=True) == (
        "nameserver 127.0.0.11\nsearch corp.example example.org\noptions ndots:0 edns0 trust-ad\n"
    )
    assert files.resolv_conf_content(ResolvConf(), embedded_dns=True) == "nameserver 127.0.0.11\noptions ndots:0\n"


def test_user_options_override() -> None:
    host = files.parse_resolv_conf(HOST_RESOLV)
    out = files.resolv_conf_content(host, embedded_dns=False, dns=["10.9.9.9"], dns_search=["a.b"],
                                    dns_options=["ndots:3"])  # fmt: skip
    assert out == "nameserver 10.9.9.9\nsearch a.b\noptions ndots:3\n"
    out = files.resolv_conf_content(host, embedded_dns=True, dns_options=["ndots:2"])
    assert out == "nameserver 127.0.0.11\nsearch corp.example example.org\noptions ndots:2\n"


def test_upstreams_keep_loopback_servers() -> None:
    host = files.parse_resolv_conf(HOST_RESOLV)
    assert files.upstream_servers(host) == ("127.0.0.53", "10.1.1.1", "::1")
    assert files.upstream_servers(host, ["1.1.1.1"]) == ("1.1.1.1",)
    assert files.upstream_servers(ResolvConf()) == files.FALLBACK_NAMESERVERS


def test_write_files(tmp_path: Path) -> None:
    out = files.write_files(tmp_path / "c1", hosts="H\n", resolv_conf="R\n", hostname=files.hostname_content("h1"))
    assert out.hosts.read_text() == "H\n"
    assert out.resolv_conf.read_text() == "R\n"
    assert out.hostname.read_text() == "h1\n"
    assert out.hosts.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in (tmp_path / "c1").iterdir()) == ["hostname", "hosts", "resolv.conf"]


def test_rewriting_keeps_the_inodes_a_running_container_has_bind_mounted(tmp_path: Path) -> None:
    first = files.write_files(tmp_path, hosts="H1 longer\n", resolv_conf="nameserver 10.0.0.1\n", hostname="a\n")
    inodes = [p.stat().st_ino for p in (first.hosts, first.resolv_conf, first.hostname)]
    again = files.write_files(tmp_path, hosts="H2\n", resolv_conf="nameserver 127.0.0.11\n", hostname="b\n")
    assert [p.stat().st_ino for p in (again.hosts, again.resolv_conf, again.hostname)] == inodes
    assert again.hosts.read_text() == "H2\n"  # truncated: nothing of the longer old content is left
    assert again.resolv_conf.read_text() == "nameserver 127.0.0.11\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostname", "hosts", "resolv.conf"]


def test_host_mode_files_copy_the_hosts(tmp_path: Path) -> None:
    out = files.write_host_mode_files(tmp_path, hostname="hosty")
    assert out.hosts.read_text() == Path("/etc/hosts").read_text()
    assert out.resolv_conf.read_text() == Path("/etc/resolv.conf").read_text()
    assert out.hostname.read_text() == "hosty\n"
