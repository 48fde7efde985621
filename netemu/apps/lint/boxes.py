"""Exact packet sets as unions of boxes: one closed interval per field (peer address,
protocol, sport, dport), with subtraction. Rules compile to boxes the way the dataplane
compiles them to interval tables (compile_rules), so lint and the dataplane agree on what
a rule matches. Security-group references are opaque points above the IPv4 space: what
a referenced group covers depends on its members, which change; two references to the
same group cover the same addresses whatever they are."""

from __future__ import annotations

import ipaddress

from netemu.addr import net_range
from netemu.dataplane.compile_rules import _proto_ports
from netemu.model.resources import NaclEntry, SgRule
from netemu.packet import ANY, ICMP
from netemu.rules import FIELD_MAX

Box = tuple[tuple[int, int], ...]          # (peer, proto, sport, dport)
FIELDS = ("peer", "proto", "sport", "dport")
FULL = ((0, FIELD_MAX["src"]), (0, FIELD_MAX["proto"]), (0, FIELD_MAX["sport"]),
        (0, FIELD_MAX["dport"]))


def intersect(a: Box, b: Box) -> Box | None:
    out = []
    for (al, ah), (bl, bh) in zip(a, b, strict=True):
        lo, hi = max(al, bl), min(ah, bh)
        if lo > hi:
            return None
        out.append((lo, hi))
    return tuple(out)


def subtract(a: Box, b: Box) -> list[Box]:
    """a minus b as disjoint boxes (at most two per field)."""
    if intersect(a, b) is None:
        return [a]
    out, cur = [], list(a)
    for d, ((al, ah), (bl, bh)) in enumerate(zip(a, b, strict=True)):
        if al < bl:
            out.append(tuple(cur[:d] + [(al, bl - 1)] + cur[d + 1:]))
        if ah > bh:
            out.append(tuple(cur[:d] + [(bh + 1, ah)] + cur[d + 1:]))
        cur[d] = (max(al, bl), min(ah, bh))
    return out


def subtract_all(boxes: list[Box], b: Box) -> list[Box]:
    return [piece for a in boxes for piece in subtract(a, b)]


def minus(boxes: list[Box], others: list[Box]) -> list[Box]:
    for o in others:
        if not boxes:
            break
        boxes = subtract_all(boxes, o)
    return boxes


def _fields(protocol: int, lo: int, hi: int, peer: tuple[int, int]) -> Box:
    cols = _proto_ports(protocol, lo, hi, True)
    box = dict(zip(FIELDS, FULL, strict=True))
    box["peer"] = peer
    if protocol != ANY:
        box["proto"] = (protocol, protocol)
    for f in ("sport", "dport"):
        if f in cols:
            box[f] = cols[f]
    return tuple(box[f] for f in FIELDS)


def acl_box(e: NaclEntry) -> Box:
    lo, hi = (e.icmp_type, e.icmp_code) if e.protocol == ICMP else (e.port_from, e.port_to)
    return _fields(e.protocol, lo, hi, net_range(e.cidr))


def sg_boxes(rule: SgRule, prefix_lists: dict, sg_points: dict[str, int]) -> list[Box]:
    """The rule's boxes; [] where netemu does not model the peer (IPv6)."""
    if rule.peer_kind == "sg":
        point = sg_points.setdefault(rule.peer, FIELD_MAX["src"] + 1 + len(sg_points))
        peers = [(point, point)]
    elif rule.peer_kind == "prefix-list":
        pl = prefix_lists.get(rule.peer)
        peers = [net_range(c) for c in pl.cidrs] if pl is not None else []
    else:
        net = ipaddress.ip_network(rule.peer, strict=False)
        peers = [net_range(net)] if net.version == 4 else []
    return [_fields(rule.protocol, rule.from_port, rule.to_port, p) for p in peers]


def acl_allowed(entries: tuple[NaclEntry, ...], box: Box) -> list[Box]:
    """N3: the part of `box` the entries (in evaluation order) allow, first match."""
    remaining, allowed = [box], []
    for e in entries:
        eb = acl_box(e)
        if e.allow:
            allowed += [x for x in (intersect(r, eb) for r in remaining) if x is not None]
        remaining = subtract_all(remaining, eb)
        if not remaining:
            break
    return allowed


def ranges(boxes: list[Box], field: str) -> list[tuple[int, int]]:
    """The merged intervals of one field over the boxes."""
    d = FIELDS.index(field)
    out: list[list[int]] = []
    for lo, hi in sorted(b[d] for b in boxes):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]
