"""iptables rule generation (pure argument lists) and the Firewall's idempotence against a fake iptables."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import pytest

from dockyard.errors import InternalError
from dockyard.network import firewall as fw

COMMENT = ["-m", "comment", "--comment", "dockyard:t1:net-1"]


def test_bridge_rules_for_a_normal_network() -> None:
    rules = fw.bridge_rules("t1", "net-1", "br0", "10.5.0.0/24", internal=False)
    got = [(r.table, r.chain, list(r.args), r.insert) for r in rules]
    assert got == [
        ("filter", "DOCKYARD-ISOLATION-1", ["-i", "br0", "!", "-o", "br0", *COMMENT, "-j", "DOCKYARD-ISOLATION-2"],
         False),
        ("filter", "DOCKYARD-ISOLATION-2", ["-o", "br0", *COMMENT, "-j", "DROP"], False),
        ("filter", "DOCKYARD-FORWARD", ["-i", "br0", "-o", "br0", *COMMENT, "-j", "ACCEPT"], False),
        ("filter", "DOCKYARD-FORWARD", ["-o", "br0", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
                                        *COMMENT, "-j", "ACCEPT"], False),
        ("filter", "DOCKYARD-FORWARD", ["-o", "br0", *COMMENT, "-j", "DOCKYARD"], False),
        ("filter", "DOCKYARD-FORWARD", ["-i", "br0", "!", "-o", "br0", *COMMENT, "-j", "ACCEPT"], False),
        ("nat", "DOCKYARD", ["-i", "br0", *COMMENT, "-j", "RETURN"], True),
        ("nat", "DOCKYARD-POSTROUTING", ["-s", "10.5.0.0/24", "!", "-o", "br0", *COMMENT, "-j", "MASQUERADE"],
         False),
    ]  # fmt: skip


def test_internal_network_has_no_masquerade_and_drops_outside_traffic() -> None:
    rules = fw.bridge_rules("t1", "net-1", "br0", "10.5.0.0/24", internal=True)
    assert not any("MASQUERADE" in r.args for r in rules)
    assert not any(r.table == "nat" for r in rules)
    drops = [list(r.args) for r in rules if r.chain == "DOCKYARD-ISOLATION-1" and r.args[-1] == "DROP"]
    assert drops == [["-i", "br0", "!", "-d", "10.5.0.0/24", *COMMENT, "-j", "DROP"],
                     ["-o", "br0", "!", "-s", "10.5.0.0/24", *COMMENT, "-j", "DROP"]]  # fmt: skip


def test_port_rules() -> None:
    c = ["-m", "comment", "--comment", "dockyard:t1:c.n"]
    rules = fw.port_rules("t1", "c.n", "br0", proto="udp", host_ip="", host_port=5353, container_ip="10.5.0.2",
                          container_port=53)  # fmt: skip
    assert [r.command("-A") for r in rules] == [
        ["-t", "nat", "-A", "DOCKYARD", "!", "-i", "br0", "-p", "udp", "-m", "udp", "--dport", "5353", *c,
         "-j", "DNAT", "--to-destination", "10.5.0.2:53"],
        ["-t", "filter", "-A", "DOCKYARD", "-d", "10.5.0.2/32", "!", "-i", "br0", "-o", "br0", "-p", "udp",
         "-m", "udp", "--dport", "53", *c, "-j", "ACCEPT"],
        ["-t", "nat", "-A", "DOCKYARD-POSTROUTING", "-s", "10.5.0.2/32", "-d", "10.5.0.2/32", "-p", "udp",
         "-m", "udp", "--dport", "53", *c, "-j", "MASQUERADE"],
    ]  # fmt: skip
    with_ip = fw.port_rules("t1", "c.n", "br0", proto="tcp", host_ip="127.0.0.1", host_port=80,
                            container_ip="10.5.0.2", container_port=80)  # fmt: skip
    assert with_ip[0].args[:2] == ("-d", "127.0.0.1")


def test_jumps_skip_loopback_in_output() -> None:
    jumps = {(r.table, r.chain): list(r.args) for r in fw.jump_rules()}
    assert jumps[("nat", "OUTPUT")] == ["!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL",
                                        "-j", "DOCKYARD"]  # fmt: skip
    assert jumps[("filter", "FORWARD")] == ["-j", "DOCKYARD-FORWARD"]
    assert all(r.insert for r in fw.jump_rules())


class FakeIptables:
    """Enough of iptables -N/-X/-F/-L/-S/-A/-I/-D/-C over in-memory chains to test the Firewall's logic."""

    def __init__(self) -> None:
        self.chains: dict[tuple[str, str], list[tuple[str, ...]]] = {
            (t, c): [] for t, cs in {"filter": ["FORWARD"], "nat": ["PREROUTING", "OUTPUT", "POSTROUTING"]}.items()
            for c in cs
        }  # fmt: skip
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> tuple[int, str]:
        self.calls.append(list(args))
        assert args[0] == "-t"
        table, op, chain, rest = args[1], args[2], args[3], tuple(args[4:])
        if op == "-n":  # -n -L chain
            return (0, "") if (table, rest[-1]) in self.chains else (1, "No chain/target/match by that name.")
        key = (table, chain)
        if op == "-N":
            self.chains[key] = []
            return 0, ""
        if key not in self.chains:
            return 1, "iptables: No chain/target/match by that name."
        rules = self.chains[key]
        if op == "-S":
            return 0, f"-N {chain}\n" + "".join(f"-A {chain} {shlex.join(r)}\n" for r in rules)
        if op == "-C":
            return (0, "") if rest in rules else (1, "Bad rule")
        if op == "-A":
            rules.append(rest)
        elif op == "-I":
            rules.insert(0, rest)
        elif op == "-D":
            if rest not in rules:
                return 1, "Bad rule (does a matching rule exist in that chain?)."
            rules.remove(rest)
        elif op == "-F":
            rules.clear()
        elif op == "-X":
            del self.chains[key]
        return 0, ""

    def dump(self) -> dict[tuple[str, str], list[tuple[str, ...]]]:
        return {k: list(v) for k, v in self.chains.items()}


