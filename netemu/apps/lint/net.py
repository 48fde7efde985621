"""Small questions about the network that several checks ask."""

from __future__ import annotations

import ipaddress

from netemu.model.resources import IGW, LAMBDA, NAT, Route
from netemu.model.topology import Topology

ALL = ipaddress.IPv4Network("0.0.0.0/0")


def default_route(topo: Topology, rt_id: str) -> Route | None:
    return next((r for r in topo.route_tables[rt_id].routes if r.destination == ALL), None)


def is_public(topo: Topology, subnet: str) -> bool:
    """G2, I1: a subnet whose route table sends 0.0.0.0/0 to an internet gateway."""
    r = default_route(topo, topo.subnets[subnet].route_table)
    return r is not None and r.target_kind == IGW and not r.blackhole


def public_nats(topo: Topology, vpc: str, az: str | None = None) -> list:
    """Public NAT gateways of a VPC in public subnets, those of `az` first."""
    nats = [n for n in topo.nat_gateways.values() if n.public
            and topo.subnets[n.subnet].vpc == vpc and is_public(topo, n.subnet)]
    return sorted(nats, key=lambda n: (topo.subnets[n.subnet].az != az, n.id))


def routes_to_nat(topo: Topology, subnet: str) -> bool:
    r = default_route(topo, topo.subnets[subnet].route_table)
    return r is not None and r.target_kind == NAT and not r.blackhole


def subnets_using(topo: Topology, rt_id: str) -> list[str]:
    return sorted(s.id for s in topo.subnets.values() if s.route_table == rt_id)


def functions_in(topo: Topology, subnet: str) -> list[str]:
    return sorted(f.id for f in topo.functions.values() if subnet in f.subnets)


def hyperplane_enis(topo: Topology, subnet: str) -> list:
    return [e for e in topo.enis.values() if e.kind == LAMBDA and e.subnet == subnet]


def free_addresses(topo: Topology, subnet: str) -> int:
    """Size − 5 reserved − the addresses its ENIs hold (L2)."""
    sn = topo.subnets[subnet]
    return sn.cidr.num_addresses - 5 - sum(1 for e in topo.enis.values()
                                           if e.subnet == subnet)


def next_az(topo: Topology, vpc: str, taken: set[str]) -> str:
    """Another AZ: one the VPC already uses, else the next letter of its Region."""
    used = sorted({s.az for s in topo.subnets.values() if s.vpc == vpc} - taken)
    if used:
        return used[0]
    region = topo.vpcs[vpc].region
    return next(f"{region}{c}" for c in "abcdefgh" if f"{region}{c}" not in taken)


def free_public_ip(topo: Topology, taken: set) -> ipaddress.IPv4Address:
    """An Elastic IP for a new NAT gateway: none of the topology's, nor one given out
    already by the same fix (`taken`, updated)."""
    used = {e.public_ip for e in topo.enis.values()} | {
        n.elastic_ip for n in topo.nat_gateways.values()} | taken
    ip = ipaddress.IPv4Address("198.51.100.10")
    while ip in used:
        ip += 1
    taken.add(ip)
    return ip
