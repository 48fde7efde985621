"""Security-group rules and network ACL entries as RuleTables.

The peer is matched against the packet's source on the way in and its destination on the
way out. A referenced group becomes one row per private IP of the ENIs that carry it (S2);
a prefix list one row per CIDR. TCP/UDP ranges apply to the destination port; ICMP type
and code sit in the sport/dport columns (see packet.py)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netemu.addr import net_range
from netemu.model.resources import NaclEntry, SgRule
from netemu.model.topology import Topology
from netemu.packet import ANY, ICMP, TCP, UDP
from netemu.rules import FIELD_MAX, RuleTable


def _proto_ports(protocol: int, lo: int, hi: int, icmp: bool) -> dict[str, tuple[int, int]]:
    """Interval columns for protocol and ports. S2: any protocol other than TCP, UDP and
    ICMP covers all ports whatever range it states."""
    row: dict[str, tuple[int, int]] = {}
    if protocol != ANY:
        row["proto"] = (protocol, protocol)
    if protocol in (TCP, UDP):
        row["dport"] = (max(lo, 0), hi if hi >= 0 else FIELD_MAX["dport"])
    elif protocol == ICMP and icmp:
        if lo != -1:
            row["sport"] = (lo, lo)
        if hi != -1:
            row["dport"] = (hi, hi)
    return row


@dataclass(frozen=True)
class CompiledSg:
    """The rules of one set of security groups in one direction."""
    table: RuleTable
    rules: tuple[tuple[str, int, SgRule], ...]    # (group id, position, rule) per rule index

    def describe(self, rule: int) -> tuple[str, str]:
        group, pos, r = self.rules[rule]
        return group, f"{group} {'egress' if r.egress else 'ingress'} rule {pos + 1}: {r.text}"


def compile_sg(topo: Topology, groups: tuple[str, ...], egress: bool) -> CompiledSg:
    rows, owners, rules = [], [], []
    peer_field = "dst" if egress else "src"
    for group in groups:
        sg = topo.security_groups[group]
        for pos, rule in enumerate(sg.egress if egress else sg.ingress):
            index = len(rules)
            rules.append((group, pos, rule))
            base = _proto_ports(rule.protocol, rule.from_port, rule.to_port, True)
            for lo, hi in _peer_ranges(topo, rule):
                rows.append({**base, peer_field: (lo, hi)})
                owners.append(index)
    return CompiledSg(RuleTable.from_rows(rows, owners), tuple(rules))


def _peer_ranges(topo: Topology, rule: SgRule) -> list[tuple[int, int]]:
    if rule.peer_kind == "sg":
        return [(int(ip), int(ip)) for ip in topo.sg_members.get(rule.peer, [])]
    if rule.peer_kind == "prefix-list":
        return [net_range(c) for c in topo.prefix_lists[rule.peer].cidrs]
    net = ipaddress.ip_network(rule.peer)
    return [net_range(net)] if net.version == 4 else []


@dataclass(frozen=True)
class CompiledAcl:
    table: RuleTable
    entries: tuple[NaclEntry, ...]     # in evaluation order, rule index -> entry
    allow: tuple[bool, ...]


def compile_acl(entries: tuple[NaclEntry, ...], egress: bool) -> CompiledAcl:
    """N3: ascending rule number, first match decides; `*` last."""
    ordered = tuple(sorted((e for e in entries if e.egress == egress), key=lambda e: e.number))
    peer_field = "dst" if egress else "src"
    rows = []
    for e in ordered:
        lo, hi = (e.icmp_type, e.icmp_code) if e.protocol == ICMP else (e.port_from, e.port_to)
        rows.append({**_proto_ports(e.protocol, lo, hi, True), peer_field: net_range(e.cidr)})
    return CompiledAcl(RuleTable.from_rows(rows), ordered, tuple(e.allow for e in ordered))
