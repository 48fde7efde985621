"""A subnet boundary: its network ACL, stateless, on the way out and on the way in
(N1-N4). Packets between two interfaces of the same subnet never come here."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.classify.first_match import FirstMatch
from netemu.dataplane.compile_rules import CompiledAcl, compile_acl
from netemu.dataplane.elements.base import Element, Node, Runtime
from netemu.dataplane.table import VIA, Row, rule_boxes
from netemu.packet import pick


class _AclElement(Element):
    def __init__(self, subnet: str, acl_id: str, acl: CompiledAcl, matcher: FirstMatch,
                 subnet_index: int) -> None:
        super().__init__(subnet)
        self.acl_id = acl_id
        self.acl = acl
        self.matcher = matcher
        self.subnet = subnet_index
        self.allow = np.array(acl.allow + (False,), dtype=bool)   # index -1: no rule matched

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.resource}({self.acl_id})"

    def rule_text(self, rule: int) -> str:
        return f"{self.acl_id} rule {self.acl.entries[rule].text}"

    def drop_resource(self, rule: int) -> str:
        return self.acl_id

    def check(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> tuple[np.ndarray, np.ndarray]:
        p = pick(b, idx)
        rows = self.matcher.match(p["src"], p["dst"], p["sport"], p["dport"], p["proto"])
        rule = np.where(rows >= 0, self.acl.table.rule[np.maximum(rows, 0)], -1)
        ok = self.allow[rule]
        if rt.observing and not ok.all():    # F: the ENI on this side logs the REJECT
            rt.observe_refused(b, idx[~ok], self.eni_point(b, idx[~ok]))
        rt.drop(b, idx[~ok], self, "SUBNET_ACL_RESTRICTION", rule[~ok])
        return idx[ok], rule[ok]

    def eni_point(self, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def table(self) -> list[Row]:
        """N3: one row per entry in rule-number order (the RuleTable the matcher is
        compiled from), allowed on to where the packet is bound (`via`; leaving for
        another subnet: through that subnet's inbound ACL), then `*`: dropped."""
        rows = [Row(box, next=VIA, rule=self.rule_text(i)) if self.allow[i] else
                Row(box, action="drop", reason="SUBNET_ACL_RESTRICTION",
                    rule=self.rule_text(i))
                for i, box in enumerate(rule_boxes(self.acl.table))]
        return rows + [Row(action="drop", reason="SUBNET_ACL_RESTRICTION")]

    def decider(self, rule: int) -> str:
        return self.acl_id


def _subnet_acls(topo, graph) -> dict:
    """(subnet, egress) -> (CompiledAcl, FirstMatch), compiled once per (ACL, side)."""
    cache: dict = {}
    out = {}
    for x in graph.book.subnet_ids:
        acl_id = topo.subnets[x].acl
        for egress in (True, False):
            if (acl_id, egress) not in cache:
                acl = compile_acl(topo.network_acls[acl_id].entries, egress)
                cache[(acl_id, egress)] = (acl, FirstMatch.cached(acl.table))
            out[(x, egress)] = cache[(acl_id, egress)]
    return out


class AclOut(_AclElement):
    """Leaving the subnet: on to the next hop, through its subnet's inbound ACL when the
    next hop sits in another subnet."""
    kind = "acl-outbound"
    direction = "egress"
    next_names = ("next hop", "subnet entered")

    def __init__(self, *args, acl_in_of_subnet: np.ndarray, elem_subnet: np.ndarray,
                 eni_anywhere) -> None:
        super().__init__(*args)
        self.acl_in_of_subnet = acl_in_of_subnet
        self.elem_subnet = elem_subnet
        self.eni_anywhere = eni_anywhere

    @classmethod
    def nodes(cls, topo, graph) -> list:
        """Every subnet's router and both sides of its boundary (router.py builds the
        router)."""
        return [Node((k, x), x) for x in graph.book.subnet_ids
                for k in ("router", "acl-out", "acl-in")]

    @classmethod
    def build(cls, topo, graph) -> list:
        acls, out = _subnet_acls(topo, graph), []
        book, doors = graph.book, graph.doors
        by_vpc: dict[str, list] = {}
        for y in book.subnet_ids:
            by_vpc.setdefault(topo.subnets[y].vpc, []).append(y)
        for i, x in enumerate(book.subnet_ids):
            sn = topo.subnets[x]
            here = ("acl-out", x)
            graph.link(here, "next hop", ("*", "via"))
            graph.link_all(here, "subnet entered", [("acl-in", y) for y in by_vpc[sn.vpc]
                                                    if y != x])
            out.append((here, cls(x, sn.acl, *acls[(x, True)], i,
                                  acl_in_of_subnet=doors.acl_in,
                                  elem_subnet=doors.elem_subnet,
                                  eni_anywhere=book.eni_anywhere)))
            graph.link(("acl-in", x), "bound for", ("*", "via"))
            out.append((("acl-in", x), AclIn(x, sn.acl, *acls[(x, False)], i,
                                             eni_of_element=doors.eni_of_element)))
        return out

    def eni_point(self, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self.eni_anywhere(b["src"][idx])      # the interface it left from

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        ok, rule = self.check(b, idx, rt)
        target = b["via"][ok]
        dest_subnet = self.elem_subnet[target]
        cross = (dest_subnet >= 0) & (dest_subnet != self.subnet)
        nxt = np.where(cross, self.acl_in_of_subnet[np.maximum(dest_subnet, 0)], target)
        rt.forward(b, ok, self, nxt, decision="allow", rule=rule)


class AclIn(_AclElement):
    """Entering the subnet: on to the element the packet is bound for."""
    kind = "acl-inbound"
    direction = "ingress"
    next_names = ("bound for",)

    def __init__(self, *args, eni_of_element: np.ndarray) -> None:
        super().__init__(*args)
        self.eni_of_element = eni_of_element

    def eni_point(self, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self.eni_of_element[b["via"][idx]]     # the interface it was bound for

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        ok, rule = self.check(b, idx, rt)
        rt.forward(b, ok, self, b["via"][ok], decision="allow", rule=rule)
