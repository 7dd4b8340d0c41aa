"""The userland port proxy (docker-proxy's job): one process per published port, host address → container.

Run as `python -m dockyard.network.proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2
-container-port 80`. It holds the host port (so nobody else takes it), serves what NAT cannot (connections
to 127.0.0.1, and from containers on the same bridge), reports "0\n" or "1\n<error>" on stdout (docker-proxy
does so on fd 3; stdout spares the parent a preexec_fn), then points stdout at /dev/null, and exits on
SIGTERM/SIGINT. It imports nothing but the stdlib. An IPv6 host address is bound IPv6-only, so the `::` proxy
Docker ≥ 20.10 adds beside the 0.0.0.0 one holds the same port without clashing with it.
`start_proxy`/`stop_proxy` are the parent side.
"""

from __future__ import annotations

import contextlib
import errno
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from dockyard.network.helpers import HelperFailed, await_helper, launch_helper, report_ready, stop_helper

BUFSIZE = 65536
UDP_IDLE_SECONDS = 90.0  # docker-proxy's UDP conntrack timeout
CONNECT_TIMEOUT = 10.0


# Why these two: EAFNOSUPPORT when the kernel has no IPv6 (ipv6.disable=1), EADDRNOTAVAIL when the address is
# not the host's (IPv6 disabled on every interface); dockerd then keeps only the IPv4 binding (moby#42288).
_UNAVAILABLE = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)
_ERRNO = re.compile(r"\[Errno (\d+)\]")


