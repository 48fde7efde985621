"""The Lambda side: execution environments in the Lambda service VPC (L1) and the
Hyperplane NAT that puts their traffic onto a shared ENI in the customer VPC (L2, L3)."""

from __future__ import annotations

import numpy as np

from netemu.addr import PRIVATE_NETS, in_ranges, net_range
from netemu.dataplane.elements.base import Element, Node, Runtime
from netemu.dataplane.elements.snat import translate_back, translate_out
from netemu.dataplane.state import SourceNat
from netemu.dataplane.table import KNOWN_TRANSLATION, NO_PORT, Row, point
from netemu.model import aws_services


class LambdaService(Element):
    """Where execution environments send from and replies are delivered to. A function
    without VPC configuration leaves through Lambda's own NAT to the internet (L1)."""
    kind = "lambda-service"
    next_names = ("hyperplane", "internet")

    def __init__(self, base: int, per_function: int, hyperplane: np.ndarray,
                 in_vpc: np.ndarray, public_nat: SourceNat, internet: int,
                 vpc_cidrs: list, hp_keys: dict | None = None) -> None:
        super().__init__("lambda-service-vpc")
        self.base, self.per_function = base, per_function
        # per function: the Hyperplane element of each of its subnets (-1 padded), how
        # many subnets it has, and whether it has VPC configuration at all
        self.hyperplane = hyperplane
        self.n_subnets = np.maximum((hyperplane != -2).sum(axis=1), 1)
        self.in_vpc = in_vpc
        self.public_nat = public_nat
        self.internet = internet
        self.unreachable = list(PRIVATE_NETS) + list(vpc_cidrs)
        self.hp_keys = hp_keys or {}          # Hyperplane node index -> its key

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node(("lambda", ""))]

    @classmethod
    def build(cls, topo, graph) -> list:
        here = ("lambda", "")
        width = max([len(f.subnets) for f in topo.functions.values()] + [1])
        # per function, the Hyperplane element of each subnet (-1: no ENI there; -2 pads)
        table = np.full((len(topo.functions), width), -2, dtype=np.int64)
        keys = {}
        for i, name in enumerate(topo.function_order):
            for j in range(len(topo.functions[name].subnets)):
                eni = topo.environment(name, j).eni
                table[i, j] = graph.link(here, "hyperplane", ("hp", eni)) if eni else -1
                if eni:
                    keys[int(table[i, j])] = ("hp", eni)
        lambda_ip = int(aws_services.LAMBDA_PUBLIC_EGRESS.network_address + 10)
        element = cls(int(aws_services.LAMBDA_ENV_BASE), aws_services.ENVS_PER_FUNCTION,
                      table, np.array([topo.functions[f].in_vpc for f in topo.function_order],
                                      dtype=bool),
                      SourceNat(lambda_ip, seed=graph.settings.seed),
                      graph.link(here, "internet", ("internet", "")),
                      [c for v in topo.vpcs.values() for c in v.cidrs], keys)
        return [(here, element)]

    def table(self) -> list[Row]:
        """Replies to Lambda's own egress, then environments as destinations, then per
        function: each environment address (environment k leaves by subnet k mod n, L7)
        to its Hyperplane NAT, or out through Lambda's own NAT without VPC (L1)."""
        pub = {"dst": point(self.public_nat.ip)}
        n_fn = len(self.in_vpc)
        envs = (self.base, self.base + n_fn * self.per_function - 1)
        rows = [Row(pub, "rewrite", ("lambda", ""), state=KNOWN_TRANSLATION,
                    rewrite={"dst": "original", "dport": "original"}),
                Row(pub, "drop", reason="LAMBDA_INBOUND_NOT_SUPPORTED")]
        if n_fn:
            rows.append(Row({"dst": envs}, "deliver"))
        for f in range(n_fn):
            lo = self.base + f * self.per_function
            span = {"src": (lo, lo + self.per_function - 1)}
            if not self.in_vpc[f]:
                rows += [Row({**span, "dst": net_range(n)}, "drop", reason="LAMBDA_NOT_IN_VPC")
                         for n in self.unreachable]
                rows += [Row(span, "drop", reason="LAMBDA_ENI_CONNECTION_LIMIT",
                             state=NO_PORT),
                         Row(span, "rewrite", ("internet", ""),
                             rewrite={"src": self.public_nat.ip, "sport": "allocated"})]
                continue
            hp = self.hyperplane[f][: self.n_subnets[f]]
            for k in range(self.per_function if len(hp) > 1 else 1):
                box = {"src": point(lo + k)} if len(hp) > 1 else span
                nxt = int(hp[k % len(hp)])
                rows.append(Row(box, next=self.hp_keys[nxt]) if nxt >= 0 else
                            Row(box, "drop", reason="LAMBDA_ENI_MISSING"))
        return rows + [Row(action="drop", reason="NOT_PLACED")]

    def function_of(self, ips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Function index (-1 when the address is no environment's) and environment number."""
        off = ips.astype(np.int64) - self.base
        fn = off // self.per_function
        fn = np.where((off >= 0) & (fn < len(self.in_vpc)), fn, -1)
        return fn, off % self.per_function

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        back = b["dst"][idx] == self.public_nat.ip
        if back.any():                           # replies to a function without VPC
            rt.deliver(b, translate_back(b, idx[back], self, self.public_nat, rt,
                                         "LAMBDA_INBOUND_NOT_SUPPORTED"), self)
            idx = idx[~back]
        to_env = self.function_of(b["dst"][idx])[0] >= 0
        rt.deliver(b, idx[to_env], self)
        idx = idx[~to_env]
        fn, k = self.function_of(b["src"][idx])
        rt.drop(b, idx[fn < 0], self, "NOT_PLACED")
        idx, fn, k = idx[fn >= 0], fn[fn >= 0], k[fn >= 0]
        in_vpc = self.in_vpc[fn]
        nxt = self.hyperplane[fn, k % self.n_subnets[fn]] if len(fn) else fn
        rt.drop(b, idx[in_vpc & (nxt < 0)], self, "LAMBDA_ENI_MISSING")
        hp = in_vpc & (nxt >= 0)
        rt.forward(b, idx[hp], self, nxt[hp])
        self._public_egress(b, idx[~in_vpc], rt)

    def _public_egress(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        private = in_ranges(b["dst"][idx], self.unreachable)
        rt.drop(b, idx[private], self, "LAMBDA_NOT_IN_VPC")
        out = translate_out(b, idx[~private], self, self.public_nat, rt,
                            "LAMBDA_ENI_CONNECTION_LIMIT")
        rt.forward(b, out, self, self.internet)


class HyperplaneNat(Element):
    """L3: environments' flows NATed onto the ENI's private IP and a port; replies
    translated back; anything else arriving at the ENI is refused (L5)."""
    kind = "hyperplane-nat"
    next_names = ("lambda-service", "interface")

    def __init__(self, eni: str, ip: int, nat: SourceNat, lambda_service: int,
                 eni_out: int) -> None:
        super().__init__(eni)
        self.ip = ip
        self.nat = nat
        self.lambda_service = lambda_service
        self.eni_out = eni_out

    @classmethod
    def build(cls, topo, graph) -> list:
        """What sits behind every Lambda ENI (EniIn declares the nodes)."""
        out = []
        for i, e in enumerate(graph.book.eni_ids):
            if graph.eni_role(e) != "hp":
                continue
            ip, key = int(topo.enis[e].private_ip), ("hp", e)
            out.append((key, cls(e, ip, SourceNat(
                ip, total=graph.settings.hyperplane_connections, seed=graph.settings.seed + i),
                graph.link(key, "lambda-service", ("lambda", "")),
                graph.link(key, "interface", ("out", e)))))
        return out

    def table(self) -> list[Row]:
        """L3 and L5: replies translated back, nothing else gets in; environments' flows
        get the ENI's address and a port."""
        mine = {"dst": point(self.ip)}
        return [Row(mine, "rewrite", ("lambda", ""), state=KNOWN_TRANSLATION,
                    rewrite={"dst": "original", "dport": "original"}),
                Row(mine, "drop", reason="LAMBDA_INBOUND_NOT_SUPPORTED"),
                Row(action="drop", reason="LAMBDA_ENI_CONNECTION_LIMIT", state=NO_PORT),
                Row(action="rewrite", next=("out", self.resource),
                    rewrite={"src": self.ip, "sport": "allocated"})]

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        inbound = b["dst"][idx] == self.ip
        back = translate_back(b, idx[inbound], self, self.nat, rt,
                              "LAMBDA_INBOUND_NOT_SUPPORTED")
        rt.forward(b, back, self, self.lambda_service)
        out = translate_out(b, idx[~inbound], self, self.nat, rt, "LAMBDA_ENI_CONNECTION_LIMIT")
        rt.forward(b, out, self, self.eni_out)
