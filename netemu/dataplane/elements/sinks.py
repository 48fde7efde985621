"""Where packets end or leave AWS: the internet, the Amazon-provided services (S6), and
sinks (hosts, interfaces, AWS services)."""

from __future__ import annotations

import numpy as np

from netemu.addr import PRIVATE_NETS, in_ranges, net_range
from netemu.dataplane.elements.base import Element, Node, Runtime
from netemu.dataplane.elements.public_ips import PublicMap
from netemu.dataplane.table import Row, point
from netemu.model import aws_services


class Internet(Element):
    """Everything outside AWS's private networks: hosts, AWS public endpoints, and the
    public addresses of VPCs and of Lambda's own egress."""
    kind = "internet"
    next_names = ("lambda egress", "public address", "aws-public-endpoints", "host")

    def __init__(self, public_owner: dict[int, int], lambda_egress: int, lambda_service: int,
                 aws_ranges: list, internet_sink: int, aws_sink: int,
                 public_keys: dict | None = None) -> None:
        super().__init__("internet")
        self.lambda_service = lambda_service
        self.public_ips = np.array(sorted(public_owner), dtype=np.uint32)
        self.public_next = np.array([public_owner[k] for k in sorted(public_owner)],
                                    dtype=np.int32)
        self.lambda_egress = lambda_egress
        self.aws_ranges = aws_ranges
        self.internet_sink = internet_sink
        self.aws_sink = aws_sink
        self.public_keys = public_keys or {}     # public address -> its igw-ingress key

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node(("internet", ""))]

    @classmethod
    def build(cls, topo, graph) -> list:
        here, keys = ("internet", ""), {}
        for g, igw in sorted(topo.internet_gateways.items()):
            for pub in PublicMap.of(topo, graph.book, igw.vpc).public:
                keys[int(pub)] = ("igw-in", g)
        for key in dict.fromkeys(keys.values()):
            graph.link(here, "public address", key)
        lambda_ip = int(aws_services.LAMBDA_PUBLIC_EGRESS.network_address + 10)
        internet = cls({ip: graph.index(k) for ip, k in keys.items()}, lambda_ip,
                       graph.link(here, "lambda egress", ("lambda", "")),
                       [c for c, _ in aws_services.aws_service_ranges()],
                       graph.link(here, "host", ("sink", "internet")),
                       graph.link(here, "aws-public-endpoints", ("sink", "aws")), keys)
        return [(here, internet)]

    def table(self) -> list[Row]:
        """The order process() settles overlaps in: Lambda's egress address, private
        addresses, VPCs' public addresses, AWS's ranges, then any other host."""
        return ([Row({"dst": point(self.lambda_egress)}, next=("lambda", ""))]
                + [Row({"dst": net_range(n)}, "drop", reason="UNKNOWN_DESTINATION")
                   for n in PRIVATE_NETS]
                + [Row({"dst": point(ip)}, next=k) for ip, k in sorted(self.public_keys.items())]
                + [Row({"dst": net_range(n)}, next=("sink", "aws")) for n in self.aws_ranges]
                + [Row(next=("sink", "internet"))])

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


class AmazonProvided(Element):
    """The Amazon resolver, metadata and time sync (S6): answered without security groups
    or ACLs; their answers go straight to what owns the asking interface."""
    kind = "amazon-provided"
    next_names = ("asker",)

    def __init__(self, addresses: np.ndarray, eni_anywhere, owner_of_eni: np.ndarray,
                 answers: list, reply_from: int) -> None:
        super().__init__("amazon-provided-services")
        self.addresses = addresses
        self.eni_anywhere = eni_anywhere
        self.owner_of_eni = owner_of_eni
        self.answers = answers                # (asker address, the owner node's key)
        self.reply_from = reply_from          # it answers itself

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node(("amazon", ""))]

    @classmethod
    def build(cls, topo, graph) -> list:
        here, book = ("amazon", ""), graph.book
        answers, seen = [], set()
        for v in range(len(book.vpc_ids)):              # the first VPC owning it wins
            for e in book.enis_in(v):
                ip = int(book.eni_ip[e])
                if ip not in seen:
                    seen.add(ip)
                    key = graph.owner_key(book.eni_ids[e])
                    graph.link(here, "asker", key)
                    answers.append((ip, key))
        return [(here, cls(graph.service_addresses, book.eni_anywhere,
                           graph.doors.owner_of_eni, answers, graph.index(here)))]

    def table(self) -> list[Row]:
        rows = []
        for a in self.addresses:
            rows += [Row({"src": point(a), "dst": point(ip)}, next=k) for ip, k in self.answers]
            rows.append(Row({"src": point(a)}, "drop", reason="UNKNOWN_DESTINATION"))
        return rows + [Row(action="deliver")]

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        answer = np.isin(b["src"][idx], self.addresses)
        rt.deliver(b, idx[~answer], self)
        idx = idx[answer]
        eni = self.eni_anywhere(b["dst"][idx])
        rt.drop(b, idx[eni < 0], self, "UNKNOWN_DESTINATION")
        rt.forward(b, idx[eni >= 0], self, self.owner_of_eni[eni[eni >= 0]])


class Sink(Element):
    """Where packets arrive: a host, an AWS service, the internet, an interface."""
    next_names = ("answers",)             # where its answers start (not a next hop)

    def __init__(self, kind: str, resource: str, reply_from: int = -1) -> None:
        super().__init__(resource)
        self.kind = kind
        self.reply_from = reply_from

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node(("sink", "internet")), Node(("sink", "aws"))]

    @classmethod
    def build(cls, topo, graph) -> list:
        """The internet's two sinks, and what owns every interface that neither
        forwards nor belongs to Lambda or a NAT gateway."""
        inet = ("internet", "")
        out = [(("sink", "internet"), cls("internet-host", "internet", graph.link(
                    ("sink", "internet"), "answers", inet))),
               (("sink", "aws"), cls("aws-service", "aws-public-endpoints", graph.link(
                   ("sink", "aws"), "answers", inet)))]
        for e in graph.book.eni_ids:
            if graph.eni_role(e) != "owner" or graph.forwards(e):
                continue
            eni, host = topo.enis[e], topo.host_by_eni.get(e)
            kind = ("endpoint-service" if eni.kind == "vpc_endpoint" else
                    host.kind if host else "interface")
            resource = eni.attached_to or (host.id if host else eni.id)
            out.append((("owner", e), cls(kind, resource, graph.link(
                ("owner", e), "answers", ("out", e)))))
        return out

    def table(self) -> list[Row]:
        return [Row(action="deliver")]

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        rt.deliver(b, idx, self)
