"""What AWS adds to what a user writes, applied once by `Topology.build` to every source.

A VPC's main route table, default network ACL and default security group; every route
table's local routes and the routes its gateway endpoints add; every ACL's `*` deny
rules; the Hyperplane ENIs Lambda creates per (subnet, security-group set), at addresses
AWS has not reserved. Loaders read what their source says and leave the rest to `finish`:
a YAML file omits all of it, a snapshot carries most of it as AWS reported it, and
`finish` adds only what is missing, so building twice adds nothing."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from netemu.errors import InputError
from netemu.model.resources import (
    IGW,
    LAMBDA,
    LOCAL,
    PCX,
    VPCE,
    Eni,
    LambdaFunction,
    NaclEntry,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
)
from netemu.packet import ANY

if TYPE_CHECKING:
    from netemu.model.topology import Topology

ALL_V4 = ipaddress.IPv4Network("0.0.0.0/0")


def default_acl_entries() -> tuple[NaclEntry, ...]:
    """N5: the default ACL allows everything both ways (rule 100), then `*` denies."""
    return tuple(NaclEntry(n, eg, n == 100, ANY, ALL_V4)
                 for eg in (False, True) for n in (100, 32767))


def implicit_deny(egress: bool) -> NaclEntry:
    return NaclEntry(32767, egress, False, ANY, ALL_V4)


def allow_all_egress() -> tuple[SgRule, ...]:
    """S4: a new group sends anything anywhere."""
    return (SgRule(True, ANY, -1, -1, "cidr", "0.0.0.0/0"),)


def default_group_ingress(group_id: str) -> tuple[SgRule, ...]:
    """S4: the VPC's default group admits everything from its own members."""
    return (SgRule(False, ANY, -1, -1, "sg", group_id),)


def local_routes(cidrs: Iterable[ipaddress.IPv4Network]) -> tuple[Route, ...]:
    """R2: one local route per VPC CIDR, always there."""
    return tuple(Route(c, LOCAL, LOCAL) for c in cidrs)


class AddressSet(set):
    """Addresses in use in one subnet, with the lowest address not yet known to be taken,
    so that handing out thousands of addresses in one subnet stays linear: a set only
    grows, so every address below the cursor stays taken."""

    cursor: int = 0


def free_ips(subnet: Subnet, used: set[ipaddress.IPv4Address]) -> Iterable[ipaddress.IPv4Address]:
    """Addresses of the subnet AWS could still hand out, lowest first."""
    reserved = set(subnet.reserved())
    first = int(subnet.cidr.network_address)
    start = max(first + 1, getattr(used, "cursor", 0))
    for n in range(start, int(subnet.cidr.broadcast_address)):
        ip = ipaddress.IPv4Address(n)
        if ip not in reserved and ip not in used:
            yield ip


def allocate_ip(subnet: Subnet, used: set[ipaddress.IPv4Address], owner: str
                ) -> ipaddress.IPv4Address:
    for ip in free_ips(subnet, used):
        used.add(ip)
        if isinstance(used, AddressSet):
            used.cursor = int(ip) + 1
        return ip
    raise InputError(f"subnet {subnet.id} ({subnet.cidr}) has no free IP address left "
                     "(SubnetIPAddressLimitReachedException)", resource=owner)


def hyperplane_eni_id(subnet: str, sgs: Iterable[str]) -> str:
    digest = hashlib.sha1(f"{subnet}|{','.join(sorted(sgs))}".encode()).hexdigest()[:12]
    return f"eni-lambda-{digest}"


def hyperplane_enis(functions: Iterable[LambdaFunction], subnets: dict[str, Subnet],
                    enis: list[Eni]) -> tuple[list[Eni], list[str]]:
    """L2: one Hyperplane ENI per distinct (subnet, security-group set), shared by every
    function with that combination. Returns the ENIs missing from `enis` and a note per
    ENI made up. Unknown subnets are left for Topology to report."""
    have = {(e.subnet, frozenset(e.security_groups)) for e in enis if e.kind == LAMBDA}
    used = {e.private_ip for e in enis}
    made: list[Eni] = []
    notes: list[str] = []
    for fn in sorted(functions, key=lambda f: f.id):
        if not fn.role_can_manage_enis:
            continue            # L12: the execution role cannot create network interfaces
        for sn in fn.subnets:
            key = (sn, frozenset(fn.security_groups))
            if key in have or sn not in subnets:
                continue
            have.add(key)
            eni_id = hyperplane_eni_id(sn, fn.security_groups)
            ip = allocate_ip(subnets[sn], used, fn.id)
            made.append(Eni(eni_id, sn, ip, tuple(sorted(fn.security_groups)), None, LAMBDA,
                            attached_to=None, requester_managed=True, synthesized=True,
                            description=f"AWS Lambda VPC ENI-{fn.id}"))
            notes.append(f"synthesised Hyperplane ENI {eni_id} ({ip}) in {sn} for "
                         f"security groups {', '.join(sorted(fn.security_groups))}")
    return made, notes


