"""`dockyardd [-H unix:///run/dockyard.sock]… [--data-root DIR] [--pidfile F] [--debug] [--tls…]`: the Engine API.

Composition only: parses flags, builds the engine (lazily, once), runs its recovery hook, starts the monitor
zygote and the CLI zygote (daemon/cli_zygote.py, beside the first unix socket; DOCKYARD_CLI_ZYGOTE=0: none), opens
the listeners (daemon/listeners.py) and serves the api handlers through daemon/server.py until SIGTERM or SIGINT.
Unexpected handler errors answer 500 and are logged with their traceback on stderr; users never see one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockyard.daemon import listeners
from dockyard.daemon.listeners import Address, TLSOptions
from dockyard.daemon.server import Server
from dockyard.errors import DockyardError
from dockyard.paths import DEFAULT_SOCKET

if TYPE_CHECKING:
    from dockyard.api.routes import Api
    from dockyard.daemon.cli_zygote import CliZygote
    from dockyard.engine.engine import Engine

log = logging.getLogger("dockyardd")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    hosts: tuple[Address, ...]
    data_root: str | None = None
    pidfile: str | None = None
    debug: bool = False
    tls: TLSOptions | None = None
    extra: dict[str, str] = field(default_factory=dict)


def recover(engine: object) -> None:
    """Call the engine's recovery hook when it has one (containers left running are found with their state)."""
    hook = getattr(engine, "recover", None)
    if not callable(hook):
        return
    try:
        report = hook()
        for failure in getattr(report, "failed", ()):
            log.warning("recovery: %s", failure)
    except DockyardError as err:
        log.error("recovery: %s", err.message)
    except Exception:
        log.exception("recovery failed")


def make_api(data_root: str | None) -> tuple[Api, Callable[[], Engine]]:
    from dockyard.api.routes import Api, load_all

    load_all()  # why: the CLI imports one handler per call; a daemon pays every import once, before serving
    lock = threading.Lock()
    built: list[Engine] = []

    def engine() -> Engine:
        with lock:
            if not built:
                from dockyard.engine.engine import Engine

                built.append(Engine.from_env(data_root))
            return built[0]

    return Api(engine), engine


async def serve(
    hosts: Sequence[Address], api: Api, ready: asyncio.Event | None = None, tls: TLSOptions | None = None
) -> list[str]:
    """Listen on every host, serve until SIGTERM/SIGINT, remove the sockets; returns the bound addresses."""
    from dockyard.api.routes import common_headers

    server = Server(api.handle, extra_headers=common_headers)
    opened: list[tuple[asyncio.Server, Address]] = []
    bound: list[str] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for address in hosts:
            srv, where = await listeners.listen(address, server.connection, tls if address.scheme == "tcp" else None)
            opened.append((srv, address))
            bound.append(where)
            log.info("API listen on %s", where)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("stopping: %d connection(s) open", len(server.connections))
    finally:
        for srv, address in opened:
            srv.close()
            listeners.cleanup(address)
        for task in list(server.connections):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*server.connections, return_exceptions=True), 2)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return bound


def start_zygote() -> None:
    """The monitor fork server (engine/zygote.py); without it each start executes a monitor interpreter. Also
    arms the cgroup lock warmer (engine/cgroup_warm.py), which needs a threaded process: this one."""
    from dockyard.engine import cgroup_warm

    cgroup_warm.install()
    if os.environ.get("DOCKYARD_ZYGOTE") == "0":
        return
    from dockyard.engine import zygote

    try:
        zygote.install()
    except OSError as err:
        log.warning("monitor zygote: %s (monitors are started by exec)", err.strerror or err)


def start_cli_zygote(hosts: Sequence[Address]) -> CliZygote | None:
    """The CLI fork server (daemon/cli_zygote.py) beside the first unix API socket; None when there is none, when
    DOCKYARD_CLI_ZYGOTE=0, or when it cannot start (the CLI then runs in full, as without it)."""
    unix = [address for address in hosts if address.scheme == "unix"]
    if not unix or os.environ.get("DOCKYARD_CLI_ZYGOTE") == "0":
        return None
    from dockyard.daemon.cli_zygote import CliZygote, cli_socket_for

    zygote = CliZygote(cli_socket_for(unix[0].path), str(unix[0]))
    try:
        zygote.start()
    except OSError as err:
        log.warning("cli zygote: %s", err.strerror or err)
        return None
    return zygote


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="dockyardd", description="The dockyard Engine API daemon")
    parser.add_argument("-H", "--host", action="append", default=[], help="unix:///path or tcp://host:port (repeat)")
    parser.add_argument("--data-root", default=None, help="root of persistent state (default /var/lib/dockyard)")
    parser.add_argument("--pidfile", default=None, help="write the daemon's pid to this file")
    parser.add_argument("-D", "--debug", action="store_true", help="log every request")
    parser.add_argument("--tlsverify", action="store_true", help="require client certificates signed by --tlscacert")
    parser.add_argument("--tlscacert", default=None)
    parser.add_argument("--tlscert", default=None)
    parser.add_argument("--tlskey", default=None)
    args = parser.parse_args(argv)
    hosts = tuple(listeners.parse_address(h) for h in (args.host or [f"unix://{DEFAULT_SOCKET}"]))
    tls = None
    if args.tlscert or args.tlskey or args.tlsverify:
        if not (args.tlscert and args.tlskey):
            raise DockyardError("TLS needs both --tlscert and --tlskey")
        tls = TLSOptions(cert=args.tlscert, key=args.tlskey, cacert=args.tlscacert, verify=args.tlsverify)
    return Options(hosts=hosts, data_root=args.data_root, pidfile=args.pidfile, debug=args.debug, tls=tls)


def _write_pidfile(path: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        opts = parse_args(argv)
    except DockyardError as err:
        sys.stderr.write(f"dockyardd: {err.message}\n")
        return 2
    # --debug raises only our loggers: pyroute2 at DEBUG logs every netlink message.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.DEBUG if opts.debug else logging.INFO)
    logging.getLogger("dockyard").setLevel(logging.DEBUG if opts.debug else logging.INFO)
    api, engine = make_api(opts.data_root)
    try:
        if opts.pidfile:
            _write_pidfile(opts.pidfile)
        start_zygote()
        recover(engine())
        from dockyard.api.build import sweep_spooled

        sweep_spooled(engine().paths.tmp)  # build contexts left by a daemon that was killed mid-upload
        cli_zygote = start_cli_zygote(opts.hosts)
        try:
            asyncio.run(serve(opts.hosts, api, tls=opts.tls))
        finally:
            if cli_zygote is not None:
                cli_zygote.stop()
    except DockyardError as err:
        sys.stderr.write(f"dockyardd: {err.message}\n")
        return 1
    except OSError as err:
        sys.stderr.write(f"dockyardd: {err.strerror or err}: {err.filename or ''}\n")
        return 1
    finally:
        if opts.pidfile:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(opts.pidfile)
    return 0


def run() -> None:
    """Process entry: exit without joining worker threads still blocked in a handler (wait, logs -f, attach)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
