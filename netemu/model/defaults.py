"""What AWS fills in when a person or a snapshot leaves it out, shared by both loaders:
default ACL and security group rules, local routes, addresses from a subnet, and the
Hyperplane ENIs Lambda creates for each (subnet, security-group set)."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable

from netemu.errors import InputError
from netemu.model.resources import (
    ANY,
    LAMBDA,
    LOCAL,
    Eni,
    LambdaFunction,
    NaclEntry,
    Route,
    SgRule,
    Subnet,
)

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


def free_ips(subnet: Subnet, used: set[ipaddress.IPv4Address]) -> Iterable[ipaddress.IPv4Address]:
    """Addresses of the subnet AWS could still hand out, lowest first."""
    reserved = set(subnet.reserved())
    for ip in subnet.cidr.hosts():
        if ip not in reserved and ip not in used:
            yield ip


def allocate_ip(subnet: Subnet, used: set[ipaddress.IPv4Address], owner: str
                ) -> ipaddress.IPv4Address:
    for ip in free_ips(subnet, used):
        used.add(ip)
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
