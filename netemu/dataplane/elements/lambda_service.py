"""The Lambda side: execution environments in the Lambda service VPC (L1) and the
Hyperplane NAT that puts their traffic onto a shared ENI in the customer VPC (L2, L3)."""

from __future__ import annotations

import numpy as np

from netemu.addr import PRIVATE_NETS, in_ranges
from netemu.dataplane.elements.base import Element, Runtime
from netemu.dataplane.elements.snat import translate_back, translate_out
from netemu.dataplane.state import SourceNat


class LambdaService(Element):
    """Where execution environments send from and replies are delivered to. A function
    without VPC configuration leaves through Lambda's own NAT to the internet (L1)."""
    kind = "lambda-service"

    def __init__(self, base: int, per_function: int, hyperplane: np.ndarray,
                 in_vpc: np.ndarray, public_nat: SourceNat, internet: int,
                 vpc_cidrs: list) -> None:
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

    def __init__(self, eni: str, ip: int, nat: SourceNat, lambda_service: int) -> None:
        super().__init__(eni)
        self.ip = ip
        self.nat = nat
        self.lambda_service = lambda_service
        self.eni_out = -1

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        inbound = b["dst"][idx] == self.ip
        back = translate_back(b, idx[inbound], self, self.nat, rt,
                              "LAMBDA_INBOUND_NOT_SUPPORTED")
        rt.forward(b, back, self, self.lambda_service)
        out = translate_out(b, idx[~inbound], self, self.nat, rt, "LAMBDA_ENI_CONNECTION_LIMIT")
        rt.forward(b, out, self, self.eni_out)
