"""An instance whose interface has source/destination check off, reached as a route's
next hop (AWS VPC User Guide, "NAT instances").

netemu cannot see what the instance runs; it assumes what such an instance is nearly
always for: masquerading. Traffic a route sent it for another address gets the
instance's private IP and a port, leaves through the interface's security groups and
its subnet's route table (the internet gateway then maps the private IP to the
instance's public or Elastic IP, I1); replies are translated back and sent on to the
original sender. Traffic addressed to the instance itself is delivered to it."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.elements.base import Element, Runtime
from netemu.dataplane.elements.snat import translate_out
from netemu.dataplane.state import SourceNat


class NatInstance(Element):
    kind = "nat-instance"

    def __init__(self, resource: str, eni: str, ip: int, nat: SourceNat,
                 eni_out: int) -> None:
        super().__init__(resource)
        self.eni = eni
        self.ip = ip
        self.nat = nat
        self.eni_out = eni_out
        self.reply_from = eni_out          # what it answers itself leaves by its interface

    def rule_text(self, rule: int) -> str:
        return f"NAT instance {self.eni}: assumed to masquerade (source/dest check off)"

    def drop_resource(self, rule: int) -> str:
        return self.eni

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        mine = b["dst"][idx] == self.ip
        own = idx[mine]
        if len(own):
            addr, port, back = self.nat.inbound(b[own])
            rt.translate(b, own[back], self, "dst", addr[back], port_column="dport",
                         ports=port[back])
            rt.forward(b, own[back], self, self.eni_out, rule=0)
            rt.deliver(b, own[~back], self)        # to the instance itself
        fwd = idx[~mine]
        # its own subnet routed its own traffic back to it: the kernel drops a packet
        # that claims to come from itself
        looped = b["src"][fwd] == self.ip
        rt.drop(b, fwd[looped], self, "ROUTING_LOOP")
        out = translate_out(b, fwd[~looped], self, self.nat, rt,
                            "NAT_INSTANCE_PORT_ALLOCATION")
        rt.forward(b, out, self, self.eni_out, rule=0)