def test_firewall_is_idempotent_and_cleans_up() -> None:
    ipt = FakeIptables()
    before = ipt.dump()
    wall = fw.Firewall(run=ipt)
    wall.ensure_chains()
    wall.ensure_chains()
    rules = fw.bridge_rules("t1", "net-1", "br0", "10.5.0.0/24", internal=False)
    wall.add(rules)
    wall.add(rules)
    assert ipt.chains[("filter", "FORWARD")] == [("-j", "DOCKYARD-FORWARD")]
    assert len(ipt.chains[("filter", "DOCKYARD-FORWARD")]) == 5
    assert ipt.chains[("nat", "DOCKYARD")] == [("-i", "br0", *COMMENT, "-j", "RETURN")]
    assert wall.remove_chains_if_idle() is False  # a bridge still has rules
    wall.remove(rules)
    assert wall.remove_chains_if_idle() is True
    assert ipt.dump() == before


def test_sweep_removes_only_our_tag_and_rejected_owners() -> None:
    ipt = FakeIptables()
    wall = fw.Firewall(run=ipt)
    wall.ensure_chains()
    keep = fw.port_rules("t1", "alive", "br0", proto="tcp", host_ip="", host_port=1, container_ip="10.0.0.2",
                         container_port=1)  # fmt: skip
    dead = fw.port_rules("t1", "dead", "br0", proto="tcp", host_ip="", host_port=2, container_ip="10.0.0.3",
                         container_port=2)  # fmt: skip
    other = fw.port_rules("t2", "dead", "br9", proto="tcp", host_ip="", host_port=3, container_ip="10.9.0.3",
                          container_port=3)  # fmt: skip
    wall.add(keep + dead + other)
    assert wall.sweep("t1", keep=lambda owner: owner == "alive") == 3
    assert all(wall.exists(r) for r in keep + other)
    assert not any(wall.exists(r) for r in dead)


def test_failed_command_names_the_rule() -> None:
    wall = fw.Firewall(run=lambda args: (2, "iptables v1.8.9: Couldn't load target `NOPE'\n"))
    with pytest.raises(InternalError) as err:
        wall.add([fw.Rule("filter", "DOCKYARD", ("-j", "NOPE"))])
    assert str(err.value) == "iptables -t filter -A DOCKYARD -j NOPE: iptables v1.8.9: couldn't load target `nope'"
