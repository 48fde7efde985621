"""The smallest configuration change that lets a dropped flow through, checked by
tracing again with the change applied (up to a few changes in a row: a request fixed may
then show its reply dropped somewhere else)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import numpy as np

from netemu.addr import is_private
from netemu.dataplane.classify.first_match import first_match_naive
from netemu.dataplane.compile_rules import compile_acl
from netemu.dataplane.pipeline import Settings
from netemu.model.resources import ICMP, LAMBDA, NAT, PCX, TCP, UDP, NaclEntry, Route, SgRule
from netemu.model.topology import Topology

MAX_FIXES = 4
RESOURCE_TABLES = ("vpcs", "subnets", "route_tables", "network_acls", "security_groups",
                   "enis", "nat_gateways", "internet_gateways", "endpoints", "prefix_lists",
                   "peerings", "functions", "hosts")


def with_resource(topo: Topology, table: str, item) -> Topology:
    """A copy of the topology with one resource replaced (or added)."""
    resources = {name: dict(getattr(topo, name)) for name in RESOURCE_TABLES}
    resources[table][item.id] = item
    return Topology.build(source=topo.source, notes=topo.notes, unmodelled=topo.unmodelled,
                          **{k: list(v.values()) for k, v in resources.items()})


def find_fix(topo: Topology, result, settings: Settings | None = None
             ) -> tuple[list[str], bool]:
    from netemu.apps.trace import run_trace

    fixes: list[str] = []
    for _ in range(MAX_FIXES):
        leg = result.failed
        if leg is None:
            return fixes, True
        change = _change_for(topo, result, leg)
        if change is None:
            fixes.append(_advice(topo, result, leg))
            return fixes, False
        text, topo = change
        fixes.append(text)
        result = run_trace(topo, result.source, result.destination, result.proto,
                           result.port, result.sport, settings)
    return fixes, result.ok


def _drop_step(leg):
    return next(s for s in reversed(leg.steps) if s.decision == "drop")


def _change_for(topo: Topology, result, leg):
    step = _drop_step(leg)
    reason = leg.reason
    if reason in ("ENI_SG_RULES_MISMATCH", "SG_HAS_NO_RULES"):
        return _sg_fix(topo, result, leg, step)
    if reason == "SUBNET_ACL_RESTRICTION":
        return _acl_fix(topo, leg, step)
    if reason in ("NO_ROUTE_TO_DESTINATION", "BAD_STATE_ROUTE"):
        return _route_fix(topo, leg, step)
    if reason == "VPCE_POLICY_RESTRICTION":
        ep = topo.endpoints[step.resource]
        return (f"allow this traffic in the policy of endpoint {ep.id}",
                with_resource(topo, "endpoints", replace(ep, policy_allows=True)))
    if reason == "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS":
        src = ipaddress.IPv4Address(leg.packet[0])
        eni = next((e for e in topo.enis.values() if e.private_ip == src), None)
        if eni is None or eni.kind == LAMBDA or eni.kind == "nat_gateway":
            return None
        eip = _free_public_ip(topo)
        return (f"associate an Elastic IP ({eip}) with {eni.id}",
                with_resource(topo, "enis", replace(eni, public_ip=eip)))
    return None


def _proto_words(proto: int, dport: int, sport: int) -> tuple[str, int, int]:
    if proto in (TCP, UDP):
        return f"{'tcp' if proto == TCP else 'udp'} {dport}", dport, dport
    if proto == ICMP:
        return f"icmp type {sport}", sport, -1
    return str(proto), -1, -1


def _sg_fix(topo: Topology, result, leg, step):
    eni_id = step.element.split(":", 1)[1]
    eni = topo.enis[eni_id]
    src, sport, dst, dport, proto = leg.packet
    egress = step.kind == "eni-egress"
    peer_ip = ipaddress.IPv4Address(dst if egress else src)
    vpc = topo.subnets[eni.subnet].vpc
    peer_eni = topo.eni_by_ip.get((vpc, peer_ip))
    if peer_eni is not None and peer_eni.security_groups:
        peer_kind, peer = "sg", peer_eni.security_groups[0]
    else:
        peer_kind, peer = "cidr", f"{peer_ip}/32"
    words, lo, hi = _proto_words(proto, dport, sport)
    rule = SgRule(egress, proto, lo, hi, peer_kind, peer)
    group = topo.security_groups[eni.security_groups[0]]
    if egress:
        group = replace(group, egress=group.egress + (rule,))
    else:
        group = replace(group, ingress=group.ingress + (rule,))
    return (f"add {'egress' if egress else 'ingress'} rule \"{rule.text}\" to security "
            f"group {group.id}", with_resource(topo, "security_groups", group))


def _acl_fix(topo: Topology, leg, step):
    acl = topo.network_acls[step.resource]
    egress = step.kind == "acl-outbound"
    src, sport, dst, dport, proto = leg.packet
    compiled = compile_acl(acl.entries, egress)
    cols = [np.array([v]) for v in (int(ipaddress.IPv4Address(src)),
                                    int(ipaddress.IPv4Address(dst)), sport, dport, proto)]
    row = int(first_match_naive(compiled.table, *cols)[0])
    deny = compiled.entries[row].number if row >= 0 else 32767
    used = {e.number for e in acl.entries if e.egress == egress}
    below = [n for n in used if n < deny]
    number = (max(below) // 10 + 1) * 10 if below else min(100, deny - 1)
    if number >= deny or number in used:
        free = [n for n in range(deny - 1, 0, -1) if n not in used]
        if not free:
            return None
        number = free[0]
    peer = int(ipaddress.IPv4Address(dst if egress else src))
    cidr = (ipaddress.IPv4Network(f"{ipaddress.IPv4Address(peer)}/32")
            if is_private(peer)
            else ipaddress.IPv4Network("0.0.0.0/0"))
    lo = hi = dport
    if leg is not None and _is_reply_leg(leg) and proto in (TCP, UDP):
        lo, hi = 1024, 65535          # N6: replies come back to ephemeral ports
    entry = NaclEntry(number, egress, True, proto, cidr,
                      lo if proto in (TCP, UDP) else 0, hi if proto in (TCP, UDP) else 65535,
                      sport if proto == ICMP else -1, dport if proto == ICMP else -1)
    entries = tuple(sorted(acl.entries + (entry,), key=lambda e: (e.egress, e.number)))
    return (f"add {'outbound' if egress else 'inbound'} rule \"{entry.text}\" to network "
            f"ACL {acl.id}", with_resource(topo, "network_acls", replace(acl, entries=entries)))


def _is_reply_leg(leg) -> bool:
    return bool(leg.steps) and leg.steps[0].direction == "reply"


def _route_fix(topo: Topology, leg, step):
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
        nat = next((n for n in sorted(topo.nat_gateways.values(), key=lambda n: n.id)
                    if topo.subnets[n.subnet].vpc == rt.vpc
                    and topo.subnets[n.subnet].route_table != rt.id), None)
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
    return (f"add route {net} -> {tid} to route table {rt.id}",
            with_resource(topo, "route_tables", replace(rt, routes=routes)))


def _free_public_ip(topo: Topology) -> ipaddress.IPv4Address:
    used = {e.public_ip for e in topo.enis.values()} | {
        n.elastic_ip for n in topo.nat_gateways.values()}
    ip = ipaddress.IPv4Address("198.51.100.10")
    while ip in used:
        ip += 1
    return ip


def _advice(topo: Topology, result, leg) -> str:
    """What to do where no single resource change is enough."""
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
        return (f"give function {fn.id}'s execution role ec2:CreateNetworkInterface, "
                "ec2:DescribeNetworkInterfaces and ec2:DeleteNetworkInterface (the managed "
                "policy AWSLambdaVPCAccessExecutionRole) so Lambda can create its Hyperplane "
                "ENIs (L12)")
    if reason == "LAMBDA_INBOUND_NOT_SUPPORTED":
        return ("no configuration opens a connection into a function (L5): let the function "
                "connect out, or invoke it through its API")
    if reason == "UNKNOWN_DESTINATION":
        return f"nothing owns {leg.packet[2]}: check the address or the name it came from"
    return "no single configuration change found; see the drop reason"