class AddressUnavailable(HelperFailed):
    """The proxy could not bind: the host has no such address or address family."""


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def listen(proto: str, host_ip: str, host_port: int) -> socket.socket:
    """The proxy's host socket, bound (and listening for TCP); an IPv6 one is IPv6-only."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    listener = socket.socket(_family(host_ip), kind)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if listener.family == socket.AF_INET6:
            # why: with net.ipv6.bindv6only=0 (Linux's default) `::` would also take the IPv4 port, which the
            # 0.0.0.0 proxy of the same mapping holds: EADDRINUSE. docker-proxy sets IPV6_V6ONLY the same way.
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind((host_ip, host_port))
        if kind == socket.SOCK_STREAM:
            listener.listen(128)
    except OSError:
        listener.close()
        raise
    return listener


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(BUFSIZE):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _serve_tcp_client(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        backend = socket.create_connection(target, timeout=CONNECT_TIMEOUT)
    except OSError:
        client.close()
        return
    backend.settimeout(None)
    other = threading.Thread(target=_pipe, args=(backend, client), daemon=True)
    other.start()
    _pipe(client, backend)
    other.join()
    client.close()
    backend.close()


def serve_tcp(listener: socket.socket, target: tuple[str, int]) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_serve_tcp_client, args=(client, target), daemon=True).start()


class _UDPFlows:
    """One connected socket towards the container per client address, dropped after idling."""

    def __init__(self, listener: socket.socket, target: tuple[str, int]) -> None:
        self.listener = listener
        self.target = target
        self.flows: dict[tuple[str, int], tuple[socket.socket, list[float]]] = {}
        self.lock = threading.Lock()

    def forward(self, data: bytes, client: tuple[str, int]) -> None:
        with self.lock:
            flow = self.flows.get(client)
            if flow is None:
                upstream = socket.socket(_family(self.target[0]), socket.SOCK_DGRAM)
                upstream.connect(self.target)
                flow = (upstream, [time.monotonic()])
                self.flows[client] = flow
                threading.Thread(target=self._replies, args=(client, flow), daemon=True).start()
        flow[1][0] = time.monotonic()
        with contextlib.suppress(OSError):
            flow[0].send(data)

    def _replies(self, client: tuple[str, int], flow: tuple[socket.socket, list[float]]) -> None:
        upstream, last = flow
        upstream.settimeout(5.0)
        while True:
            try:
                data = upstream.recv(BUFSIZE)
            except TimeoutError:
                if time.monotonic() - last[0] > UDP_IDLE_SECONDS:
                    break
                continue
            except OSError:
                break
            last[0] = time.monotonic()
            with contextlib.suppress(OSError):
                self.listener.sendto(data, client)
        with self.lock:
            self.flows.pop(client, None)
        upstream.close()


def serve_udp(listener: socket.socket, target: tuple[str, int]) -> None:
    flows = _UDPFlows(listener, target)
    while True:
        data, client = listener.recvfrom(BUFSIZE)
        flows.forward(data, client)


def parse_args(argv: Sequence[str]) -> dict[str, str]:
    """docker-proxy's single-dash flags → their values; unknown flags are an error."""
    known = {"-proto", "-host-ip", "-host-port", "-container-ip", "-container-port"}
    values: dict[str, str] = {"-proto": "tcp", "-host-ip": "0.0.0.0"}
    items = list(argv)
    while items:
        flag = items.pop(0)
        if flag not in known or not items:
            raise ValueError(f"bad argument: {flag}")
        values[flag] = items.pop(0)
    for needed in ("-host-port", "-container-ip", "-container-port"):
        if needed not in values:
            raise ValueError(f"missing {needed}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        proto, host_ip = args["-proto"], args["-host-ip"]
        target = (args["-container-ip"], int(args["-container-port"]))
        listener = listen(proto, host_ip, int(args["-host-port"]))
    except (OSError, ValueError) as err:
        report_ready(f"1\n{err}")
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    report_ready("0\n")
    try:
        (serve_udp if listener.type == socket.SOCK_DGRAM else serve_tcp)(listener, target)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        listener.close()
    return 0


MODULE = "dockyard.network.proxy"


def start_proxy(proto: str, host_ip: str, host_port: int, container_ip: str, container_port: int) -> int:
    """Start a proxy for one published port; its pid once it holds the host port. AddressUnavailable when the
    host lacks the address or its family."""
    (result,) = start_proxies(proto, (host_ip,), host_port, container_ip, container_port)
    if isinstance(result, HelperFailed):
        raise result
    return result


def start_proxies(proto: str, host_ips: Sequence[str], host_port: int, container_ip: str,
                  container_port: int) -> list[int | HelperFailed]:  # fmt: skip
    """One proxy per host address of a mapping, started side by side (each is an interpreter start, ~17 ms
    here); per address its pid, or why it failed (AddressUnavailable: the caller may drop an implicit `::`)."""
    launched: list[subprocess.Popen[bytes] | HelperFailed] = []
    for host_ip in host_ips:
        args = ["-proto", proto, "-host-ip", host_ip or "0.0.0.0", "-host-port", str(host_port),
                "-container-ip", container_ip, "-container-port", str(container_port)]  # fmt: skip
        try:
            launched.append(launch_helper(MODULE, args))
        except OSError as err:
            launched.append(HelperFailed(str(err)))
    results: list[int | HelperFailed] = []
    for host_ip, proc in zip(host_ips, launched, strict=True):
        try:
            if isinstance(proc, HelperFailed):
                raise proc
            results.append(await_helper(proc))
        except HelperFailed as err:
            results.append(_failure(proto, host_ip or "0.0.0.0", host_port, err))
    return results


def _failure(proto: str, host_ip: str, host_port: int, err: HelperFailed) -> HelperFailed:
    where = f"[{host_ip}]" if ":" in host_ip else host_ip
    code = _ERRNO.match(str(err))
    kind = AddressUnavailable if code is not None and int(code.group(1)) in _UNAVAILABLE else HelperFailed
    failure = kind(f"start proxy for {where}:{host_port}/{proto}: {err}")
    failure.__cause__ = err
    return failure


def stop_proxy(pid: int) -> bool:
    return stop_helper(pid, MODULE)


if __name__ == "__main__":
    sys.exit(main())
