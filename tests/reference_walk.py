"""A naive per-hop reference for whole traces, written straight from AWS-SEMANTICS.md.

Security groups, network ACLs and route tables are decided by reading the elements'
tables (`Element.table()`, the decision as data) naively: the first row that holds.
Each such decision is checked on the spot against the rules themselves, matched by
looping over them with `ipaddress` membership (security groups, ACL entries sorted on
their number) and by scanning every route for the longest prefix: a table that says
otherwise than AWS's rules fails the walk. Every other hop is walked here in plain
Python from AWS-SEMANTICS.md, sharing nothing with netemu.dataplane.

One flow is walked as two legs, the request and its reply, each one packet hopping from
resource to resource in plain Python. State carried from the request to the reply:
security-group connection tracking per ENI (S3) and the translations of the Hyperplane
NAT (L3), the NAT gateway (G1) and NAT instances. The ports those NATs pick are arbitrary
in AWS (1024-65535, N6); the caller passes the ones to assume (a test passes the ones
netemu picked, after checking they are in that range).

A route to an ENI is a next hop (VPC User Guide, "NAT instances"): with source/destination
check on, the ENI drops what is not addressed to it (ENI_SOURCE_DEST_CHECK_RESTRICTION);
an instance's ENI with the check off masquerades as a NAT instance.

Drop locations use netemu's naming convention (the resource a drop is blamed on):
security group id when the ENI has one group, else the ENI id; network ACL id; route
table id; gateway, endpoint or ENI id; "internet" for the internet itself.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from netemu.dataplane.graph import Graph
from netemu.dataplane.table import TRACKED_REPLY, decide
from netemu.model.resources import EC2, LAMBDA, NAT_ENI, OTHER, Eni, SgRule
from netemu.model.topology import Topology
from netemu.packet import ANY, ICMP, TCP, UDP

IP = ipaddress.IPv4Address
NET = ipaddress.IPv4Network

# Addresses that never belong to an internet host (RFC 1918, CGNAT, link-local,
# loopback, "this network", multicast and reserved).
NOT_INTERNET = [NET(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                 "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8",
                                 "0.0.0.0/8", "224.0.0.0/3")]
# S6: not filtered by security groups or network ACLs.
LINK_LOCAL_SERVICES = [IP("169.254.169.253"), IP("169.254.169.254"), IP("169.254.169.123")]
# The built-in public AWS ranges netemu delivers to as "aws-public-endpoints".
AWS_PUBLIC_RANGES = [NET(n) for n in (
    "52.216.0.0/15", "54.231.0.0/16", "3.5.0.0/19", "16.182.0.0/16", "18.34.0.0/19",
    "52.94.0.0/22", "52.119.224.0/20", "3.218.182.0/24", "52.218.0.0/17", "3.5.64.0/21",
    "52.92.0.0/17", "52.94.24.0/23", "52.119.240.0/21", "52.46.0.0/18")]

DEFAULT_NAT_PORT = 1024
MAX_ROUTES = 16        # route lookups one packet may take before it is a loop


@dataclass(frozen=True)
class Pkt:
    src: IP
    sport: int     # ICMP: type
    dst: IP
    dport: int     # ICMP: code
    proto: int


@dataclass(frozen=True)
class RefResult:
    verdict: str                   # delivered | dropped
    reply_verdict: str | None      # None when the request was dropped
    reason: str | None
    dropped_at: str | None
    delivered_to: str | None = None   # where the request arrived
    reply_source_changed: bool = False  # the reply left with another source address

    def key(self) -> tuple:
        return (self.verdict, self.reply_verdict, self.reason, self.dropped_at)


class Drop(Exception):
    def __init__(self, reason: str, at: str) -> None:
        super().__init__(f"{reason} at {at}")
        self.reason, self.at = reason, at


# ---- rule matching, one rule at a time ------------------------------------------------
def sg_rule_matches(topo: Topology, rule: SgRule, pkt: Pkt) -> bool:
    """S2: protocol, ports (ICMP type and code), one peer; the peer is the destination of
    an egress rule and the source of an ingress rule."""
    if rule.protocol != ANY and rule.protocol != pkt.proto:
        return False
    if rule.protocol in (TCP, UDP):
        lo = 0 if rule.from_port == -1 else rule.from_port
        hi = 65535 if rule.to_port == -1 else rule.to_port
        if not lo <= pkt.dport <= hi:
            return False
    elif rule.protocol == ICMP:
        if rule.from_port != -1 and rule.from_port != pkt.sport:
            return False
        if rule.to_port != -1 and rule.to_port != pkt.dport:
            return False
    # any other protocol (and -1): all ports, whatever range the rule states
    peer = pkt.dst if rule.egress else pkt.src
    if rule.peer_kind == "cidr":
        net = ipaddress.ip_network(rule.peer)
        return net.version == 4 and peer in net
    if rule.peer_kind == "sg":
        # the private IPs of the ENIs that carry the group (never a NATed address)
        return any(peer == e.private_ip for e in topo.enis.values()
                   if rule.peer in e.security_groups)
    if rule.peer_kind == "prefix-list":
        return any(peer in c for c in topo.prefix_lists[rule.peer].cidrs)
    raise AssertionError(rule.peer_kind)


def acl_allows(topo: Topology, acl_id: str, egress: bool, pkt: Pkt) -> bool:
    """N3/N4: ascending rule number, the first entry that matches decides."""
    entries = sorted((e for e in topo.network_acls[acl_id].entries if e.egress == egress),
                     key=lambda e: e.number)
    peer = pkt.dst if egress else pkt.src
    for e in entries:
        if e.protocol != ANY and e.protocol != pkt.proto:
            continue
        if e.protocol in (TCP, UDP) and not e.port_from <= pkt.dport <= e.port_to:
            continue
        if e.protocol == ICMP and e.icmp_type not in (-1, pkt.sport):
            continue
        if e.protocol == ICMP and e.icmp_code not in (-1, pkt.dport):
            continue
        if peer not in e.cidr:
            continue
        return e.allow
    return False      # `*`: nothing matched


# ---- the walker -----------------------------------------------------------------------
def _conn_key(p: Pkt) -> tuple:
    ports = (0, 0) if p.proto == ICMP else (p.sport, p.dport)   # ICMP: addresses only
    return (p.src, ports[0], p.dst, ports[1], p.proto)


def _reverse(p: Pkt) -> Pkt:
    return Pkt(p.dst, p.dport, p.src, p.sport, p.proto)


class Walker:
    def __init__(self, topo: Topology, hyperplane_port: int | None,
                 nat_port: int | None, nat_instance_port: int | None = None) -> None:
        self.topo = topo
        self.hp_port = DEFAULT_NAT_PORT if hyperplane_port is None else hyperplane_port
        self.nat_port = DEFAULT_NAT_PORT if nat_port is None else nat_port
        self.ni_port = DEFAULT_NAT_PORT if nat_instance_port is None else nat_instance_port
        self.routes = 0
        self.graph = Graph(topo)                  # only its tables are read
        self._tables: dict = {}
        self.tracked: set[tuple] = set()          # (eni id, connection key)
        self.nat_table: dict[tuple, tuple] = {}   # (translator, reply key) -> (ip, port)
        self.final: Pkt | None = None             # the packet as it was delivered

    # addresses ------------------------------------------------------------------------
    def vpc_of_eni(self, eni: Eni) -> str:
        return self.topo.subnets[eni.subnet].vpc

    def eni_with_private_ip(self, vpc: str, ip: IP) -> Eni | None:
        for e in self.topo.enis.values():
            if e.private_ip == ip and self.vpc_of_eni(e) == vpc:
                return e
        return None

    def amazon_provided(self) -> list[IP]:
        out = list(LINK_LOCAL_SERVICES)
        for v in self.topo.vpcs.values():
            if v.enable_dns_support:
                out.append(v.cidrs[0].network_address + 2)     # D1
        return out

    # hops -----------------------------------------------------------------------------
    def row(self, key: tuple[str, str], pkt: Pkt, states: frozenset = frozenset()):
        """The first row of an element's table that holds for the packet."""
        if key not in self._tables:
            self._tables[key] = self.graph.element(key).table()
        fields = {"src": int(pkt.src), "dst": int(pkt.dst), "sport": pkt.sport,
                  "dport": pkt.dport, "proto": pkt.proto}
        return decide(self._tables[key], fields, states)

    def security_groups(self, eni: Eni, pkt: Pkt, egress: bool) -> None:
        """S1-S3; a NAT gateway's ENI has none (G5)."""
        if eni.kind == NAT_ENI:
            return
        tracked = (eni.id, _conn_key(_reverse(pkt))) in self.tracked      # S3
        row = self.row(("out" if egress else "in", eni.id), pkt,
                       frozenset({TRACKED_REPLY}) if tracked else frozenset())
        rules = [r for g in eni.security_groups
                 for r in (self.topo.security_groups[g].egress if egress
                           else self.topo.security_groups[g].ingress)]
        allowed = tracked or any(sg_rule_matches(self.topo, r, pkt) for r in rules)
        reason = "ENI_SG_RULES_MISMATCH" if rules else "SG_HAS_NO_RULES"
        assert (row.action != "drop", row.reason) == (allowed, None if allowed else reason), \
            f"{eni.id}'s security-group table says {row} for {pkt}, its rules {allowed}"
        if tracked:
            return
        if allowed:
            self.tracked.add((eni.id, _conn_key(pkt)))
            return
        at = eni.security_groups[0] if len(eni.security_groups) == 1 else eni.id
        raise Drop(row.reason, at)

    def acl(self, subnet: str, egress: bool, pkt: Pkt) -> None:
        acl_id = self.topo.subnets[subnet].acl
        row = self.row(("acl-out" if egress else "acl-in", subnet), pkt)
        allowed = acl_allows(self.topo, acl_id, egress, pkt)
        assert (row.action != "drop") == allowed, \
            f"{acl_id}'s table says {row} for {pkt}, its entries {allowed}"
        if not allowed:
            raise Drop(row.reason, acl_id)

    def cross(self, from_subnet: str, to_subnet: str, pkt: Pkt) -> None:
        """N1: leaving one subnet and entering another; nothing within one subnet."""
        if from_subnet != to_subnet:
            self.acl(from_subnet, True, pkt)
            self.acl(to_subnet, False, pkt)

    def leave_eni(self, eni: Eni, pkt: Pkt) -> str:
        if pkt.dst in self.amazon_provided():
            self.final = pkt
            return "amazon-provided-services"                 # S6: not filtered
        self.security_groups(eni, pkt, egress=True)
        return self.route(eni.subnet, pkt)

    def best_route(self, table, pkt: Pkt):
        """R1/R4: the longest prefix wins; at equal length a static CIDR route beats a
        prefix-list route, which beats a propagated one."""
        best, best_key = None, None
        for i, r in enumerate(table.routes):
            nets = ([r.destination] if r.destination is not None
                    else list(self.topo.prefix_lists[r.prefix_list].cidrs))
            for net in nets:
                if net.version != 4 or pkt.dst not in net:
                    continue
                rank = (0 if r.origin == "static" and r.destination is not None else
                        1 if r.origin == "static" else 2)
                key = (-net.prefixlen, rank, i)
                if best_key is None or key < best_key:
                    best, best_key = r, key
        return best

    def route(self, subnet: str, pkt: Pkt) -> str:
        """The route table's row for the destination (checked against the longest
        prefix found by scanning every route), then on to what it names."""
        sn = self.topo.subnets[subnet]
        table = self.topo.route_tables[sn.route_table]
        self.routes += 1
        if self.routes > MAX_ROUTES:
            raise Drop("ROUTING_LOOP", "routing-loop")
        row = self.row(("router", subnet), pkt)
        best = self.best_route(table, pkt)
        if best is None:
            assert row.reason == "NO_ROUTE_TO_DESTINATION", (table.id, pkt, row)
        else:
            assert row.rule == f"{table.id} route {best.text}", (table.id, pkt, row, best)
            assert (row.reason == "BAD_STATE_ROUTE") == best.blackhole, (table.id, pkt, row)
        if row.action == "drop":
            if row.reason == "UNKNOWN_DESTINATION":    # the local route: nobody owns it
                assert self.eni_with_private_ip(sn.vpc, pkt.dst) is None, (pkt, row)
            raise Drop(row.reason, table.id)
        kind, target = row.next
        if kind in ("in", "sdc"):          # an interface: its own address, or a next hop
            eni = self.topo.enis[target]
            self.cross(subnet, eni.subnet, pkt)
            return self.next_hop_eni(eni, pkt)
        if kind == "igw-out":
            self.acl(subnet, True, pkt)
            return self.igw_out(target, pkt)
        if kind == "vpce":
            self.acl(subnet, True, pkt)
            return self.gateway_endpoint(target, pkt)
        raise Drop("CANNOT_ROUTE", target)

    @staticmethod
    def forwards(eni: Eni) -> bool:
        """An instance's interface with source/destination check off: a NAT instance."""
        return not eni.source_dest_check and eni.kind in (EC2, OTHER)

    def next_hop_eni(self, eni: Eni, pkt: Pkt) -> str:
        """A route's target ENI, reached through both subnets' ACLs. Traffic for its own
        address arrives as usual; a NAT gateway's ENI forwards; any other ENI takes
        traffic for other addresses only with the check off."""
        if pkt.dst == eni.private_ip or eni.kind == NAT_ENI:
            return self.arrive_eni(eni, pkt)
        if not self.forwards(eni):
            raise Drop("ENI_SOURCE_DEST_CHECK_RESTRICTION", eni.id)
        self.security_groups(eni, pkt, egress=False)
        if pkt.src == eni.private_ip:            # its own traffic routed back to it
            raise Drop("ROUTING_LOOP", eni.id)
        port = self.ni_port if pkt.proto in (TCP, UDP) else pkt.sport
        out = replace(pkt, src=eni.private_ip, sport=port)
        self.nat_table[(eni.id, _conn_key(_reverse(out)))] = (pkt.src, pkt.sport)
        return self.leave_eni(eni, out)

    def arrive_eni(self, eni: Eni, pkt: Pkt) -> str:
        self.security_groups(eni, pkt, egress=False)
        if eni.kind == LAMBDA:
            return self.hyperplane_in(eni, pkt)
        if eni.kind == NAT_ENI:
            return self.nat_gateway(eni.attached_to, pkt)
        if self.forwards(eni):                   # a NAT instance: replies go back
            orig = self.nat_table.get((eni.id, _conn_key(pkt)))
            if orig is not None:
                return self.leave_eni(eni, replace(pkt, dst=orig[0], dport=orig[1]))
        host = next((h for h in self.topo.hosts.values() if h.eni == eni.id), None)
        self.final = pkt
        return host.id if host else (eni.attached_to or eni.id)

    def hyperplane_out(self, eni: Eni, pkt: Pkt) -> str:
        """L3: the environment's flow NATed onto the ENI's private IP and a port."""
        port = self.hp_port if pkt.proto in (TCP, UDP) else pkt.sport
        out = replace(pkt, src=eni.private_ip, sport=port)
        self.nat_table[(eni.id, _conn_key(_reverse(out)))] = (pkt.src, pkt.sport)
        return self.leave_eni(eni, out)

    def hyperplane_in(self, eni: Eni, pkt: Pkt) -> str:
        """L5: only replies to connections the function opened get in."""
        orig = self.nat_table.get((eni.id, _conn_key(pkt)))
        if orig is None:
            raise Drop("LAMBDA_INBOUND_NOT_SUPPORTED", eni.id)
        self.final = replace(pkt, dst=orig[0], dport=orig[1])
        return "lambda-service-vpc"

    def nat_gateway(self, nat_id: str, pkt: Pkt) -> str:
        ngw = self.topo.nat_gateways[nat_id]
        vpc = self.topo.subnets[ngw.subnet].vpc
        if pkt.dst == ngw.private_ip:                        # a reply, or nothing (G5)
            orig = self.nat_table.get((nat_id, _conn_key(pkt)))
            if orig is None:
                raise Drop("NGW_NO_INBOUND", nat_id)
            back = replace(pkt, dst=orig[0], dport=orig[1])
            return self.route(ngw.subnet, back)
        if not any(pkt.src in c for c in self.topo.vpcs[vpc].cidrs):
            raise Drop("NGW_REQUIRES_SOURCE_IN_VPC", nat_id)
        if pkt.proto not in (TCP, UDP, ICMP):
            raise Drop("PROTOCOL_RESTRICTION", nat_id)
        port = self.nat_port if pkt.proto in (TCP, UDP) else pkt.sport   # G1
        out = replace(pkt, src=ngw.private_ip, sport=port)
        self.nat_table[(nat_id, _conn_key(_reverse(out)))] = (pkt.src, pkt.sport)
        return self.route(ngw.subnet, out)

    def public_of(self, vpc: str | None, private: IP) -> IP | None:
        """I1: the public (or Elastic) IPv4 of an ENI or a NAT gateway."""
        for e in self.topo.enis.values():
            if e.private_ip == private and e.public_ip is not None and \
                    self.vpc_of_eni(e) == vpc:
                return e.public_ip
        for n in self.topo.nat_gateways.values():
            if n.private_ip == private and n.elastic_ip is not None and \
                    self.topo.subnets[n.subnet].vpc == vpc:
                return n.elastic_ip
        return None

    def igw_out(self, igw_id: str, pkt: Pkt) -> str:
        public = self.public_of(self.topo.internet_gateways[igw_id].vpc, pkt.src)
        if public is None:
            raise Drop("IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS", igw_id)
        return self.internet(replace(pkt, src=public))

    def igw_in(self, igw_id: str, pkt: Pkt) -> str:
        vpc = self.topo.internet_gateways[igw_id].vpc
        for e in self.topo.enis.values():
            if e.public_ip == pkt.dst and self.vpc_of_eni(e) == vpc:
                break
        else:
            e = None
            for n in self.topo.nat_gateways.values():
                if n.elastic_ip == pkt.dst and self.topo.subnets[n.subnet].vpc == vpc:
                    e = self.topo.enis[n.eni]
        if e is None:
            raise Drop("IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS", igw_id)
        inside = replace(pkt, dst=e.private_ip)
        self.acl(e.subnet, False, inside)
        return self.arrive_eni(e, inside)

    def internet(self, pkt: Pkt) -> str:
        if any(pkt.dst in n for n in NOT_INTERNET):
            raise Drop("UNKNOWN_DESTINATION", "internet")
        for igw in self.topo.internet_gateways.values():
            owner_vpc = igw.vpc
            if any(e.public_ip == pkt.dst and self.vpc_of_eni(e) == owner_vpc
                   for e in self.topo.enis.values()) or any(
                    n.elastic_ip == pkt.dst and self.topo.subnets[n.subnet].vpc == owner_vpc
                    for n in self.topo.nat_gateways.values()):
                return self.igw_in(igw.id, pkt)
        self.final = pkt
        if any(pkt.dst in n for n in AWS_PUBLIC_RANGES):
            return "aws-public-endpoints"
        return "internet"

    def gateway_endpoint(self, ep_id: str, pkt: Pkt) -> str:
        """E1: through the prefix-list route to the service, if the policy allows."""
        ep = self.topo.endpoints[ep_id]
        if not any(pkt.dst in c for c in self.topo.prefix_lists[ep.prefix_list].cidrs):
            raise Drop("UNKNOWN_DESTINATION", ep_id)
        if not ep.policy_allows:
            raise Drop("VPCE_POLICY_RESTRICTION", ep_id)
        self.final = pkt
        return "vpce:" + ep_id

    def gateway_endpoint_back(self, ep_id: str, pkt: Pkt) -> str:
        ep = self.topo.endpoints[ep_id]
        eni = self.eni_with_private_ip(ep.vpc, pkt.dst)
        if eni is None:
            raise Drop("UNKNOWN_DESTINATION", ep_id)
        self.acl(eni.subnet, False, pkt)
        return self.arrive_eni(eni, pkt)

    def amazon_answer(self, pkt: Pkt) -> str:
        """S6: the resolver's answer reaches what owns the asking address unfiltered."""
        for e in self.topo.enis.values():
            if e.private_ip == pkt.dst:
                if e.kind == LAMBDA:
                    return self.hyperplane_in(e, pkt)
                self.final = pkt
                return "answered"
        raise Drop("UNKNOWN_DESTINATION", "amazon-provided-services")


