"""The embedded DNS server at 127.0.0.11 inside a container's network namespace, and its records files.

Design: one resolver process per container namespace on a user-defined network
(`python -m dockyard.network.dns --netns P --records-dir D --container C --upstream IP[:PORT] …`). Started in
the host's namespace, it first opens its upstream socket there, then setns(2)s into the container's namespace
(a fresh single-threaded process, so the switch is safe) and binds 127.0.0.11:53 over UDP and TCP. Sockets
keep the namespace they were born in, so it answers inside the container and forwards from the host — the
host's resolvers, loopback ones included, stay reachable. Answers come from JSON files the manager rewrites
atomically under D: `networks/<network_id>.json` (names and addresses on that network) and
`containers/<container_id>.json` (the networks this container is on); they are re-read when their mtime
changes. The process exits on SIGTERM, and when the process it watches (the container's init) exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.network import dnsmsg as m
from dockyard.network.helpers import HelperFailed, report_ready, spawn_helper, stop_helper

MODULE = "dockyard.network.dns"
LISTEN = "127.0.0.11"
FORWARD_TIMEOUT = 2.0
TTL = 600


@dataclass(frozen=True, slots=True, kw_only=True)
class NameRecord:
    """One endpoint as the resolver sees it: the names it answers to and its address."""

    names: tuple[str, ...]
    ipv4: str


def write_network_records(records_dir: Path, network_id: str, network_name: str,
                          records: Sequence[NameRecord]) -> None:  # fmt: skip
    body = {"name": network_name, "records": [{"names": list(r.names), "ipv4": r.ipv4} for r in records]}
    _write_json(records_dir / "networks" / f"{network_id}.json", body)


def write_container_networks(records_dir: Path, container_id: str, network_ids: Sequence[str]) -> None:
    path = records_dir / "containers" / f"{container_id}.json"
    if network_ids:
        _write_json(path, {"networks": list(network_ids)})
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_network_records(records_dir: Path, network_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (records_dir / "networks" / f"{network_id}.json").unlink()


def _write_json(path: Path, body: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)


class Records:
    """The names visible to one container: those on the networks it shares, reloaded when files change."""

    def __init__(self, records_dir: Path, container_id: str) -> None:
        self.dir = records_dir
        self.container_id = container_id
        self._cache: dict[Path, tuple[float, Any]] = {}

    def _load(self, path: Path) -> Any:
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        self._cache[path] = (mtime, body)
        return body

    def networks(self) -> list[tuple[str, list[NameRecord]]]:
        own = self._load(self.dir / "containers" / f"{self.container_id}.json") or {}
        out = []
        for nid in own.get("networks", []):
            body = self._load(self.dir / "networks" / f"{nid}.json") or {}
            recs = [NameRecord(names=tuple(n.lower() for n in r.get("names", [])), ipv4=str(r.get("ipv4", "")))
                    for r in body.get("records", [])]  # fmt: skip
            out.append((str(body.get("name", "")).lower(), recs))
        return out

    def lookup(self, name: str) -> list[str] | None:
        """Addresses for `name` (or `name.<network>`); None when no shared network knows it."""
        for net_name, recs in self.networks():
            short = name[: -len(net_name) - 1] if net_name and name.endswith("." + net_name) else name
            found = [r.ipv4 for r in recs if short in r.names]
            if found:
                return found
        return None

    def reverse(self, ip: str) -> str | None:
        for net_name, recs in self.networks():
            for r in recs:
                if r.ipv4 == ip and r.names:
                    return f"{r.names[0]}.{net_name}" if net_name else r.names[0]
        return None


def local_answer(records: Records, request: m.Message) -> m.Message | None:
    """The reply from our records, or None when the query must go upstream."""
    if request.opcode != 0 or len(request.questions) != 1:
        return m.response(request, rcode=m.RCODE_NOTIMP if request.opcode else m.RCODE_FORMERR)
    q = request.questions[0]
    if q.qtype in (m.TYPE_A, m.TYPE_AAAA):
        ips = records.lookup(q.name)
        if ips is None:
            return None
        if q.qtype == m.TYPE_AAAA:  # known name, IPv4 only: NOERROR and no data, as Docker answers
            return m.response(request)
        return m.response(request, tuple(m.a_record(q.name, ip, TTL) for ip in ips))
    if q.qtype == m.TYPE_PTR:
        ip = m.address_of_reverse(q.name)
        target = records.reverse(ip) if ip else None
        if target is None:
            return None
        return m.response(request, (m.ptr_record(q.name, target, TTL),))
    return None if records.lookup(q.name) is None else m.response(request)


def parse_upstream(text: str) -> tuple[str, int]:
    """`1.2.3.4`, `1.2.3.4:5353`, `[::1]:53`, `::1` → (address, port)."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 53


