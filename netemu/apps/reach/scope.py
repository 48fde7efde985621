"""Which requests a change can touch, so that checking what a fix opens and closes walks
only those (a whole `diff` of a 200-subnet topology is seconds per fix).

The walk is a function of the element tables it visits: a request whose way there and
back crosses only elements a change left alone meets the same rows, so its fate is the
same. Elements belong to subnets (router, ACLs), to interfaces (security groups) and to
the VPC (gateways, endpoints, peerings). So, per source, the destinations to walk are:

- every address in a changed subnet (its CIDR) and every public IP of a changed
  interface, for every source: requests into what changed;
- for a source sending from a changed subnet or interface, what the change can decide
  for its own requests: the prefixes of the routes that differ (less what a longer
  route the change left alone still decides), the peers of the ACL entries and group
  rules that differ; everything where it is anything else (a subnet re-associated, an
  interface moved, a function's configuration);
- everything for every source when the change reaches the VPC itself (gateways,
  endpoints, peerings, prefix lists, the VPC) or an element other sources' traffic goes
  through (a NAT gateway, an interface with source/destination check off).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from netemu.addr import net_range
from netemu.apps.reach.query import merge
from netemu.dataplane.table import gaps
from netemu.model.resources import NAT_ENI, PCX
from netemu.model.topology import Topology

ALL = (0, 0xFFFFFFFF)
VPC_WIDE = ("vpcs", "internet_gateways", "endpoints", "prefix_lists", "peerings",
            "nat_gateways")


@dataclass
class Scope:
    everything: bool = False
    into: list = field(default_factory=list)          # (spans, senders or None: anyone)
    subnet_own: dict = field(default_factory=dict)    # subnet -> spans its sources walk to
    eni_own: dict = field(default_factory=dict)       # ENI -> spans it walks to as a source
    functions: set = field(default_factory=set)       # functions whose configuration changed
    translated: bool = False     # a private NAT gateway: senders' addresses change inside

    def spans(self, subnet: str | None, eni: str | None, function: str | None,
              sender: list) -> list:
        """What a place (its subnet, its interface, its function, its addresses `sender`)
        must walk to."""
        if self.everything or (function is not None and function in self.functions):
            return [ALL]
        own = self.subnet_own.get(subnet, []) + self.eni_own.get(eni, [])
        into = [sp for spans, who in self.into
                if who is None or self.translated or _meets(sender, who)
                for sp in spans]
        return merge(into + own)

    def add_into(self, spans: list, senders: list | None = None) -> None:
        """Requests into `spans` can change, from `senders` (None: any address): a
        changed route or rule decides only the replies to, or requests from, the
        addresses it names."""
        self.into.append((merge(spans), None if senders is None else merge(senders)))


def minus(spans, cut) -> list[tuple[int, int]]:
    """`spans` less `cut` (both merged lists)."""
    keep = gaps(merge(cut), 0xFFFFFFFF)
    out = []
    for lo, hi in spans:
        for a, b in keep:
            if a <= hi and b >= lo:
                out.append((max(a, lo), min(b, hi)))
    return out


def _meets(a, b) -> bool:
    return any(lo <= y and x <= hi for lo, hi in a for x, y in b)


def scope(before: Topology, after: Topology) -> Scope:
    s = Scope()
    if any(getattr(before, k) != getattr(after, k) for k in VPC_WIDE):
        s.everything = True
        return s
    s.translated = any(_translates(t) for t in (before, after))
    s.functions = {f for f in set(before.functions) | set(after.functions)
                   if before.functions.get(f) != after.functions.get(f)}
    for sid in sorted(set(before.subnets) | set(after.subnets)):
        _subnet(s, before, after, sid)
        if s.everything:
            return s
    for eid in sorted(set(before.enis) | set(after.enis)):
        _eni(s, before, after, eid)
        if s.everything:
            return s
    return s


def _subnet(s: Scope, before: Topology, after: Topology, sid: str) -> None:
    a, b = before.subnets.get(sid), after.subnets.get(sid)
    if a != b:              # new, gone or re-associated: all of it, both ways
        s.add_into([net_range(sn.cidr) for sn in (a, b) if sn is not None])
        s.subnet_own[sid] = [ALL]
        s.everything = _forwards(before, sid) or _forwards(after, sid)
        return
    own = []
    ra, rb = before.route_tables[a.route_table], after.route_tables[b.route_table]
    if ra != rb:        # replies from the subnet to the routes' prefixes, requests to them
        own += _route_space(before, after, ra.routes, rb.routes)
    na, nb = before.network_acls[a.acl], after.network_acls[b.acl]
    if na != nb:        # requests and replies to and from the entries' peers
        own += [net_range(e.cidr) for e in set(na.entries) ^ set(nb.entries)]
    if own:
        s.add_into([net_range(a.cidr)], own)
        # by a public IP, a sender arrives as whatever NAT it went through: anyone
        s.add_into([(int(e.public_ip), int(e.public_ip)) for t in (before, after)
                    for e in t.enis.values() if e.subnet == sid and e.public_ip])
        s.subnet_own[sid] = merge(own)
        s.everything = _forwards(before, sid) or _forwards(after, sid)


def _route_space(before, after, old, new) -> list:
    """Destinations the differing routes decide: each one's prefix less the longer
    prefixes of routes on both sides (longest prefix match: those still decide)."""
    changed, kept = set(old) ^ set(new), set(old) & set(new)
    out = []
    for r in changed:
        for net in _nets(before, after, r):
            longer = [net_range(n) for k in kept for n in _nets(before, after, k)
                      if n.prefixlen > net.prefixlen and n.subnet_of(net)]
            out += minus([net_range(net)], longer)
    return out


def _nets(before, after, route) -> list:
    if route.destination is not None:
        return [route.destination]
    pl = before.prefix_lists.get(route.prefix_list) or after.prefix_lists.get(route.prefix_list)
    return [c for c in pl.cidrs if c.version == 4] if pl else [ipaddress.IPv4Network("0.0.0.0/0")]


def _eni(s: Scope, before: Topology, after: Topology, eid: str) -> None:
    a, b = before.enis.get(eid), after.enis.get(eid)
    if a == b and (a is None or _groups(before, a) == _groups(after, b)):
        return
    ips = [(int(ip), int(ip)) for e in (a, b) if e is not None
           for ip in (e.private_ip, e.public_ip) if ip]
    if a != b:
        s.add_into(ips)
        s.eni_own[eid] = [ALL]
        s.everything = any(e is not None and (e.kind == NAT_ENI or not e.source_dest_check)
                           for e in (a, b))
        return
    rules = set(_rules(before, a)) ^ set(_rules(after, b))
    peers = merge(sp for r in rules for sp in _peer(before, after, r))
    s.add_into(ips, peers)          # a group rule decides for its peers only
    s.eni_own[eid] = peers


def _groups(topo: Topology, eni) -> list:
    return [topo.security_groups.get(g) for g in eni.security_groups]


def _rules(topo: Topology, eni) -> list:
    return [r for g in _groups(topo, eni) if g for r in g.ingress + g.egress]


def _peer(before: Topology, after: Topology, rule) -> list:
    if rule.peer_kind == "cidr":
        net = ipaddress.ip_network(rule.peer, strict=False)
        return [net_range(net)] if net.version == 4 else []
    if rule.peer_kind == "sg":
        return [(int(e.private_ip), int(e.private_ip)) for t in (before, after)
                for e in t.enis.values() if rule.peer in e.security_groups]
    pl = before.prefix_lists.get(rule.peer) or after.prefix_lists.get(rule.peer)
    return [net_range(c) for c in pl.cidrs if c.version == 4] if pl else [ALL]


def _translates(topo: Topology) -> bool:
    """Can a sender reach a private address under another private address (a private
    NAT gateway; a NAT gateway whose subnet routes to a peered VPC)? Then no change is
    conditioned on the sender's own address."""
    for nat in topo.nat_gateways.values():
        if not nat.public:
            return True
        rt = topo.route_tables[topo.subnets[nat.subnet].route_table]
        if any(r.target_kind == PCX for r in rt.routes):
            return True
    return False


def _forwards(topo: Topology, sid: str) -> bool:
    """Does other sources' traffic go through this subnet (a NAT gateway, a NAT
    instance)?"""
    return any(e.subnet == sid and (e.kind == NAT_ENI or not e.source_dest_check)
               for e in topo.enis.values())
