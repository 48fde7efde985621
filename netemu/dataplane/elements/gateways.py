"""Gateways: NAT gateway (G1-G5), internet gateway (I1), gateway endpoints (E1),
peering connections, and route targets netemu does not emulate."""

from __future__ import annotations

import numpy as np

from netemu.addr import in_ranges, net_range
from netemu.dataplane.elements.base import Element, Node, Runtime
from netemu.dataplane.elements.public_ips import PublicMap
from netemu.dataplane.elements.sinks import Sink
from netemu.dataplane.elements.snat import translate_back, translate_out
from netemu.dataplane.state import SourceNat
from netemu.dataplane.table import FORGOTTEN, KNOWN_TRANSLATION, NO_PORT, Row, gaps, point
from netemu.model import aws_services
from netemu.model.resources import IGW, NAT, PCX, VPCE
from netemu.packet import ICMP, TCP, UDP


def enter_eni(b: np.ndarray, idx: np.ndarray, here: Element, eni: np.ndarray, rt: Runtime,
              doors) -> None:
    """From a gateway into a VPC: the destination subnet's inbound ACL, then the ENI."""
    rt.drop(b, idx[eni < 0], here, "UNKNOWN_DESTINATION")
    ok, eni = idx[eni >= 0], eni[eni >= 0]
    rt.forward(b, ok, here, doors.acl_in[doors.eni_subnet[eni]], via=doors.eni_in[eni])


def entry_rows(book, enis: np.ndarray, box: dict | None = None) -> list[Row]:
    """Into a VPC: one row per interface address, on to it through its subnet's ACL."""
    return [Row({**(box or {}), "dst": point(book.eni_ip[e])},
                next=("in", book.eni_ids[e]),
                through=("acl-in", book.subnet_ids[book.eni_subnet[e]])) for e in enis]


class NatGatewayElement(Element):
    """Reached through its ENI (no security groups, G5). Outbound flows get its private
    IP and a port (G1); replies are translated back; nothing else gets in."""
    kind = "nat-gateway"
    next_names = ("router",)
    route_targets = (NAT,)

    def __init__(self, nat_id: str, ip: int, nat: SourceNat, vpc_index: int, router: int,
                 vpc_ranges: list, point: int, router_key: tuple[str, str] = ("", "")
                 ) -> None:
        super().__init__(nat_id)
        self.point = point            # its ENI: it logs both legs of each flow (F4)
        self.ip = ip
        self.nat = nat
        self.vpc_index = vpc_index
        self.router = router
        self.vpc_ranges = vpc_ranges
        self.router_key = router_key

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node(("nat", n)) for n in sorted(topo.nat_gateways)]

    @classmethod
    def build(cls, topo, graph) -> list:
        out, st = [], graph.settings
        for i, (n, nat) in enumerate(sorted(topo.nat_gateways.items())):
            vpc = topo.subnets[nat.subnet].vpc
            key, router = ("nat", n), ("router", nat.subnet)
            element = cls(n, int(nat.private_ip), SourceNat(
                int(nat.private_ip), per_destination=st.nat_connections_per_destination,
                idle=st.timeouts.nat_gateway, seed=st.seed + 7919 * (i + 1)),
                graph.book.vpc_index[vpc], graph.link(key, "router", router),
                graph.book.vpc_ranges[vpc], graph.book.eni_index[nat.eni], router)
            out.append((key, element))
        return out

    @classmethod
    def route_node(cls, topo, graph, target: str) -> tuple[str, str]:
        return ("in", topo.nat_gateways[target].eni)      # through its ENI

    def table(self) -> list[Row]:
        mine, r = {"dst": point(self.ip)}, self.router_key
        inside = [net_range(c) for c in self.vpc_ranges]
        other = gaps([point(p) for p in (ICMP, TCP, UDP)], 0xFF)
        return ([Row(mine, "rewrite", r, rewrite={"dst": "original", "dport": "original"},
                     state=KNOWN_TRANSLATION),
                 Row(mine, "drop", reason="NGW_NO_INBOUND"),
                 Row({"src": point(self.ip)}, "drop", reason="NGW_NO_ROUTE_TO_IGW")]
                + [Row({"src": g}, "drop", reason="NGW_REQUIRES_SOURCE_IN_VPC")
                   for g in gaps(inside, 0xFFFFFFFF)]
                + [Row({"proto": p}, "drop", reason="PROTOCOL_RESTRICTION") for p in other]
                + [Row(action="drop", reason="NGW_IDLE_TIMEOUT", state=FORGOTTEN),
                   Row(action="drop", reason="NGW_PORT_ALLOCATION", state=NO_PORT),
                   Row(action="rewrite", next=r,
                       rewrite={"src": self.ip, "sport": "allocated"})])

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


