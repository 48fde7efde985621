"""The VPC router as one subnet sees it: its route table, longest prefix first (R1-R5).

A route names the next element; the local route names the interface that owns the
destination. Leaving the subnet goes through its outbound ACL first (see acl.py)."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.classify.lpm import Lpm
from netemu.dataplane.elements.base import Element, Runtime
from netemu.model.resources import LOCAL, Route, RouteTable

# R4: among routes to the same prefix, static CIDR beats prefix list beats propagated.
_PRIORITY = {("static", False): 0, ("static", True): 1, ("propagated", False): 2,
             ("propagated", True): 2}


def route_prefixes(table: RouteTable, prefix_lists: dict) -> tuple[list, list, list]:
    """(prefix, length, route index) rows for the LPM, best route first per prefix."""
    rows = []
    for i, r in enumerate(table.routes):
        nets = ([r.destination] if r.destination is not None
                else list(prefix_lists[r.prefix_list].cidrs))
        for net in nets:
            if net.version == 4:
                rows.append((_PRIORITY[(r.origin, r.destination is None)], i, net))
    rows.sort(key=lambda x: (x[0], x[1]))
    return ([int(n.network_address) for _, _, n in rows], [n.prefixlen for _, _, n in rows],
            [i for _, i, _ in rows])


class Router(Element):
    kind = "route-table"

    def __init__(self, subnet: str, subnet_index: int, table: RouteTable, vpc_index: int,
                 prefix_lists: dict, route_next: np.ndarray, net) -> None:
        super().__init__(subnet)
        self.table = table
        self.subnet = subnet_index
        self.vpc_index = vpc_index
        prefixes, lengths, values = route_prefixes(table, prefix_lists)
        self.lpm = Lpm(np.array(prefixes, np.uint32), np.array(lengths, np.uint8),
                       np.array(values, np.int32))
        self.routes: tuple[Route, ...] = table.routes
        self.local = np.array([r.target_kind == LOCAL for r in table.routes] + [False])
        self.blackhole = np.array([r.blackhole for r in table.routes] + [False])
        self.route_next = route_next          # route index -> next element, -1 local/none
        self.net = net

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.table.id}"

    def rule_text(self, rule: int) -> str:
        return f"{self.table.id} route {self.routes[rule].text}"

    def drop_resource(self, rule: int) -> str:
        return self.table.id

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        route = self.lpm.lookup(b["dst"][idx])
        rt.drop(b, idx[route < 0], self, "NO_ROUTE_TO_DESTINATION")
        hole = self.blackhole[route]
        rt.drop(b, idx[hole], self, "BAD_STATE_ROUTE", route[hole])
        keep = (route >= 0) & ~hole
        idx, route = idx[keep], route[keep]
        target = np.where(route >= 0, self.route_next[np.maximum(route, 0)], -1)
        local = self.local[route]
        if local.any():
            eni = self.net.eni_at(self.vpc_index, b["dst"][idx[local]])
            target[local] = np.where(eni >= 0, self.net.eni_in[np.maximum(eni, 0)], -1)
        unknown = target < 0
        rt.drop(b, idx[unknown], self, "UNKNOWN_DESTINATION", route[unknown])
        idx, route, target = idx[~unknown], route[~unknown], target[~unknown]
        same = self.net.elem_subnet[target] == self.subnet
        rt.forward(b, idx[same], self, target[same], rule=route[same])
        rt.forward(b, idx[~same], self, self.net.acl_out[self.subnet], via=target[~same],
                   rule=route[~same])
