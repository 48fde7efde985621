"""The smallest configuration change that lets a dropped flow through, checked by
tracing again with the change applied (up to a few changes in a row: a request fixed may
then show its reply dropped somewhere else).

A function's flow is fixed for every subnet it sends from, and checked from each: rules
name its subnets' CIDRs or its security group, never a Hyperplane ENI's own address
(Lambda replaces those ENIs), and a missing NAT route goes to the NAT gateway of the
subnet's own AZ where there is one. The answer is one of three: changes verified by
tracing again, a suggestion netemu cannot verify, or that no change was found."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import numpy as np

from netemu.addr import is_private
from netemu.apps.fix_format import Change, FixText
from netemu.apps.trace_core import run_trace
from netemu.dataplane.graph import Graph
from netemu.dataplane.reasons import EXPLAIN
from netemu.dataplane.settings import Settings
from netemu.model.resources import (
    IGW,
    LAMBDA,
    NAT,
    PCX,
    RESOURCE_KINDS,
    NaclEntry,
    Route,
    SgRule,
)
from netemu.model.topology import Topology
from netemu.packet import ICMP, TCP, UDP

MAX_FIXES = 4


def with_resource(topo: Topology, table: str, item) -> Topology:
    """A copy of the topology with one resource replaced (or added)."""
    resources = {name: dict(getattr(topo, name)) for name in RESOURCE_KINDS}
    resources[table][item.id] = item
    return Topology.build(source=topo.source, notes=topo.notes, unmodelled=topo.unmodelled,
                          **{k: list(v.values()) for k, v in resources.items()})


def find_fix(topo: Topology, results: list, settings: Settings | None = None
             ) -> tuple[list[str], bool, str | None]:
    """(changes, verified, note) for flows traced from one or more places (a function's
    subnets): changes that let every one through, verified by tracing again; or
    (suggestion, False, None) where what would help is no change netemu can make and
    trace; or ([], False, why) when nothing was found."""
    def again(r):
        return run_trace(topo, r.source, r.destination, r.proto, r.port, r.sport, settings)

    fixes: list[str] = []
    first = None
    checked = True              # every result traced on the current topology
    for _ in range(MAX_FIXES * len(results) + 1):
        result = next((r for r in results if not r.ok), None)
        if result is None and checked:
            return fixes, True, None
        if result is None:      # the failing ones pass now: check every one again
            results, checked = [again(r) for r in results], True
            continue
        leg = result.failed
        first = first or leg
        change = _change_for(topo, result, leg)
        if change is None:
            advice = _advice(topo, result, leg)
            if advice is not None:
                return fixes + [advice], False, None
            return [], False, _none_found(leg, first if fixes else None)
        text, topo = change
        fixes.append(text)
        results, checked = [r if r.ok else again(r) for r in results], False
    return [], False, f"no configuration change found: {len(fixes)} changes in a row " \
        "still leave it dropped"


def _drop_step(leg):
    return next(s for s in reversed(leg.steps) if s.decision == "drop")


def _change_for(topo: Topology, result, leg):
    step = _drop_step(leg)
    reason = leg.reason
    if reason in ("ENI_SG_RULES_MISMATCH", "SG_HAS_NO_RULES"):
        return _sg_fix(topo, result, leg, step)
    if reason == "SUBNET_ACL_RESTRICTION":
        return _acl_fix(topo, leg, step)
    if reason == "LAMBDA_INBOUND_NOT_SUPPORTED":
        return None
    if reason in ("NO_ROUTE_TO_DESTINATION", "BAD_STATE_ROUTE"):
        return _route_fix(topo, result, leg, step)
    if reason == "VPCE_POLICY_RESTRICTION":
        ep = topo.endpoints[step.resource]
        return (FixText(f"allow this traffic in the policy of endpoint {ep.id}",
                        Change("allow-endpoint-policy", ep.id)),
                with_resource(topo, "endpoints", replace(ep, policy_allows=True)))
    if reason == "ENI_SOURCE_DEST_CHECK_RESTRICTION" and topo.enis[step.resource].kind in (
            "interface", "other"):           # an instance's: make it a NAT instance
        eni = topo.enis[step.resource]
        return (FixText(f"turn off source/destination check on {eni.id} (it then forwards "
                        "as a NAT instance)", Change("source-dest-check-off", eni.id)),
                with_resource(topo, "enis", replace(eni, source_dest_check=False)))
    if reason == "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS":
        src = ipaddress.IPv4Address(leg.packet[0])
        eni = next((e for e in topo.enis.values() if e.private_ip == src), None)
        if eni is None or eni.kind == LAMBDA or eni.kind == "nat_gateway":
            return None
        eip = _free_public_ip(topo)
        return (FixText(f"associate an Elastic IP ({eip}) with {eni.id}",
                        Change("associate-eip", eni.id, eip)),
                with_resource(topo, "enis", replace(eni, public_ip=eip)))
    return None


def _proto_words(proto: int, dport: int, sport: int) -> tuple[str, int, int]:
    if proto in (TCP, UDP):
        return f"{'tcp' if proto == TCP else 'udp'} {dport}", dport, dport
    if proto == ICMP:
        return f"icmp type {sport}", sport, -1
    return str(proto), -1, -1


def _sg_fix(topo: Topology, result, leg, step):
    eni = topo.enis[step.at]
    src, sport, dst, dport, proto = leg.packet
    egress = step.side == "egress"
    peer_ip = ipaddress.IPv4Address(dst if egress else src)
    vpc = topo.subnets[eni.subnet].vpc
    peer_eni = topo.eni_by_ip.get((vpc, peer_ip))
    hyperplane = _hyperplane_subnet(topo, peer_ip)
    if peer_eni is not None and peer_eni.security_groups:
        peer_kind, peer = "sg", peer_eni.security_groups[0]
    elif hyperplane is not None:           # a Lambda ENI across a peering: its subnet
        peer_kind, peer = "cidr", str(hyperplane.cidr)
    else:
        peer_kind, peer = "cidr", f"{peer_ip}/32"
    words, lo, hi = _proto_words(proto, dport, sport)
    rule = SgRule(egress, proto, lo, hi, peer_kind, peer)
    group = topo.security_groups[eni.security_groups[0]]
    if egress:
        group = replace(group, egress=group.egress + (rule,))
    else:
        group = replace(group, ingress=group.ingress + (rule,))
    return (FixText(f"add {'egress' if egress else 'ingress'} rule \"{rule.text}\" to "
                    f"security group {group.id}", Change("add-sg-rule", group.id, rule)),
            with_resource(topo, "security_groups", group))


def _acl_fix(topo: Topology, leg, step):
    acl = topo.network_acls[step.resource]
    egress = step.side == "egress"
    src, sport, dst, dport, proto = leg.packet
    # the entry that denied it, as the dataplane's own ACL element matches it
    element = Graph(topo).element(("acl-out" if egress else "acl-in", step.at))
    cols = [np.array([v]) for v in (int(ipaddress.IPv4Address(src)),
                                    int(ipaddress.IPv4Address(dst)), sport, dport, proto)]
    row = int(element.matcher.match(*cols)[0])
    deny = element.acl.entries[row].number if row >= 0 else 32767
    used = {e.number for e in acl.entries if e.egress == egress}
    below = [n for n in used if n < deny]
    number = (max(below) // 10 + 1) * 10 if below else min(100, deny - 1)
    if number >= deny or number in used:
        free = [n for n in range(deny - 1, 0, -1) if n not in used]
        if not free:
            return None
        number = free[0]
    peer = ipaddress.IPv4Address(dst if egress else src)
    hyperplane = _hyperplane_subnet(topo, peer)
    cidr = (hyperplane.cidr if hyperplane is not None
            else ipaddress.IPv4Network(f"{peer}/32") if is_private(int(peer))
            else ipaddress.IPv4Network("0.0.0.0/0"))
    lo = hi = dport
    if leg is not None and _is_reply_leg(leg) and proto in (TCP, UDP):
        lo, hi = 1024, 65535          # N6: replies come back to ephemeral ports
    entry = NaclEntry(number, egress, True, proto, cidr,
                      lo if proto in (TCP, UDP) else 0, hi if proto in (TCP, UDP) else 65535,
                      sport if proto == ICMP else -1, dport if proto == ICMP else -1)
    entries = tuple(sorted(acl.entries + (entry,), key=lambda e: (e.egress, e.number)))
    return (FixText(f"add {'outbound' if egress else 'inbound'} rule \"{entry.text}\" to "
                    f"network ACL {acl.id}", Change("add-acl-entry", acl.id, entry)),
            with_resource(topo, "network_acls", replace(acl, entries=entries)))


def _is_reply_leg(leg) -> bool:
    return bool(leg.steps) and leg.steps[0].direction == "reply"


def _hyperplane_subnet(topo: Topology, ip: ipaddress.IPv4Address):
    """The subnet of the Hyperplane ENI owning `ip`, if one does: rules for a function's
    traffic name the subnet, since Lambda replaces the ENI (and its address) at will."""
    for eni in topo.enis.values():
        if eni.kind == LAMBDA and eni.private_ip == ip:
            return topo.subnets[eni.subnet]
    return None


def _route_fix(topo: Topology, result, leg, step):
    rt = topo.route_tables[step.resource]
    dst = ipaddress.IPv4Address(leg.packet[2])
    target = None
    for pcx in topo.peerings.values():
        other = (pcx.accepter_vpc if pcx.requester_vpc == rt.vpc else
                 pcx.requester_vpc if pcx.accepter_vpc == rt.vpc else None)
        if other and any(dst in c for c in topo.vpcs[other].cidrs):
            net = next(c for c in topo.vpcs[other].cidrs if dst in c)
            target = (net, pcx.id, PCX)
    if target is None and not is_private(dst):
        nat = _nat_for(topo, rt, result.source)
        vpc = topo.vpcs[rt.vpc]
        if nat is not None:
            target = (ipaddress.IPv4Network("0.0.0.0/0"), nat.id, NAT)
        elif vpc.internet_gateway:
            target = (ipaddress.IPv4Network("0.0.0.0/0"), vpc.internet_gateway,
                      "internet-gateway")
    if target is None:
        return None
    net, tid, kind = target
    routes = tuple(r for r in rt.routes if r.destination != net) + (Route(net, tid, kind),)
    return (FixText(f"add route {net} -> {tid} to route table {rt.id}",
                    Change("add-route", rt.id, Route(net, tid, kind))),
            with_resource(topo, "route_tables", replace(rt, routes=routes)))


def _nat_for(topo: Topology, rt, source):
    """The NAT gateway a route table's subnets should use: one in a public subnet (G2)
    of their own AZ where there is one (G5: a NAT gateway is zonal), else another."""
    users = [s for s in sorted(topo.subnets.values(), key=lambda s: s.id)
             if s.route_table == rt.id]
    mine = next((s for s in users if s.id == source.subnet), None)
    az = (mine or (users[0] if users else None))
    az = az.az if az is not None else source.az

    def public(nat) -> bool:
        routes = topo.route_tables[topo.subnets[nat.subnet].route_table].routes
        return any(r.target_kind == IGW and r.destination is not None
                   and r.destination.prefixlen == 0 for r in routes)

    nats = [n for n in topo.nat_gateways.values()
            if topo.subnets[n.subnet].vpc == rt.vpc
            and topo.subnets[n.subnet].route_table != rt.id]
    nats.sort(key=lambda n: (not public(n), topo.subnets[n.subnet].az != az, n.id))
    return nats[0] if nats else None


def _free_public_ip(topo: Topology) -> ipaddress.IPv4Address:
    used = {e.public_ip for e in topo.enis.values()} | {
        n.elastic_ip for n in topo.nat_gateways.values()}
    ip = ipaddress.IPv4Address("198.51.100.10")
    while ip in used:
        ip += 1
    return ip


def _advice(topo: Topology, result, leg) -> str | None:
    """What would help where no change netemu can make and trace is enough."""
    src = result.source
    fn = topo.functions.get(src.function or "")
    reason = leg.reason
    if reason == "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS" and fn is not None:
        return (f"a Hyperplane ENI never has a public IP (L4): put function {fn.id} in "
                "private subnets whose route table sends 0.0.0.0/0 to a NAT gateway in a "
                "public subnet, or use VPC endpoints for AWS services")
    if reason == "LAMBDA_NOT_IN_VPC" and fn is not None:
        return (f"attach function {fn.id} to subnets and a security group of the VPC that "
                f"holds {result.destination.ip} (L1, L2)")
    if reason == "LAMBDA_ENI_MISSING" and fn is not None:
        return FixText(f"give function {fn.id}'s execution role ec2:CreateNetworkInterface, "
                       "ec2:DescribeNetworkInterfaces and ec2:DeleteNetworkInterface (the "
                       "managed policy AWSLambdaVPCAccessExecutionRole) so Lambda can create "
                       "its Hyperplane ENIs (L12)", Change("attach-vpc-access-policy", fn.id))
    return None


def _none_found(leg, first) -> str:
    """Why no configuration change lets it through (`first`: the drop changes got past)."""
    if leg.reason == "LAMBDA_INBOUND_NOT_SUPPORTED":
        return ("no configuration opens a connection into a function (L5): let the function "
                "connect out, or invoke it through its API")
    if leg.reason == "UNKNOWN_DESTINATION":
        return (f"no configuration change helps: nothing owns {leg.packet[2]}; check the "
                "address or the name it came from")
    why = f"{leg.reason}: {EXPLAIN.get(leg.reason, '')}"
    if first is None:
        return f"no configuration change lets it through at {leg.dropped_at} ({why})"
    return (f"no configuration change lets it through: past {first.dropped_at}, it would "
            f"still be dropped at {leg.dropped_at} ({why})")