class InternetGatewayOut(Element):
    """I1: the source's private IPv4 becomes its public one; without one, no internet."""
    kind = "igw-egress"
    direction = "egress"
    next_names = ("internet",)
    route_targets = (IGW,)

    def __init__(self, igw: str, pairs: PublicMap, internet: int, point: int) -> None:
        super().__init__(igw)
        self.pairs = pairs
        self.internet = internet
        self.point = point

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node((k, g)) for g in sorted(topo.internet_gateways)
                for k in ("igw-out", "igw-in")]

    @classmethod
    def build(cls, topo, graph) -> list:
        """Both sides of every internet gateway (InternetGatewayIn has no entry of its
        own in the registry: the two share their address pairs)."""
        out = []
        for g, igw in sorted(topo.internet_gateways.items()):
            pairs = PublicMap.of(topo, graph.book, igw.vpc)
            point = graph.points.index(g)
            out.append((("igw-out", g), cls(g, pairs, graph.link(
                ("igw-out", g), "internet", ("internet", "")), point)))
            out.append((("igw-in", g), InternetGatewayIn(g, pairs, graph.book, graph.doors,
                                                         point)))
            for e in sorted(set(pairs.eni.tolist())):
                graph.link(("igw-in", g), "into the VPC", ("in", graph.book.eni_ids[e]))
        return out

    @classmethod
    def route_node(cls, topo, graph, target: str) -> tuple[str, str]:
        return ("igw-out", target)

    def table(self) -> list[Row]:
        return [Row({"src": point(pv)}, "rewrite", ("internet", ""), rewrite={"src": int(pb)})
                for pv, pb in zip(self.pairs.private, self.pairs.public, strict=True)] \
            + [Row(action="drop", reason="IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS")]

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
    direction = "ingress"
    next_names = ("into the VPC",)

    def __init__(self, igw: str, pairs: PublicMap, book, doors, point: int) -> None:
        super().__init__(igw)
        self.pairs = pairs
        self.book = book
        self.doors = doors
        self.point = point

    def table(self) -> list[Row]:
        rows = []
        for pb, pv, e in zip(self.pairs.public, self.pairs.private, self.pairs.eni,
                             strict=True):
            entry = entry_rows(self.book, np.array([e]))[0]
            rows.append(Row({"dst": point(pb)}, "rewrite", entry.next,
                            rewrite={"dst": int(pv)}, through=entry.through))
        return rows + [Row(action="drop", reason="IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS")]

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        rt.observe(b, idx, self.point, True)          # the public side, before translation
        pos = self.pairs.by_public(b["dst"][idx])
        rt.drop(b, idx[pos < 0], self, "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS")
        ok, pos = idx[pos >= 0], pos[pos >= 0]
        rt.translate(b, ok, self, "dst", self.pairs.private[pos])
        enter_eni(b, ok, self, self.pairs.eni[pos], rt, self.doors)


class GatewayEndpoint(Element):
    """E1: S3 or DynamoDB through the prefix-list route, its policy permitting; the
    service's answers come back through it into the VPC."""
    kind = "gateway-endpoint"
    next_names = ("service", "into the VPC")
    route_targets = (VPCE,)

    def __init__(self, vpce: str, ranges: list, allows: bool, sink: int, vpc_index: int,
                 book, doors) -> None:
        super().__init__(vpce)
        self.ranges = ranges
        self.allows = allows
        self.sink = sink
        self.vpc_index = vpc_index
        self.book = book
        self.doors = doors

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node((k, ep)) for ep in sorted(topo.endpoints) for k in ("vpce", "vpce-sink")]

    @classmethod
    def build(cls, topo, graph) -> list:
        out, book = [], graph.book
        for ep_id, ep in sorted(topo.endpoints.items()):
            short = aws_services.service_short_name(ep.service)
            ranges = list(topo.prefix_lists[ep.prefix_list].cidrs) if ep.prefix_list else []
            key, sink = ("vpce", ep_id), ("vpce-sink", ep_id)
            vpc = book.vpc_index[ep.vpc]
            out.append((key, cls(ep_id, ranges, ep.policy_allows,
                                 graph.link(key, "service", sink), vpc, book, graph.doors)))
            for e in book.enis_in(vpc):
                graph.link(key, "into the VPC", ("in", book.eni_ids[e]))
            out.append((sink, Sink("aws-service", f"{short} via {ep_id}",
                                   graph.link(sink, "answers", key))))
        return out

    @classmethod
    def route_node(cls, topo, graph, target: str) -> tuple[str, str]:
        return ("vpce", target)

    def table(self) -> list[Row]:
        service = [net_range(c) for c in self.ranges]
        to = [Row({"dst": r}, next=("vpce-sink", self.resource)) if self.allows else
              Row({"dst": r}, "drop", reason="VPCE_POLICY_RESTRICTION") for r in service]
        return to + entry_rows(self.book, self.book.enis_in(self.vpc_index)) \
            + [Row(action="drop", reason="UNKNOWN_DESTINATION")]

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        to_service = in_ranges(b["dst"][idx], self.ranges)
        out = idx[to_service]
        if not self.allows:
            rt.drop(b, out, self, "VPCE_POLICY_RESTRICTION")
        else:
            rt.forward(b, out, self, self.sink)
        back = idx[~to_service]
        enter_eni(b, back, self, self.book.eni_at(self.vpc_index, b["dst"][back]), rt,
                  self.doors)


