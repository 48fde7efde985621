"""Gateways: NAT gateway (G1-G5), internet gateway (I1), the internet itself, gateway
endpoints (E1) and peering connections."""

from __future__ import annotations

import numpy as np

from netemu.addr import PRIVATE_NETS, in_ranges
from netemu.dataplane.elements.base import Element, Runtime
from netemu.dataplane.elements.snat import translate_back, translate_out
from netemu.dataplane.packet import ICMP, TCP, UDP
from netemu.dataplane.state import SourceNat


class NatGatewayElement(Element):
    """Reached through its ENI (no security groups, G5). Outbound flows get its private
    IP and a port (G1); replies are translated back; nothing else gets in."""
    kind = "nat-gateway"

    def __init__(self, nat_id: str, ip: int, nat: SourceNat, vpc_index: int, router: int,
                 vpc_ranges: list, point: int) -> None:
        super().__init__(nat_id)
        self.point = point            # its ENI: it logs both legs of each flow (F4)
        self.ip = ip
        self.nat = nat
        self.vpc_index = vpc_index
        self.router = router
        self.vpc_ranges = vpc_ranges

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        inbound = b["dst"][idx] == self.ip
        back = translate_back(b, idx[inbound], self, self.nat, rt, "NGW_NO_INBOUND")
        rt.observe(b, back, self.point, True)
        rt.forward(b, back, self, self.router)
        out = idx[~inbound]
        looped = b["src"][out] == self.ip      # G2: its own subnet routed it back here
        rt.drop(b, out[looped], self, "NGW_NO_ROUTE_TO_IGW")
        out = out[~looped]
        outside = ~in_ranges(b["src"][out], self.vpc_ranges)
        rt.drop(b, out[outside], self, "NGW_REQUIRES_SOURCE_IN_VPC")
        out = out[~outside]
        proto = b["proto"][out]
        bad = ~np.isin(proto, (TCP, UDP, ICMP))
        rt.drop(b, out[bad], self, "PROTOCOL_RESTRICTION")
        out = translate_out(b, out[~bad], self, self.nat, rt, "NGW_PORT_ALLOCATION",
                            "NGW_IDLE_TIMEOUT")
        rt.observe(b, out, self.point, True)
        rt.forward(b, out, self, self.router)


class _PublicMap:
    """Private IPv4 <-> public IPv4 pairs of one VPC, looked up over whole batches."""

    def __init__(self, pairs: list[tuple[int, int, int]]) -> None:
        # (private, public, eni index)
        self.private = np.array([p[0] for p in pairs], dtype=np.uint32)
        self.public = np.array([p[1] for p in pairs], dtype=np.uint32)
        self.eni = np.array([p[2] for p in pairs], dtype=np.int64)

    @staticmethod
    def _find(keys: np.ndarray, ips: np.ndarray) -> np.ndarray:
        if len(keys) == 0:
            return np.full(len(ips), -1)
        order = np.argsort(keys)
        pos = np.minimum(np.searchsorted(keys[order], ips), len(keys) - 1)
        return np.where(keys[order][pos] == ips, order[pos], -1)

    def by_private(self, ips: np.ndarray) -> np.ndarray:
        return self._find(self.private, ips)

    def by_public(self, ips: np.ndarray) -> np.ndarray:
        return self._find(self.public, ips)


class InternetGatewayOut(Element):
    """I1: the source's private IPv4 becomes its public one; without one, no internet."""
    kind = "igw-egress"

    def __init__(self, igw: str, pairs: _PublicMap, internet: int, point: int) -> None:
        super().__init__(igw)
        self.pairs = pairs
        self.internet = internet
        self.point = point

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        pos = self.pairs.by_private(b["src"][idx])
        rt.drop(b, idx[pos < 0], self, "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS")
        ok = idx[pos >= 0]
        rt.translate(b, ok, self, "src", self.pairs.public[pos[pos >= 0]])
        rt.observe(b, ok, self.point, True)           # the public side, as the internet sees it
        rt.forward(b, ok, self, self.internet)


class InternetGatewayIn(Element):
    """I1, inbound: a public IPv4 back to the private one, then into its subnet."""
    kind = "igw-ingress"

    def __init__(self, igw: str, pairs: _PublicMap, net, point: int) -> None:
        super().__init__(igw)
        self.pairs = pairs
        self.net = net
        self.point = point

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        rt.observe(b, idx, self.point, True)          # the public side, before translation
        pos = self.pairs.by_public(b["dst"][idx])
        rt.drop(b, idx[pos < 0], self, "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS")
        ok, pos = idx[pos >= 0], pos[pos >= 0]
        rt.translate(b, ok, self, "dst", self.pairs.private[pos])
        self.net.enter_eni(b, ok, self, self.pairs.eni[pos], rt)


