"""The VPC side of scaling: subnet addresses, Hyperplane ENIs per (subnet, security-group
set) (L2, L3, L8), the legacy model's ENIs per environment (L11), the EC2 API's token
bucket, and which NAT gateway a subnet reaches a destination through (R1, G3)."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

from netemu.apps.scale.settings import Settings
from netemu.model.resources import LAMBDA, NAT
from netemu.model.topology import Topology

Key = tuple[str, frozenset]     # (subnet, security-group set)


def key_label(key: Key) -> str:
    return f"{key[0]}/{'+'.join(sorted(key[1]))}"


@dataclass
class Subnet:
    id: str
    az: str
    base_free: int            # size - 5 reserved - ENIs of anything but Lambda
    filled: int = 0           # addresses taken by other workloads (a fault)
    up: bool = True


@dataclass
class HyperplaneEnis:
    """The ENIs of one (subnet, SG set): how many are available, which are being made."""
    available: int = 0
    pending: list[float] = field(default_factory=list)    # ready times
    error: str | None = None                              # last creation failure

    @property
    def total(self) -> int:
        return self.available + len(self.pending)


class Network:
    def __init__(self, topo: Topology, settings: Settings) -> None:
        self.topo, self.s = topo, settings
        lambda_enis: dict[str, int] = {}
        other: dict[str, int] = {}
        for e in topo.enis.values():
            table = lambda_enis if e.kind == LAMBDA else other
            table[e.subnet] = table.get(e.subnet, 0) + 1
        self.subnets = {sid: Subnet(sid, sn.az, sn.cidr.num_addresses - 5 - other.get(sid, 0))
                        for sid, sn in sorted(topo.subnets.items())}
        self.hyperplane: dict[Key, HyperplaneEnis] = {}
        self.legacy: dict[str, int] = {}             # subnet -> legacy ENIs
        self.eni_quota = settings.eni_quota
        self.tokens = float(settings.ec2_bucket)
        self.nat_up = {n: True for n in topo.nat_gateways}

    # ---- addresses ----------------------------------------------------------------
    def lambda_enis(self, subnet: str) -> int:
        return sum(h.total for k, h in self.hyperplane.items() if k[0] == subnet) + \
            self.legacy.get(subnet, 0)

    def free(self, subnet: str) -> int:
        sn = self.subnets[subnet]
        return sn.base_free - sn.filled - self.lambda_enis(subnet)

    def vpc_enis(self, vpc: str) -> int:
        return sum(h.total for k, h in self.hyperplane.items()
                   if self.topo.subnets[k[0]].vpc == vpc)

    def refill(self, dt: float) -> None:
        self.tokens = min(float(self.s.ec2_bucket), self.tokens + self.s.ec2_refill * dt)

    # ---- Hyperplane ENIs ----------------------------------------------------------
    def create(self, key: Key, now: float) -> str | None:
        """One CreateNetworkInterface for a Hyperplane ENI; the error name, or None."""
        if self.tokens < 1:
            return "EC2ThrottledException"
        self.tokens -= 1
        vpc = self.topo.subnets[key[0]].vpc
        if self.vpc_enis(vpc) >= self.eni_quota:
            return "ENILimitReachedException"
        if not self.subnets[key[0]].up or self.free(key[0]) <= 0:
            return "SubnetIPAddressLimitReachedException"
        h = self.hyperplane.setdefault(key, HyperplaneEnis())
        h.pending.append(now + self.s.eni_pending)
        h.error = None
        return None

    def settle(self, now: float) -> None:
        """ENIs whose creation time has passed become available."""
        for h in self.hyperplane.values():
            if h.pending:
                ready = [t for t in h.pending if t <= now]
                h.available += len(ready)
                h.pending = [t for t in h.pending if t > now]

    def lose_subnet(self, subnet: str) -> None:
        self.subnets[subnet].up = False
        for k, h in self.hyperplane.items():
            if k[0] == subnet:
                h.available, h.pending = 0, []
        self.legacy.pop(subnet, None)

    # ---- routes --------------------------------------------------------------------
    def route(self, subnet: str, ip: int) -> tuple[str, str | None]:
        """('nat', id), ('local', None) or (kind, target) for a destination address."""
        topo = self.topo
        rt = topo.route_tables[topo.subnets[subnet].route_table]
        addr = ipaddress.IPv4Address(ip)
        best, best_len = None, -1
        for r in rt.routes:
            nets = ([r.destination] if r.destination is not None else
                    list(topo.prefix_lists[r.prefix_list].cidrs) if r.prefix_list else [])
            for net in nets:
                if addr in net and net.prefixlen > best_len:
                    best, best_len = r, net.prefixlen
        if best is None:
            return ("none", None)
        if best.blackhole:
            return ("blackhole", best.target)
        if best.target_kind == NAT:
            return ("nat", best.target)
        return (best.target_kind, best.target)


def legacy_per_eni(memory_mb: int, gb_per_eni: float) -> int:
    """L11: addresses ~ concurrency x memory / 3 GB, i.e. an ENI serves floor(3 GB /
    memory) environments (at least one)."""
    return max(1, int(math.floor(gb_per_eni * 1024 / memory_mb + 1e-9)))


def spread(total: int, n: int) -> list[int]:
    """`total` items round-robin over n places."""
    if n == 0:
        return []
    return [total // n + (1 if i < total % n else 0) for i in range(n)]
