"""The graph: nodes keyed by (kind, resource id), the address book, and next nodes
resolved by name.

Building takes two passes over the registry of element kinds (elements/registry.py).
First every kind declares the nodes it will build (`nodes(topo, graph)`), so every name
has an index before any element exists; then every kind builds its elements
(`build(topo, graph)`), resolving its next nodes by name (`graph.link`). An element gets
the arrays and lookups it needs (the address book, per-ENI and per-subnet node arrays),
never the graph or the dataplane. The graph is fixed once built; the state in the
elements (connection tracking, NAT) lives on from batch to batch."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from netemu.dataplane.elements.base import Element, Node
from netemu.dataplane.elements.registry import KINDS
from netemu.dataplane.settings import Settings
from netemu.dataplane.table import Key
from netemu.model.resources import EC2, LAMBDA, NAT_ENI, OTHER
from netemu.model.topology import Topology

LINK_LOCAL_SERVICES = ("169.254.169.253", "169.254.169.254", "169.254.169.123")


class AddressBook:
    """Which interface owns an address in which VPC, and the indices of VPCs, subnets
    and ENIs (sorted by id: the same topology always gives the same numbers)."""

    def __init__(self, topo: Topology) -> None:
        self.vpc_ids = sorted(topo.vpcs)
        self.vpc_index = {v: i for i, v in enumerate(self.vpc_ids)}
        self.subnet_ids = sorted(topo.subnets)
        self.subnet_index = {s: i for i, s in enumerate(self.subnet_ids)}
        self.eni_ids = sorted(topo.enis)
        self.eni_index = {e: i for i, e in enumerate(self.eni_ids)}
        keys = [(self.vpc_index[topo.subnets[topo.enis[e].subnet].vpc] << 32)
                | int(topo.enis[e].private_ip) for e in self.eni_ids]
        order = np.argsort(np.array(keys, dtype=np.uint64), kind="stable")
        self._eni_keys = np.array(keys, dtype=np.uint64)[order]
        self._eni_vals = order.astype(np.int64)
        self.eni_subnet = np.array([self.subnet_index[topo.enis[e].subnet]
                                    for e in self.eni_ids], dtype=np.int64)
        self.eni_ip = np.array([int(topo.enis[e].private_ip) for e in self.eni_ids],
                               dtype=np.uint32)
        self.eni_vpc = np.array([self.vpc_index[topo.subnets[topo.enis[e].subnet].vpc]
                                 for e in self.eni_ids], dtype=np.int64)
        self.vpc_ranges = {v: list(topo.vpcs[v].cidrs) for v in self.vpc_ids}

    def eni_at(self, vpc: int, ips: np.ndarray) -> np.ndarray:
        """ENI index owning each address in one VPC, -1 for none."""
        if len(self._eni_keys) == 0 or len(ips) == 0:
            return np.full(len(ips), -1, dtype=np.int64)
        keys = (np.uint64(vpc) << np.uint64(32)) | ips.astype(np.uint64)
        pos = np.minimum(np.searchsorted(self._eni_keys, keys), len(self._eni_keys) - 1)
        return np.where(self._eni_keys[pos] == keys, self._eni_vals[pos], -1)

    def eni_anywhere(self, ips: np.ndarray) -> np.ndarray:
        """ENI owning each address in the first VPC that has one."""
        out = np.full(len(ips), -1, dtype=np.int64)
        for v in range(len(self.vpc_ids)):
            miss = out < 0
            out[miss] = self.eni_at(v, ips[miss])
        return out

    def enis_in(self, vpc: int) -> np.ndarray:
        """ENI indices of one VPC."""
        return np.flatnonzero(self.eni_vpc == vpc)


@dataclass(frozen=True)
class Doors:
    """The nodes through which packets enter and leave interfaces and subnets, as arrays
    an element indexes over a whole batch."""
    eni_in: np.ndarray          # ENI index -> its eni-ingress node
    eni_out: np.ndarray         # ENI index -> its eni-egress node
    acl_in: np.ndarray          # subnet index -> its inbound-ACL node
    acl_out: np.ndarray         # subnet index -> its outbound-ACL node
    owner_of_eni: np.ndarray    # ENI index -> what is behind it (Hyperplane NAT, NAT...)
    elem_subnet: np.ndarray     # node -> subnet index it sits in, -1 none
    eni_of_element: np.ndarray  # node -> ENI index it stands for, -1 none
    eni_subnet: np.ndarray      # ENI index -> subnet index


class Graph:
    def __init__(self, topo: Topology, settings: Settings | None = None,
                 kinds: Iterable[type[Element]] | None = None) -> None:
        self.topo = topo
        self.settings = settings or Settings()
        self.kinds = tuple(KINDS if kinds is None else kinds)
        self.book = AddressBook(topo)
        # observation points: every ENI (same index), then every internet gateway
        self.points = self.book.eni_ids + sorted(topo.internet_gateways)
        self.service_addresses = np.array(
            [int(ipaddress.IPv4Address(a)) for a in LINK_LOCAL_SERVICES]
            + [int(v.resolver_ip) for v in topo.vpcs.values() if v.enable_dns_support],
            dtype=np.uint32)
        self.nodes: dict[Key, Node] = {}
        self.slots: dict[Key, int] = {}
        self._edges: dict[Key, list] = {}      # (name, key) or (name, [keys]) in order
        self._expanded: dict[Key, list[tuple[str, Key]]] | None = None
        for kind in self.kinds:
            for node in kind.nodes(topo, self):
                if node.key not in self.slots:
                    self.slots[node.key] = len(self.slots)
                    self.nodes[node.key] = node
        self.doors = self._doors()
        self.elements: list[Element] = [None] * len(self.slots)  # type: ignore[list-item]
        for kind in self.kinds:
            for key, element in kind.build(topo, self):
                element.index = self.slots[key]
                element.key = key
                self.elements[element.index] = element
        empty = [k for k, i in self.slots.items() if self.elements[i] is None]
        assert not empty, f"nodes declared but never built: {empty}"
        # the state the elements keep (connection tracking, NAT), each object once
        self.states = list({id(s): s for e in self.elements
                            for s in (getattr(e, n, None) for n in ("conntrack", "nat",
                                                                    "public_nat"))
                            if hasattr(s, "horizon")}.values())
        # where the answer to a packet delivered at each element starts (-1: its source)
        self.reply_from = np.array([e.reply_from for e in self.elements], dtype=np.int64)

    # ---- names -----------------------------------------------------------------------
    def index(self, key: Key) -> int:
        return self.slots[key]

    def has(self, key: Key) -> bool:
        return key in self.slots

    def link(self, here: Key, name: str, to: Key) -> int:
        """Resolve a next node by name, remembering the edge (`netemu graph`)."""
        self._edges.setdefault(here, []).append((name, to))
        return self.slots[to] if to in self.slots else -1

    def link_all(self, here: Key, name: str, keys: list[Key]) -> None:
        """link() for many next nodes of one name whose indices the caller looks up
        itself (a router's interfaces, an ACL's neighbouring subnets): kept as one entry
        until someone reads the edges (a subnet to every interface of its VPC is
        subnets x interfaces edges, which only `netemu graph` prints)."""
        self._edges.setdefault(here, []).append((name, list(keys)))

    @property
    def edges(self) -> dict[Key, list[tuple[str, Key]]]:
        """Every node's named next nodes, in the order they were linked."""
        if self._expanded is None:
            self._expanded = {here: [(n, t) for n, to in items
                                     for t in (to if isinstance(to, list) else [to])]
                              for here, items in self._edges.items()}
        return self._expanded

    def element(self, key: Key) -> Element:
        return self.elements[self.slots[key]]

    # ---- what the topology says about an interface -----------------------------------
    def eni_role(self, eni_id: str) -> str:
        """hp (a Lambda Hyperplane ENI), nat-eni (a NAT gateway's) or owner (the rest)."""
        eni = self.topo.enis[eni_id]
        if eni.kind == LAMBDA:
            return "hp"
        if eni.kind == NAT_ENI and eni.attached_to in self.topo.nat_gateways:
            return "nat-eni"
        return "owner"

    def owner_key(self, eni_id: str) -> Key:
        role = self.eni_role(eni_id)
        return ("nat", self.topo.enis[eni_id].attached_to) if role == "nat-eni" \
            else (role, eni_id)

    def forwards(self, eni_id: str) -> bool:
        """An instance's interface with source/destination check off: a NAT instance."""
        eni = self.topo.enis[eni_id]
        return not eni.source_dest_check and eni.kind in (EC2, OTHER) \
            and self.eni_role(eni_id) == "owner"

    def route_target_enis(self) -> list[str]:
        return sorted({r.target for rt in self.topo.route_tables.values() for r in rt.routes
                       if r.target_kind == "network-interface" and not r.blackhole
                       and r.target in self.topo.enis})

    def route_node(self, route) -> Key | None:
        """The node a route sends to (None: the local route, a blackhole)."""
        if route.blackhole or route.target_kind == "local":
            return None
        for kind in self.kinds:
            if route.target_kind in kind.route_targets:
                return kind.route_node(self.topo, self, route.target)
        return ("unmodelled", route.target)

    def modelled_route_kinds(self) -> set[str]:
        return {"local"} | {t for kind in self.kinds for t in kind.route_targets}

    # ---- arrays ------------------------------------------------------------------------
    def _doors(self) -> Doors:
        book, s = self.book, self.slots
        elem_subnet = np.full(len(s), -1, dtype=np.int64)
        eni_of = np.full(len(s), -1, dtype=np.int64)
        for key, node in self.nodes.items():
            if node.subnet is not None:
                elem_subnet[s[key]] = book.subnet_index[node.subnet]
            if node.eni is not None:
                eni_of[s[key]] = book.eni_index[node.eni]
        return Doors(
            eni_in=np.array([s[("in", e)] for e in book.eni_ids], dtype=np.int64),
            eni_out=np.array([s[("out", e)] for e in book.eni_ids], dtype=np.int64),
            acl_in=np.array([s[("acl-in", x)] for x in book.subnet_ids], dtype=np.int64),
            acl_out=np.array([s[("acl-out", x)] for x in book.subnet_ids], dtype=np.int64),
            owner_of_eni=np.array([s[self.owner_key(e)] for e in book.eni_ids],
                                  dtype=np.int64),
            elem_subnet=elem_subnet, eni_of_element=eni_of, eni_subnet=book.eni_subnet)

    # ---- for people --------------------------------------------------------------------
    def describe(self) -> list[dict]:
        """Every node with its kind, resource and named next nodes (`netemu graph`)."""
        out = []
        for key, i in sorted(self.slots.items(), key=lambda kv: kv[1]):
            e = self.elements[i]
            out.append({"node": _name(key), "kind": e.kind, "resource": e.resource,
                        "next": [{"name": n, "node": _name(t)}
                                 for n, t in self.edges.get(key, [])]})
        return out

    def dot(self) -> str:
        lines = ["digraph netemu {", "  rankdir=LR;"]
        for node in self.describe():
            lines.append(f'  "{node["node"]}" [label="{node["kind"]}\\n{node["resource"]}"];')
        for node in self.describe():
            for n in node["next"]:
                lines.append(f'  "{node["node"]}" -> "{n["node"]}" [label="{n["name"]}"];')
        lines.append("}")
        return "\n".join(lines)


def _name(key: Key) -> str:
    return f"{key[0]}:{key[1]}" if key[1] else key[0]

