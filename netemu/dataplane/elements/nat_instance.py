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
from netemu.dataplane.table import KNOWN_TRANSLATION, NO_PORT, Row, point
from netemu.packet import pick


class NatInstance(Element):
    kind = "nat-instance"
    next_names = ("interface",)

    def __init__(self, resource: str, eni: str, ip: int, nat: SourceNat,
                 eni_out: int) -> None:
        super().__init__(resource)
        self.eni = eni
        self.ip = ip
        self.nat = nat
        self.eni_out = eni_out
        self.reply_from = eni_out          # what it answers itself leaves by its interface

    @classmethod
    def build(cls, topo, graph) -> list:
        """What sits behind every instance interface with the check off (EniIn declares
        the nodes)."""
        out = []
        for i, e in enumerate(graph.book.eni_ids):
            if not graph.forwards(e):
                continue
            eni, host = topo.enis[e], topo.host_by_eni.get(e)
            ip, key = int(eni.private_ip), ("owner", e)
            out.append((key, cls(eni.attached_to or (host.id if host else e), e, ip,
                                 SourceNat(ip, seed=graph.settings.seed + 104_729 * (i + 1)),
                                 graph.link(key, "interface", ("out", e)))))
        return out

    def table(self) -> list[Row]:
        mine, out = {"dst": point(self.ip)}, ("out", self.eni)
        return [Row(mine, "rewrite", out, state=KNOWN_TRANSLATION, rule=self.rule_text(0),
                    rewrite={"dst": "original", "dport": "original"}),
                Row(mine, "deliver"),
                Row({"src": point(self.ip)}, "drop", reason="ROUTING_LOOP"),
                Row(action="drop", reason="NAT_INSTANCE_PORT_ALLOCATION", state=NO_PORT),
                Row(action="rewrite", next=out, rule=self.rule_text(0),
                    rewrite={"src": self.ip, "sport": "allocated"})]

    def rule_text(self, rule: int) -> str:
        return f"NAT instance {self.eni}: assumed to masquerade (source/dest check off)"

    def drop_resource(self, rule: int) -> str:
        return self.eni

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        mine = b["dst"][idx] == self.ip
        own = idx[mine]
        if len(own):
            addr, port, back = self.nat.inbound(pick(b, own))
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