# ---- one flow ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Flow:
    src_kind: str          # lambda | host | internet
    src: str               # function name, host name, or internet host name
    dst: IP
    proto: int
    port: int
    sport: int = 40000
    subnet: str | None = None   # lambda: which of the function's subnets


def _reply(p: Pkt) -> Pkt:
    sport = 0 if p.proto == ICMP and p.sport == 8 else p.sport   # echo reply
    if p.proto == ICMP:
        return Pkt(p.dst, sport, p.src, p.dport, p.proto)
    return Pkt(p.dst, p.dport, p.src, p.sport, p.proto)


def reference_trace(topo: Topology, flow: Flow, *, hyperplane_port: int | None = None,
                    nat_port: int | None = None,
                    nat_instance_port: int | None = None) -> RefResult:
    w = Walker(topo, hyperplane_port, nat_port, nat_instance_port)
    sport, dport = (8, 0) if flow.proto == ICMP else (flow.sport, flow.port)
    try:
        if flow.src_kind == "lambda":
            fn = topo.functions[flow.src]
            subnet = flow.subnet or fn.subnets[0]
            eni = next((e for e in topo.enis.values() if e.kind == LAMBDA
                        and e.subnet == subnet
                        and set(e.security_groups) == set(fn.security_groups)), None)
            if eni is None:
                raise Drop("LAMBDA_ENI_MISSING", "lambda-service-vpc")
            env_ip = IP("169.254.76.10")        # somewhere in the Lambda service VPC (L1)
            where = w.hyperplane_out(eni, Pkt(env_ip, sport, flow.dst, dport, flow.proto))
        elif flow.src_kind == "host":
            host = topo.hosts[flow.src]
            where = w.leave_eni(topo.enis[host.eni],
                                Pkt(host.ip, sport, flow.dst, dport, flow.proto))
        else:
            host = topo.hosts[flow.src]
            where = w.internet(Pkt(host.ip, sport, flow.dst, dport, flow.proto))
    except Drop as d:
        return RefResult("dropped", None, d.reason, d.at)

    reply = _reply(w.final)          # the answer to the request as it arrived
    w.final, w.routes = None, 0
    try:
        if where == "amazon-provided-services":
            w.amazon_answer(reply)
        elif where in ("internet", "aws-public-endpoints"):
            w.internet(reply)
        elif where.startswith("vpce:"):
            w.gateway_endpoint_back(where[5:], reply)
        else:
            w.leave_eni(topo.enis[topo.hosts[where].eni], reply)
    except Drop as d:
        return RefResult("delivered", "dropped", d.reason, d.at, where)
    # the client sent to one address: an answer from another one is no answer to it
    changed = flow.src_kind == "internet" and w.final.src != flow.dst
    return RefResult("delivered", "delivered", None, None, where, changed)
