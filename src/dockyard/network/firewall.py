"""iptables rules for bridges and published ports, in dockyard's own chains; rule lists are pure data.

Chains (jumped to from the built-in ones, which are otherwise left alone):
  filter  FORWARD     → DOCKYARD-FORWARD → DOCKYARD-ISOLATION-1 → DOCKYARD-ISOLATION-2, DOCKYARD (port accepts)
  nat     PREROUTING  → DOCKYARD (DNAT, for local destinations)
          OUTPUT      → DOCKYARD (DNAT, local destinations except 127/8: loopback is the userland proxy's)
          POSTROUTING → DOCKYARD-POSTROUTING (masquerade, hairpin)
Our own ACCEPT rules matter when Debian's dockerd runs beside us: it sets the FORWARD policy to DROP.
Every rule carries a `dockyard:<tag>:<owner>` comment so `sweep` can find leaked ones after a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InternalError, Unavailable

FORWARD = "DOCKYARD-FORWARD"
ISOLATION_1 = "DOCKYARD-ISOLATION-1"
ISOLATION_2 = "DOCKYARD-ISOLATION-2"
PORTS = "DOCKYARD"
POSTROUTING = "DOCKYARD-POSTROUTING"

CHAINS: tuple[tuple[str, str], ...] = (
    ("filter", FORWARD), ("filter", ISOLATION_1), ("filter", ISOLATION_2), ("filter", PORTS),
    ("nat", PORTS), ("nat", POSTROUTING),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rule:
    """One iptables rule: table, chain, match+target arguments; `insert` puts it first in its chain."""

    table: str
    chain: str
    args: tuple[str, ...]
    insert: bool = False

    def command(self, op: str) -> list[str]:
        """`-A`/`-I`/`-D`/`-C` argument list (without the `iptables` program itself)."""
        return ["-t", self.table, op, self.chain, *self.args]


def _comment(tag: str, owner: str) -> tuple[str, ...]:
    return ("-m", "comment", "--comment", f"dockyard:{tag}:{owner}")


def jump_rules() -> list[Rule]:
    """Jumps from the built-in chains into ours, and the fixed rules of our chains (shared by every engine)."""
    return [
        Rule("filter", "FORWARD", ("-j", FORWARD), insert=True),
        Rule("filter", FORWARD, ("-j", ISOLATION_1), insert=True),
        Rule("nat", "PREROUTING", ("-m", "addrtype", "--dst-type", "LOCAL", "-j", PORTS), insert=True),
        Rule(
            "nat",
            "OUTPUT",
            ("!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", PORTS),
            insert=True,
        ),  # fmt: skip
        Rule("nat", "POSTROUTING", ("-j", POSTROUTING), insert=True),
    ]


def bridge_rules(tag: str, owner: str, bridge: str, subnet: str, *, internal: bool) -> list[Rule]:
    """Rules for one bridge network (Docker's docker0 rules, translated to our chains)."""
    c = _comment(tag, owner)
    rules = [
        # Isolation: traffic leaving this bridge for another bridge of ours is dropped in stage 2.
        Rule("filter", ISOLATION_1, ("-i", bridge, "!", "-o", bridge, *c, "-j", ISOLATION_2)),
        Rule("filter", ISOLATION_2, ("-o", bridge, *c, "-j", "DROP")),
        Rule("filter", FORWARD, ("-i", bridge, "-o", bridge, *c, "-j", "ACCEPT")),
    ]
    if internal:
        rules += [
            Rule("filter", ISOLATION_1, ("-i", bridge, "!", "-d", subnet, *c, "-j", "DROP"), insert=True),
            Rule("filter", ISOLATION_1, ("-o", bridge, "!", "-s", subnet, *c, "-j", "DROP"), insert=True),
        ]
        return rules
    rules += [
        Rule(
            "filter", FORWARD, ("-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", *c, "-j", "ACCEPT")
        ),  # fmt: skip
        Rule("filter", FORWARD, ("-o", bridge, *c, "-j", PORTS)),
        Rule("filter", FORWARD, ("-i", bridge, "!", "-o", bridge, *c, "-j", "ACCEPT")),
        # Published ports are DNATed only for traffic from outside the bridge; from inside, the proxy serves.
        Rule("nat", PORTS, ("-i", bridge, *c, "-j", "RETURN"), insert=True),
        Rule("nat", POSTROUTING, ("-s", subnet, "!", "-o", bridge, *c, "-j", "MASQUERADE")),
    ]
    return rules


def port_rules(
    tag: str, owner: str, bridge: str, *, proto: str, host_ip: str, host_port: int, container_ip: str,
    container_port: int,
) -> list[Rule]:  # fmt: skip
    """DNAT + FORWARD accept + hairpin masquerade for one published port (IPv4 host addresses only)."""
    c = _comment(tag, owner)
    dest = ("-d", host_ip) if host_ip and host_ip not in ("0.0.0.0", "::") else ()
    return [
        Rule(
            "nat",
            PORTS,
            (
                *dest,
                "!",
                "-i",
                bridge,
                "-p",
                proto,
                "-m",
                proto,
                "--dport",
                str(host_port),
                *c,
                "-j",
                "DNAT",
                "--to-destination",
                f"{container_ip}:{container_port}",
            ),
        ),  # fmt: skip
        Rule(
            "filter",
            PORTS,
            (
                "-d",
                f"{container_ip}/32",
                "!",
                "-i",
                bridge,
                "-o",
                bridge,
                "-p",
                proto,
                "-m",
                proto,
                "--dport",
                str(container_port),
                *c,
                "-j",
                "ACCEPT",
            ),
        ),  # fmt: skip
        Rule(
            "nat",
            POSTROUTING,
            (
                "-s",
                f"{container_ip}/32",
                "-d",
                f"{container_ip}/32",
                "-p",
                proto,
                "-m",
                proto,
                "--dport",
                str(container_port),
                *c,
                "-j",
                "MASQUERADE",
            ),
        ),  # fmt: skip
    ]


Runner = Callable[[Sequence[str]], "tuple[int, str]"]


def run_iptables(args: Sequence[str]) -> tuple[int, str]:
    """Run `iptables -w …`; (exit status, stdout+stderr). `-w` waits for the xtables lock held by others."""
    try:
        done = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise Unavailable("iptables: not installed", hint="apt-get install iptables") from err
    return done.returncode, done.stdout + done.stderr


class Firewall:
    """Applies and removes rule lists idempotently. `run` is injectable so unit tests record the commands."""

    def __init__(self, *, run: Runner = run_iptables, lock_path: Path | None = None) -> None:
        self._run = run
        self._lock_path = lock_path

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise chain set-up and tear-down between engines sharing the host's tables."""
        if self._lock_path is None:
            yield
            return
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _must(self, args: Sequence[str]) -> str:
        rc, out = self._run(args)
        if rc != 0:
            raise InternalError(f"iptables {shlex.join(args)}: {out.strip().lower() or f'exit status {rc}'}")
        return out

    def exists(self, rule: Rule) -> bool:
        return self._run(rule.command("-C"))[0] == 0

    def ensure_chains(self) -> None:
        with self.locked():
            for table, chain in CHAINS:
                if self._run(["-t", table, "-n", "-L", chain])[0] != 0:
                    self._must(["-t", table, "-N", chain])
            self.add(jump_rules())

    def add(self, rules: Iterable[Rule]) -> None:
        for rule in rules:
            if not self.exists(rule):
                self._must(rule.command("-I" if rule.insert else "-A"))

    def remove(self, rules: Iterable[Rule]) -> None:
        """Delete each rule (every copy of it); a rule already gone is fine."""
        for rule in rules:
            while self.exists(rule):
                self._must(rule.command("-D"))

    def chain_rules(self, table: str, chain: str) -> list[list[str]]:
        """`iptables -S chain` lines as argument lists (the `-A chain` prefix included); [] if no chain."""
        rc, out = self._run(["-t", table, "-S", chain])
        if rc != 0:
            return []
        return [shlex.split(line) for line in out.splitlines() if line.startswith("-A ")]

    def sweep(self, tag: str, keep: Callable[[str], bool]) -> int:
        """Delete rules of our chains tagged `dockyard:<tag>:<owner>` whose owner `keep` rejects."""
        removed = 0
        for table, chain in CHAINS:
            for args in self.chain_rules(table, chain):
                owner = _owner(args, tag)
                if owner is not None and not keep(owner):
                    self._must(["-t", table, "-D", *args[1:]])
                    removed += 1
        return removed

    def remove_chains_if_idle(self) -> bool:
        """Drop our chains and jumps when no engine has a rule left in them; True if they are gone."""
        with self.locked():
            fixed = {(r.table, r.chain, r.args) for r in jump_rules()}
            for table, chain in CHAINS:
                for args in self.chain_rules(table, chain):
                    if (table, chain, tuple(args[2:])) not in fixed:
                        return False
            self.remove(jump_rules())
            for table, chain in CHAINS:
                if self._run(["-t", table, "-n", "-L", chain])[0] == 0:
                    self._must(["-t", table, "-F", chain])
                    self._must(["-t", table, "-X", chain])
            return True


def _owner(args: Sequence[str], tag: str) -> str | None:
    prefix = f"dockyard:{tag}:"
    for i, word in enumerate(args[:-1]):
        if word == "--comment" and args[i + 1].startswith(prefix):
            return args[i + 1][len(prefix) :]
    return None
