"""N6: a network ACL on the way back of a path a function uses must admit the replies on
every port Lambda's Hyperplane NAT and NAT gateways choose, 1024-65535, not only the port
`trace` happens to use. Each reply is walked through the dataplane once (the lint batch,
context.py), its packet followed through every translation, and at each ACL it crosses
the whole ephemeral range is checked exactly against the rules (first match)."""

from __future__ import annotations

import ipaddress

from netemu.addr import is_private
from netemu.apps.fix_format import Change, FixText
from netemu.apps.lint.boxes import FULL, acl_allowed, acl_box, intersect, minus, ranges
from netemu.apps.lint.lambda_checks import _settle, _unfixed
from netemu.apps.lint.registry import Finding, check
from netemu.model.resources import LAMBDA, NaclEntry
from netemu.packet import TCP, UDP

EPHEMERAL = (1024, 65535)      # N6: replies to Lambda and to NAT gateways


def reply_acl_crossings(ctx, fn, p):
    """(acl id, egress, peer address) for each ACL the path's reply crosses, from every
    subnet of the function; nothing for a request that does not arrive."""
    return ctx.crossings(p)


@check("NETEMU-N6", "error", "Network ACL missing the ephemeral reply range of a path a "
       "function uses", "N6", "N2", "L3", "G1")
def ephemeral_replies(ctx):
    topo = ctx.topo
    gaps: dict[tuple, dict] = {}         # (acl, egress) -> {(peer, proto): (ports, paths)}
    for fn in ctx.vpc_functions():
        for p in ctx.paths(fn):
            if p.proto not in (TCP, UDP):
                continue
            for acl_id, egress, peer in reply_acl_crossings(ctx, fn, p):
                ip = int(ipaddress.IPv4Address(peer))
                box = ((ip, ip), (p.proto, p.proto), FULL[2], EPHEMERAL)
                entries = tuple(sorted(topo.network_acls[acl_id].direction(egress),
                                       key=lambda e: e.number))
                missing = minus([box], acl_allowed(entries, box))
                if missing:
                    slot = gaps.setdefault((acl_id, egress), {}).setdefault(
                        (peer, p.proto), [ranges(missing, "dport"), []])
                    if p not in slot[1]:
                        slot[1].append(p)
    for (acl_id, egress), peers in sorted(gaps.items()):
        side = "outbound" if egress else "inbound"
        paths = list(dict.fromkeys(p for _, ps in peers.values() for p in ps))
        holes = "; ".join(
            f"{'to' if egress else 'from'} {peer} {'tcp' if proto == TCP else 'udp'} ports "
            + ", ".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in ports)
            for (peer, proto), (ports, _) in sorted(peers.items()))
        f = Finding(
            "NETEMU-N6", "error",
            f"network ACL {ctx.show(acl_id)} does not admit {side} replies {holes}, used by "
            f"{', '.join(p.text for p in paths)}",
            [acl_id, *sorted({p.function for p in paths})],
            "N6: Lambda's Hyperplane NAT and NAT gateways take source ports in 1024-65535, "
            "so replies come back to any of them; network ACLs are stateless (N2) and need "
            "a rule for the whole range, not only the Linux 32768-61000.",
            line=ctx.line(acl_id, "network_acls"), where=side)
        fixes = _ephemeral_fix(ctx, acl_id, egress, sorted(peers))
        yield _settle(ctx, f, ephemeral_replies, fixes, paths) if ctx.settings.verify and \
            fixes else _unfixed(f, fixes)


def _ephemeral_fix(ctx, acl_id: str, egress: bool, peers) -> list:
    acl = ctx.topo.network_acls[acl_id]
    entries = sorted(acl.direction(egress), key=lambda e: e.number)
    used = {e.number for e in entries}
    fixes = []
    for peer, proto in peers:
        cidr = _peer_cidr(ctx, peer)
        ip = int(ipaddress.IPv4Address(peer))
        box = ((ip, ip), (proto, proto), FULL[2], EPHEMERAL)
        missing = minus([box], acl_allowed(tuple(entries), box))
        # the first rule the missing replies meet: a deny (the `*` one where none other)
        first = next((e.number for e in entries
                      if any(intersect(m, acl_box(e)) for m in missing)), 32767)
        number = next((n for n in range(first - 1, 0, -1) if n not in used), None)
        if number is None:
            continue
        below = [n for n in used if n < first]
        tidy = (max(below) // 10 + 1) * 10 if below else min(100, first - 1)
        if tidy < first and tidy not in used:
            number = tidy
        used.add(number)
        entry = NaclEntry(number, egress, True, proto, cidr, *EPHEMERAL)
        fixes.append(FixText(f"add {'outbound' if egress else 'inbound'} rule "
                             f"\"{entry.text}\" to network ACL {ctx.show(acl_id)}",
                             Change("add-acl-entry", acl_id, entry)))
    return fixes


def _peer_cidr(ctx, peer: str) -> ipaddress.IPv4Network:
    """A Hyperplane ENI's subnet (Lambda replaces the ENI and its address), a private
    address as itself, anything public as 0.0.0.0/0 (NAT ports answer any server)."""
    ip = ipaddress.IPv4Address(peer)
    for eni in ctx.topo.enis.values():
        if eni.kind == LAMBDA and eni.private_ip == ip:
            return ctx.topo.subnets[eni.subnet].cidr
    if is_private(int(ip)):
        return ipaddress.IPv4Network(f"{ip}/32")
    return ipaddress.IPv4Network("0.0.0.0/0")