class Internet(Element):
    """Everything outside AWS's private networks: hosts, AWS public endpoints, and the
    public addresses of VPCs and of Lambda's own egress."""
    kind = "internet"

    def __init__(self, public_owner: dict[int, int], lambda_egress: int, lambda_service: int,
                 aws_ranges: list, internet_sink: int, aws_sink: int) -> None:
        super().__init__("internet")
        self.lambda_service = lambda_service
        self.public_ips = np.array(sorted(public_owner), dtype=np.uint32)
        self.public_next = np.array([public_owner[k] for k in sorted(public_owner)],
                                    dtype=np.int32)
        self.lambda_egress = lambda_egress
        self.aws_ranges = aws_ranges
        self.internet_sink = internet_sink
        self.aws_sink = aws_sink

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        dst = b["dst"][idx]
        nxt = np.full(len(idx), self.internet_sink, dtype=np.int32)
        nxt[in_ranges(dst, self.aws_ranges)] = self.aws_sink
        if len(self.public_ips):
            pos = np.minimum(np.searchsorted(self.public_ips, dst), len(self.public_ips) - 1)
            hit = self.public_ips[pos] == dst
            nxt[hit] = self.public_next[pos[hit]]
        private = in_ranges(dst, PRIVATE_NETS)
        nxt[private] = -1
        nxt[dst == self.lambda_egress] = self.lambda_service
        rt.drop(b, idx[nxt < 0], self, "UNKNOWN_DESTINATION")
        rt.forward(b, idx[nxt >= 0], self, nxt[nxt >= 0])


class GatewayEndpoint(Element):
    """E1: S3 or DynamoDB through the prefix-list route, its policy permitting; the
    service's answers come back through it into the VPC."""
    kind = "gateway-endpoint"

    def __init__(self, vpce: str, ranges: list, allows: bool, sink: int, vpc_index: int,
                 net) -> None:
        super().__init__(vpce)
        self.ranges = ranges
        self.allows = allows
        self.sink = sink
        self.vpc_index = vpc_index
        self.net = net

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        to_service = in_ranges(b["dst"][idx], self.ranges)
        out = idx[to_service]
        if not self.allows:
            rt.drop(b, out, self, "VPCE_POLICY_RESTRICTION")
        else:
            rt.forward(b, out, self, self.sink)
        back = idx[~to_service]
        self.net.enter_eni(b, back, self, self.net.eni_at(self.vpc_index, b["dst"][back]), rt)


class PeeringElement(Element):
    """A VPC peering connection: straight into the peer VPC's subnet that holds the
    destination (no transitive routing: only the two VPCs' own addresses)."""
    kind = "vpc-peering"

    def __init__(self, pcx: str, active: bool, vpcs: list[tuple[int, list]], net) -> None:
        super().__init__(pcx)
        self.active = active
        self.vpcs = vpcs            # (vpc index, CIDRs) of both sides
        self.net = net

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        if not self.active:
            rt.drop(b, idx, self, "CANNOT_ROUTE")
            return
        eni = np.full(len(idx), -1, dtype=np.int64)
        dst = b["dst"][idx]
        for vpc_index, cidrs in self.vpcs:
            inside = in_ranges(dst, cidrs)
            eni[inside] = self.net.eni_at(vpc_index, dst[inside])
        self.net.enter_eni(b, idx, self, eni, rt)


class Unmodelled(Element):
    """A route target netemu does not emulate (transit gateway, VPN gateway...)."""
    kind = "unmodelled-target"

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        rt.drop(b, idx, self, "CANNOT_ROUTE")


class AmazonProvided(Element):
    """The Amazon resolver, metadata and time sync (S6): answered without security groups
    or ACLs; their answers go straight to what owns the asking interface."""
    kind = "amazon-provided"

    def __init__(self, addresses: np.ndarray, net) -> None:
        super().__init__("amazon-provided-services")
        self.addresses = addresses
        self.net = net
        self.reply_from = -1

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        answer = np.isin(b["src"][idx], self.addresses)
        rt.deliver(b, idx[~answer], self)
        idx = idx[answer]
        eni = self.net.eni_anywhere(b["dst"][idx])
        rt.drop(b, idx[eni < 0], self, "UNKNOWN_DESTINATION")
        rt.forward(b, idx[eni >= 0], self, self.net.owner_of_eni[eni[eni >= 0]])


class Sink(Element):
    """Where packets arrive: a host, an AWS service, the internet, the Amazon resolver."""

    def __init__(self, kind: str, resource: str, reply_from: int = -1) -> None:
        super().__init__(resource)
        self.kind = kind
        self.reply_from = reply_from

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        rt.deliver(b, idx, self)
