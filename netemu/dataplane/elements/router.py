"""The VPC router as one subnet sees it: its route table, longest prefix first (R1-R5).

A route names the next element; the local route names the interface that owns the
destination. Leaving the subnet goes through its outbound ACL first (see acl.py)."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.classify.lpm import Lpm
from netemu.dataplane.elements.base import Element, Runtime
from netemu.dataplane.table import Row, point
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
    next_names = ("route", "local", "leaving subnet")

    def __init__(self, subnet: str, subnet_index: int, table: RouteTable, vpc_index: int,
                 prefix_lists: dict, route_next: np.ndarray, *, eni_at, eni_in: np.ndarray,
                 elem_subnet: np.ndarray, acl_out: np.ndarray, route_keys: list,
                 acl_out_key: tuple[str, str], local_enis: list,
                 shared: dict | None = None) -> None:
        super().__init__(subnet)
        self.route_table = table
        self.subnet = subnet_index
        self.vpc_index = vpc_index
        # one source for the matcher and the table: (prefix, length, route) best first;
        # the subnets of one table share them (`shared`: table id -> both)
        shared = {} if shared is None else shared
        if table.id not in shared:
            prefixes = route_prefixes(table, prefix_lists)
            shared[table.id] = (prefixes, Lpm(np.array(prefixes[0], np.uint32),
                                              np.array(prefixes[1], np.uint8),
                                              np.array(prefixes[2], np.int32)))
        self.prefixes, self.lpm = shared[table.id]
        self.routes: tuple[Route, ...] = table.routes
        self.local = np.array([r.target_kind == LOCAL for r in table.routes] + [False])
        self.blackhole = np.array([r.blackhole for r in table.routes] + [False])
        self.route_next = route_next          # route index -> next element, -1 local/none
        self.route_keys = route_keys          # route index -> next node key (None: local)
        self.acl_out_key = acl_out_key
        self.eni_at = eni_at
        self.eni_in = eni_in
        self.elem_subnet = elem_subnet
        self.acl_out = acl_out
        self.local_enis = local_enis          # (address, eni-ingress key, subnet index)

    @classmethod
    def build(cls, topo, graph) -> list:
        out, book, doors, by_vpc, shared = [], graph.book, graph.doors, {}, {}
        for i, x in enumerate(book.subnet_ids):
            sn = topo.subnets[x]
            table = topo.route_tables[sn.route_table]
            here = ("router", x)
            keys = [graph.route_node(r) for r in table.routes]
            route_next = np.array([graph.link(here, f"route {r.dest_text}", k) if k else -1
                                   for r, k in zip(table.routes, keys, strict=True)] + [-1],
                                  dtype=np.int64)
            vpc = book.vpc_index[sn.vpc]
            graph.link(here, "leaving subnet", ("acl-out", x))
            local = []
            if any(r.target_kind == LOCAL for r in table.routes):
                if vpc not in by_vpc:       # the same for every subnet of the VPC
                    by_vpc[vpc] = [(int(book.eni_ip[e]), ("in", book.eni_ids[e]),
                                    int(book.eni_subnet[e])) for e in book.enis_in(vpc)]
                local = by_vpc[vpc]
                graph.link_all(here, "local", [key for _, key, _ in local])
            out.append((here, cls(x, i, table, vpc, topo.prefix_lists, route_next,
                                  eni_at=book.eni_at, eni_in=doors.eni_in,
                                  elem_subnet=doors.elem_subnet, acl_out=doors.acl_out,
                                  route_keys=keys, acl_out_key=("acl-out", x),
                                  local_enis=local, shared=shared)))
        return out

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.route_table.id}"

    def rule_text(self, rule: int) -> str:
        return f"{self.route_table.id} route {self.routes[rule].text}"

    def drop_resource(self, rule: int) -> str:
        return self.route_table.id

    def _row(self, box: dict, route: int, key, subnet: int, text: str) -> Row:
        """On to `key`, through the subnet's outbound ACL when `key` sits elsewhere."""
        if subnet == self.subnet:
            return Row(box, next=key, rule=text)
        return Row(box, next=key, rule=text, through=self.acl_out_key)

    def table(self) -> list[Row]:
        """R1/R4 as first match: the addresses the local route owns (each interface's,
        where the longest prefix is a local route), then every prefix longest first
        (ties: the route the LPM keeps), then no route."""
        rows = []
        texts = [self.rule_text(r) for r in range(len(self.routes))]   # once, not per row
        owners = {ip: (key, sub) for ip, key, sub in self.local_enis}
        if owners:
            ips = np.array(sorted(owners), dtype=np.uint32)
            hit = self.lpm.lookup(ips)
            for ip, r in zip(ips.tolist(), hit.tolist(), strict=True):
                if r >= 0 and self.local[r]:
                    key, sub = owners[ip]
                    rows.append(self._row({"dst": point(ip)}, r, key, sub, texts[r]))
        prefixes, lengths, routes = self.prefixes
        order = sorted(range(len(routes)), key=lambda k: (-lengths[k], k))
        for k in order:
            r, host = routes[k], (1 << (32 - lengths[k])) - 1
            lo = prefixes[k] & ~host & 0xFFFFFFFF
            box, text = {"dst": (lo, lo | host)}, texts[routes[k]]
            if self.blackhole[r]:
                rows.append(Row(box, action="drop", reason="BAD_STATE_ROUTE", rule=text))
            elif self.local[r] or self.route_keys[r] is None or self.route_next[r] < 0:
                rows.append(Row(box, action="drop", reason="UNKNOWN_DESTINATION", rule=text))
            else:
                key = self.route_keys[r]
                rows.append(self._row(box, r, key, self.elem_subnet[self.route_next[r]],
                                      text))
        return rows + [Row(action="drop", reason="NO_ROUTE_TO_DESTINATION")]

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
            eni = self.eni_at(self.vpc_index, b["dst"][idx[local]])
            target[local] = np.where(eni >= 0, self.eni_in[np.maximum(eni, 0)], -1)
        unknown = target < 0
        rt.drop(b, idx[unknown], self, "UNKNOWN_DESTINATION", route[unknown])
        idx, route, target = idx[~unknown], route[~unknown], target[~unknown]
        same = self.elem_subnet[target] == self.subnet
        rt.forward(b, idx[same], self, target[same], rule=route[same])
        rt.forward(b, idx[~same], self, self.acl_out[self.subnet], via=target[~same],
                   rule=route[~same])
