"""A subnet boundary: its network ACL, stateless, on the way out and on the way in
(N1-N4). Packets between two interfaces of the same subnet never come here."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.classify.first_match import FirstMatch
from netemu.dataplane.compile_rules import CompiledAcl
from netemu.dataplane.elements.base import Element, Runtime


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
        p = b[idx]
        rows = self.matcher.match(p["src"], p["dst"], p["sport"], p["dport"], p["proto"])
        rule = np.where(rows >= 0, self.acl.table.rule[np.maximum(rows, 0)], -1)
        ok = self.allow[rule]
        if rt.observing and not ok.all():    # F: the ENI on this side logs the REJECT
            rt.observe(b, idx[~ok], self.eni_point(b, idx[~ok]), False)
        rt.drop(b, idx[~ok], self, "SUBNET_ACL_RESTRICTION", rule[~ok])
        return idx[ok], rule[ok]

    def eni_point(self, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class AclOut(_AclElement):
    """Leaving the subnet: on to the next hop, through its subnet's inbound ACL when the
    next hop sits in another subnet."""
    kind = "acl-outbound"

    def __init__(self, *args, acl_in_of_subnet: np.ndarray, elem_subnet: np.ndarray,
                 net) -> None:
        super().__init__(*args)
        self.acl_in_of_subnet = acl_in_of_subnet
        self.elem_subnet = elem_subnet
        self.net = net

    def eni_point(self, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self.net.eni_anywhere(b["src"][idx])      # the interface it left from

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

    def __init__(self, *args, net) -> None:
        super().__init__(*args)
        self.net = net

    def eni_point(self, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self.net.eni_of_element[b["via"][idx]]     # the interface it was bound for

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        ok, rule = self.check(b, idx, rt)
        rt.forward(b, ok, self, b["via"][ok], decision="allow", rule=rule)