def finish(topo: Topology, lacking: str | None = None) -> list[str]:
    """Add to `topo`'s tables, in place, what AWS creates beside what a user writes.
    `lacking` names a source that should have held the Hyperplane ENIs (a snapshot does,
    a YAML file never does); for such a source, returns a note per ENI made up."""
    for vpc in topo.vpcs.values():
        _put_first(topo.route_tables, RouteTable(vpc.main_route_table, vpc.id, (), main=True))
        _put_first(topo.network_acls, NetworkAcl(vpc.default_acl, vpc.id, default_acl_entries(),
                                                 default=True))
        sg = vpc.default_security_group
        if sg:
            _put_first(topo.security_groups, SecurityGroup(
                sg, vpc.id, default_group_ingress(sg), allow_all_egress(), name="default"))
    for acl_id, acl in topo.network_acls.items():
        topo.network_acls[acl_id] = _with_implicit_deny(acl)
    gateway_routes: dict[str, list[Route]] = {}
    for ep in topo.endpoints.values():
        if ep.kind == "gateway" and ep.prefix_list:
            for rt in ep.route_tables:
                gateway_routes.setdefault(rt, []).append(Route(None, ep.id, VPCE, ep.prefix_list))
    for rt_id, rt in topo.route_tables.items():
        vpc = topo.vpcs.get(rt.vpc)
        topo.route_tables[rt_id] = _with_implied_routes(
            rt, vpc.cidrs if vpc else (), gateway_routes.get(rt_id, ()))
    # a function naming an unknown group is Topology's to report, against the function
    functions = [f for f in topo.functions.values()
                 if all(g in topo.security_groups for g in f.security_groups)]
    made, notes = hyperplane_enis(functions, topo.subnets, list(topo.enis.values()))
    for eni in made:
        topo.enis[eni.id] = eni
    return [f"{n}: {lacking} has no Hyperplane ENI for this (subnet, security-group set)"
            for n in notes] if lacking else []


def _put_first(table: dict, item) -> None:
    """Add `item` unless its id is taken, before the first resource of its VPC, where a
    loader that made it up itself would have put it."""
    if item.id in table:
        return
    items = list(table.items())
    at = next((i for i, (_, v) in enumerate(items) if v.vpc == item.vpc), len(items))
    items.insert(at, (item.id, item))
    table.clear()
    table.update(items)


def _with_implicit_deny(acl: NetworkAcl) -> NetworkAcl:
    """N3: every ACL ends with rule `*` (32767), denying what no rule matched, both ways."""
    entries = list(acl.entries)
    for egress in (False, True):
        if not any(e.egress == egress and e.number == 32767 for e in entries):
            entries.append(implicit_deny(egress))
    entries.sort(key=lambda e: (e.egress, e.number))
    if entries == list(acl.entries):
        return acl
    return NetworkAcl(acl.id, acl.vpc, tuple(entries), acl.default, acl.name)


def _with_implied_routes(rt: RouteTable, cidrs: Iterable[ipaddress.IPv4Network],
                         gateway: Iterable[Route]) -> RouteTable:
    """R2: a local route per VPC CIDR first, unless a route for that very destination is
    there (the local route itself, or one replacing it with a middlebox: an interface or
    a NAT gateway); R5: then the route of each gateway endpoint associated with the table,
    unless present."""
    dests = {r.destination for r in rt.routes if r.target_kind not in (IGW, PCX, "blackhole")}
    local = tuple(r for r in local_routes(cidrs) if r.destination not in dests)
    targets = {r.target for r in rt.routes}
    extra = tuple(r for r in gateway if r.target not in targets)
    if not local and not extra:
        return rt
    return RouteTable(rt.id, rt.vpc, local + rt.routes + extra, rt.main, rt.name)