class Server:
    """The select loop: local answers at once, the rest forwarded over UDP from the host's namespace."""

    def __init__(self, records: Records, upstreams: Sequence[tuple[str, int]], up4: socket.socket,
                 up6: socket.socket | None, udp: socket.socket, tcp: socket.socket) -> None:  # fmt: skip
        self.records, self.upstreams = records, list(upstreams)
        self.timeout = FORWARD_TIMEOUT
        self.up4, self.up6, self.udp, self.tcp = up4, up6, udp, tcp
        # upstream id → (client id, reply function, deadline, index of the upstream tried, query bytes)
        self.pending: dict[int, tuple[int, Any, float, int, bytes]] = {}

    def handle(self, data: bytes, reply: Any) -> None:
        try:
            request = m.decode(data)
        except m.DNSFormatError:
            return
        if request.is_response:
            return
        answer = local_answer(self.records, request)
        if answer is not None or not self.upstreams:
            reply(m.encode(answer or m.response(request, rcode=m.RCODE_SERVFAIL)))
            return
        self._forward(request.id, data, reply, 0)

    def _forward(self, client_id: int, data: bytes, reply: Any, index: int) -> None:
        new_id = random.randrange(1, 0x10000)
        while new_id in self.pending:
            new_id = random.randrange(1, 0x10000)
        host, port = self.upstreams[index]
        sock = self.up6 if ":" in host and self.up6 is not None else self.up4
        try:
            sock.sendto(new_id.to_bytes(2, "big") + data[2:], (host, port))
        except OSError:
            pass
        self.pending[new_id] = (client_id, reply, time.monotonic() + self.timeout, index, data)

    def upstream_reply(self, sock: socket.socket) -> None:
        data, _ = sock.recvfrom(65535)
        entry = self.pending.pop(int.from_bytes(data[:2], "big"), None) if len(data) >= 12 else None
        if entry is not None:
            entry[1](entry[0].to_bytes(2, "big") + data[2:])

    def expire(self) -> None:
        now = time.monotonic()
        for key, (client_id, reply, deadline, index, data) in list(self.pending.items()):
            if deadline > now:
                continue
            del self.pending[key]
            if index + 1 < len(self.upstreams):
                self._forward(client_id, data, reply, index + 1)
            else:
                with contextlib.suppress(m.DNSFormatError):
                    reply(m.encode(m.response(m.decode(data), rcode=m.RCODE_SERVFAIL)))

    def tcp_client(self) -> None:
        conn, _ = self.tcp.accept()
        conn.settimeout(1.0)
        try:
            size = int.from_bytes(_recv_exact(conn, 2), "big")
            data = _recv_exact(conn, size)
        except OSError:
            conn.close()
            return

        def reply(out: bytes) -> None:
            with contextlib.suppress(OSError):
                conn.sendall(len(out).to_bytes(2, "big") + out)
            conn.close()

        self.handle(data, reply)

    def serve(self, watch: int | None) -> None:
        socks: list[Any] = [self.udp, self.tcp, self.up4, *([self.up6] if self.up6 else [])]
        if watch is not None:
            socks.append(watch)
        while True:
            ready, _, _ = select.select(socks, [], [], min(0.5, self.timeout))
            for s in ready:
                if s is watch:
                    return
                if s is self.udp:
                    data, client = self.udp.recvfrom(65535)
                    self.handle(data, lambda out, c=client: self.udp.sendto(out, c))
                elif s is self.tcp:
                    self.tcp_client()
                else:
                    self.upstream_reply(s)
            self.expire()


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = conn.recv(size - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def _parse_args(argv: Sequence[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {"--upstream": []}
    items = list(argv)
    while items:
        flag = items.pop(0)
        if flag not in ("--netns", "--records-dir", "--container", "--upstream", "--watch-pid") or not items:
            raise ValueError(f"bad argument: {flag}")
        values.setdefault(flag, []).append(items.pop(0))
    for needed in ("--netns", "--records-dir", "--container"):
        if needed not in values:
            raise ValueError(f"missing {needed}")
    return values


def _bind_inside(netns: str) -> tuple[socket.socket, socket.socket]:
    from dockyard.network.netlink import setns_path

    setns_path(netns)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((LISTEN, 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((LISTEN, 53))
    tcp.listen(64)
    return udp, tcp


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parse_args(sys.argv[1:] if argv is None else argv)
        upstreams = [parse_upstream(u) for u in args["--upstream"]]
        up4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) if any(":" in h for h, _ in upstreams) else None
        watch = os.pidfd_open(int(args["--watch-pid"][0])) if "--watch-pid" in args else None
        udp, tcp = _bind_inside(args["--netns"][0])
    except Exception as err:  # any failure must reach the parent as a status line
        report_ready(f"1\n{err}")
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    report_ready("0\n")
    records = Records(Path(args["--records-dir"][0]), args["--container"][0])
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        Server(records, upstreams, up4, up6, udp, tcp).serve(watch)
    return 0


def start_resolver(netns_path: str, records_dir: Path, container_id: str, upstreams: Sequence[str],
                   watch_pid: int | None = None) -> int:  # fmt: skip
    """Start the resolver for one container namespace; its pid once 127.0.0.11:53 is bound."""
    args = ["--netns", netns_path, "--records-dir", str(records_dir), "--container", container_id]
    for upstream in upstreams:
        args += ["--upstream", upstream]
    if watch_pid is not None:
        args += ["--watch-pid", str(watch_pid)]
    try:
        return spawn_helper(MODULE, args)
    except HelperFailed as err:
        raise HelperFailed(f"start resolver in `{netns_path}`: {err}") from err


def stop_resolver(pid: int) -> bool:
    return stop_helper(pid, MODULE)


if __name__ == "__main__":
    sys.exit(main())