class PeeringElement(Element):
    """A VPC peering connection: straight into the peer VPC's subnet that holds the
    destination (no transitive routing: only the two VPCs' own addresses)."""
    kind = "vpc-peering"
    next_names = ("into the VPC",)
    route_targets = (PCX,)

    def __init__(self, pcx: str, active: bool, vpcs: list[tuple[int, list]], book,
                 doors) -> None:
        super().__init__(pcx)
        self.active = active
        self.vpcs = vpcs            # (vpc index, CIDRs) of both sides
        self.book = book
        self.doors = doors

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node(("pcx", p)) for p in sorted(topo.peerings)]

    @classmethod
    def build(cls, topo, graph) -> list:
        out, book = [], graph.book
        for p, pcx in sorted(topo.peerings.items()):
            sides = [(book.vpc_index[v], book.vpc_ranges[v])
                     for v in (pcx.requester_vpc, pcx.accepter_vpc)]
            for vpc, _ in sides:
                for e in book.enis_in(vpc):
                    graph.link(("pcx", p), "into the VPC", ("in", book.eni_ids[e]))
            out.append((("pcx", p), cls(p, pcx.active, sides, book, graph.doors)))
        return out

    @classmethod
    def route_node(cls, topo, graph, target: str) -> tuple[str, str]:
        return ("pcx", target)

    def table(self) -> list[Row]:
        if not self.active:
            return [Row(action="drop", reason="CANNOT_ROUTE")]
        rows: list[Row] = []
        for vpc, cidrs in self.vpcs:        # the first side holding the address wins
            for e in self.book.enis_in(vpc):
                ip = int(self.book.eni_ip[e])
                if any(lo <= ip <= hi for lo, hi in map(net_range, cidrs)) and not any(
                        r.match["dst"] == point(ip) for r in rows):
                    rows += entry_rows(self.book, np.array([e]))
        return rows + [Row(action="drop", reason="UNKNOWN_DESTINATION")]

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        if not self.active:
            rt.drop(b, idx, self, "CANNOT_ROUTE")
            return
        eni = np.full(len(idx), -1, dtype=np.int64)
        dst = b["dst"][idx]
        for vpc_index, cidrs in self.vpcs:
            inside = in_ranges(dst, cidrs)
            eni[inside] = self.book.eni_at(vpc_index, dst[inside])
        enter_eni(b, idx, self, eni, rt, self.doors)


class Unmodelled(Element):
    """A route target netemu does not emulate (transit gateway, VPN gateway...)."""
    kind = "unmodelled-target"

    @classmethod
    def _targets(cls, topo, graph) -> list[str]:
        modelled = graph.modelled_route_kinds()
        return [r.target for rt in topo.route_tables.values() for r in rt.routes
                if r.target_kind not in modelled and not r.blackhole]

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node(("unmodelled", t)) for t in cls._targets(topo, graph)]

    @classmethod
    def build(cls, topo, graph) -> list:
        return [(("unmodelled", t), cls(t)) for t in dict.fromkeys(cls._targets(topo, graph))]

    def table(self) -> list[Row]:
        return [Row(action="drop", reason="CANNOT_ROUTE")]

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        rt.drop(b, idx, self, "CANNOT_ROUTE")
