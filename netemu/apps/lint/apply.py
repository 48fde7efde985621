"""Apply a fix's structured changes to a copy of a topology, so the fix can be checked by
running lint and trace again. Lambda's side is redone too: a function moved to new
subnets gets its Hyperplane ENIs there (L2), and ENIs no function uses any more go."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from netemu.apps.fix_format import Change
from netemu.errors import InputError
from netemu.model import aws_services, finish
from netemu.model.resources import LAMBDA, NAT_ENI, RESOURCE_KINDS, VPCE, Eni, Route, Subnet
from netemu.model.topology import Topology


def apply_changes(topo: Topology, changes: tuple[Change, ...] | list[Change]) -> Topology:
    res = {name: dict(getattr(topo, name)) for name in RESOURCE_KINDS}
    for c in changes:
        _APPLY[c.action](res, c)
    _redo_hyperplane(res)
    return Topology.build(source=topo.source, notes=topo.notes, unmodelled=topo.unmodelled,
                          **{k: list(v.values()) for k, v in res.items()})


def _same_dest(a: Route, b: Route) -> bool:
    return a.destination == b.destination and a.prefix_list == b.prefix_list


def _add_route(res, c):
    rt = res["route_tables"][c.resource]
    routes = tuple(r for r in rt.routes if not _same_dest(r, c.item)) + (c.item,)
    res["route_tables"][rt.id] = replace(rt, routes=routes)


def _delete_route(res, c):
    rt = res["route_tables"][c.resource]
    res["route_tables"][rt.id] = replace(rt, routes=tuple(r for r in rt.routes
                                                           if r != c.item))


def _sg(res, c, add: bool):
    sg = res["security_groups"][c.resource]
    side = "egress" if c.item.egress else "ingress"
    rules = getattr(sg, side)
    if add:
        rules = rules + (c.item,)
    else:
        drop = rules.index(c.item)
        rules = rules[:drop] + rules[drop + 1:]
    res["security_groups"][sg.id] = replace(sg, **{side: rules})


def _acl(res, c, add: bool):
    acl = res["network_acls"][c.resource]
    entries = acl.entries + (c.item,) if add else tuple(e for e in acl.entries if e != c.item)
    res["network_acls"][acl.id] = replace(
        acl, entries=tuple(sorted(entries, key=lambda e: (e.egress, e.number))))


def _endpoint(res, c):
    ep = c.item
    res["endpoints"][ep.id] = ep
    for rt in ep.route_tables:
        _add_route(res, Change("add-route", rt, Route(None, ep.id, VPCE, ep.prefix_list)))


def _private_dns(res, c):
    ep = res["endpoints"][c.resource]
    region = res["vpcs"][ep.vpc].region
    name = aws_services.service_dns_name(region, aws_services.service_short_name(ep.service))
    res["endpoints"][ep.id] = replace(ep, private_dns=True, dns_names=(name,))


def _nat(res, c):
    nat = c.item
    subnet = res["subnets"][nat.subnet]
    used = {e.private_ip for e in res["enis"].values() if e.subnet == subnet.id}
    ip = finish.allocate_ip(subnet, used, nat.id)
    res["enis"][nat.eni] = Eni(nat.eni, subnet.id, ip, (), None, NAT_ENI, nat.id,
                               requester_managed=True, description=f"NAT gateway {nat.id}")
    res["nat_gateways"][nat.id] = replace(nat, private_ip=ip)


def _delete_nat(res, c):
    nat = res["nat_gateways"].pop(c.resource)
    res["enis"].pop(nat.eni, None)


def _set(table: str, **values):
    return lambda res, c: res[table].__setitem__(
        c.resource, replace(res[table][c.resource], **values))


_APPLY = {
    "add-route": _add_route,
    "delete-route": _delete_route,
    "add-sg-rule": lambda res, c: _sg(res, c, True),
    "revoke-sg-rule": lambda res, c: _sg(res, c, False),
    "add-acl-entry": lambda res, c: _acl(res, c, True),
    "delete-acl-entry": lambda res, c: _acl(res, c, False),
    "source-dest-check-off": _set("enis", source_dest_check=False),
    "associate-eip": lambda res, c: _set("enis", public_ip=c.item)(res, c),
    "allow-endpoint-policy": _set("endpoints", policy_allows=True),
    "create-gateway-endpoint": _endpoint,
    "enable-private-dns": _private_dns,
    "enable-vpc-dns": _set("vpcs", enable_dns_support=True, enable_dns_hostnames=True),
    "attach-vpc-access-policy": _set("functions", role_can_manage_enis=True),
    "amazon-dns": _set("vpcs", dns_servers=("AmazonProvidedDNS",)),
    "create-subnet": lambda res, c: res["subnets"].__setitem__(c.item.id, c.item),
    "create-route-table": lambda res, c: res["route_tables"].__setitem__(c.item.id, c.item),
    "associate-route-table": lambda res, c: _set("subnets", route_table=c.item)(res, c),
    "create-nat-gateway": _nat,
    "delete-nat-gateway": _delete_nat,
    "update-function-subnets": lambda res, c: _set("functions", subnets=tuple(c.item))(res, c),
}


def _redo_hyperplane(res) -> None:
    """L2: one Hyperplane ENI per (subnet, security-group set) in use; the ones netemu
    made up for combinations no function has any more are removed."""
    fns = res["functions"].values()
    wanted = {(s, frozenset(f.security_groups)) for f in fns if f.role_can_manage_enis
              for s in f.subnets}
    for eni in list(res["enis"].values()):
        if eni.kind == LAMBDA and eni.synthesized and (
                eni.subnet, frozenset(eni.security_groups)) not in wanted:
            del res["enis"][eni.id]
    made, _ = finish.hyperplane_enis(fns, res["subnets"], list(res["enis"].values()))
    for eni in made:
        res["enis"][eni.id] = eni


# ---- new resources for fixes ------------------------------------------------------------
def free_cidr(topo: Topology, vpc: str, prefixlen: int,
              taken: tuple[ipaddress.IPv4Network, ...] = ()) -> ipaddress.IPv4Network | None:
    """The lowest block of that size in the VPC that no subnet overlaps."""
    used = [s.cidr for s in topo.subnets.values() if s.vpc == vpc] + list(taken)
    for block in topo.vpcs[vpc].cidrs:
        if block.prefixlen > prefixlen:
            continue
        for cand in block.subnets(new_prefix=prefixlen):
            if not any(cand.overlaps(u) for u in used):
                return cand
    return None


def new_id(topo: Topology, base: str, taken: set[str] = frozenset()) -> str:
    ids = {i for name in RESOURCE_KINDS for i in getattr(topo, name)} | set(taken)
    rid, n = base, 2
    while rid in ids:
        rid, n = f"{base}-{n}", n + 1
    return rid


def new_subnet(topo: Topology, like: Subnet, az: str, rid: str, route_table: str | None = None,
               prefixlen: int | None = None, taken=()) -> Subnet:
    cidr = free_cidr(topo, like.vpc, prefixlen or like.cidr.prefixlen, taken)
    if cidr is None:
        raise InputError(f"VPC {like.vpc} has no free /{prefixlen or like.cidr.prefixlen} "
                         "for a new subnet")
    return Subnet(rid, like.vpc, cidr, az, route_table or like.route_table, like.acl)
