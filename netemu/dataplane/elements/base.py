"""What every element shares: a name, the resource it stands for, and the runtime that
moves packets on, drops or delivers them, and records hops when asked.

An element takes the indices of the packets waiting at it, decides for all of them at
once, and names each packet's next element (as VPP graph nodes name their next nodes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from netemu.addr import int_to_ip
from netemu.dataplane.reasons import CODE
from netemu.packet import DELIVERED, DROPPED


@dataclass(frozen=True)
class Node:
    """A node a kind declares: its key, and the subnet and ENI it sits at (if any)."""
    key: tuple[str, str]
    subnet: str | None = None
    eni: str | None = None


class Element:
    """A hop kind. The class declares the nodes it builds (`nodes`), builds them from the
    topology and the graph (`build`, resolving next nodes by name with `graph.link`), and
    names the route targets it stands for (`route_targets`, `route_node`). An instance
    decides for a batch (`process`) and shows that decision as data (`table`)."""
    kind = "element"
    next_names: tuple[str, ...] = ()      # the names of its next nodes (graph edges)
    route_targets: tuple[str, ...] = ()   # route target kinds (R3) that lead here
    direction: str | None = None          # egress | ingress, for a boundary's two sides

    def __init__(self, resource: str) -> None:
        self.resource = resource
        self.index = -1          # set by the graph
        self.key: tuple[str, str] = ("", "")
        self.subnet = -1         # index of the subnet it sits in, -1 outside any subnet
        self.reply_from = -1     # where the answer to what it delivers starts, -1: the source

    # ---- building ----------------------------------------------------------------------
    @classmethod
    def nodes(cls, topo, graph) -> list:
        """The Nodes this kind builds (declared before any is built)."""
        return []

    @classmethod
    def build(cls, topo, graph) -> list[tuple[tuple[str, str], Element]]:
        """(key, element) for each node declared."""
        return []

    @classmethod
    def route_node(cls, topo, graph, target: str) -> tuple[str, str]:
        raise NotImplementedError

    # ---- deciding ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"{self.kind}:{self.resource}"

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        raise NotImplementedError

    def table(self) -> list:
        """The decision as rows (table.Row), first that holds decides (see table.py)."""
        raise NotImplementedError

    def rule_text(self, rule: int) -> str:
        return ""

    def drop_resource(self, rule: int) -> str:
        """The resource a drop here is blamed on (a group, an ACL, a route table...)."""
        return self.resource

    def decider(self, rule: int) -> str:
        """The resource that decided a hop here (what a trace shows as `resource`)."""
        return self.drop_resource(rule)

    def __repr__(self) -> str:
        return self.name


HEADER = ("ts", "src", "dst", "sport", "dport", "proto", "flags", "length")


@dataclass
class Observation:
    rows: np.ndarray      # packet (or flow) rows
    point: np.ndarray     # observation point per row (Dataplane.points)
    accept: np.ndarray    # let through (flow-log ACCEPT) or not (REJECT)
    header: np.ndarray    # the packets as the point saw them (HEADER columns)
    # None: a row per packet. Else a row per flow piece, (packets, bytes, last packet's
    # time) of each, its header's `ts` its first packet's (run.run_flows(summed_window))
    summed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


@dataclass
class Hop:
    """One element's part in one packet's journey, as structured fields: `resource` is
    what decided (the ACL, the route table, the security group...), `at` the resource
    the element sits at (the ENI, the subnet, the gateway), `direction` the side of a
    boundary (egress, ingress) or None, `rule` the text of the deciding rule or None."""
    packet: int
    element: str
    kind: str
    resource: str
    decision: str                 # allow, forward, translate, deliver, drop
    rule: str | None = None
    reason: str | None = None
    before: tuple | None = None   # (src, sport, dst, dport) before a translation
    after: tuple | None = None
    at: str = ""
    direction: str | None = None
    rule_index: int = -1


def _hop(i, here: Element, decision: str, rule: int = -1, **kw) -> Hop:
    return Hop(int(i), here.name, here.kind, here.decider(rule), decision,
               (here.rule_text(rule) or None) if rule >= 0 else None, at=here.resource,
               direction=here.direction, rule_index=rule, **kw)


def five(b: np.ndarray, i: int) -> tuple[str, int, str, int]:
    return (int_to_ip(b["src"][i]), int(b["sport"][i]), int_to_ip(b["dst"][i]),
            int(b["dport"][i]))


@dataclass
class Runtime:
    """Moves packets between elements; keeps counters always, hops only when recording."""
    elements: list[Element]
    recording: bool = False
    hops: list[Hop] = field(default_factory=list)
    weights: np.ndarray | None = None    # packets each row stands for (one row per flow)
    observing: bool = False              # keep what each observation point saw
    observations: list[Observation] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.elements)
        self.in_count = np.zeros(n, dtype=np.int64)
        self.drop_count = np.zeros(n, dtype=np.int64)
        self.deliver_count = np.zeros(n, dtype=np.int64)

    def packets(self, idx: np.ndarray) -> int:
        return int(self.weights[idx].sum()) if self.weights is not None else len(idx)

    def forward(self, b: np.ndarray, idx: np.ndarray, here: Element, to,
                *, via=None, decision: str = "forward", rule=None) -> None:
        """Send packets idx on to element index `to` (scalar or per-packet array)."""
        if len(idx) == 0:
            return
        b["node"][idx] = to
        if via is not None:
            b["via"][idx] = via
        if self.recording:
            rules = np.broadcast_to(np.asarray(-1 if rule is None else rule), idx.shape)
            for i, r in zip(idx, rules, strict=True):
                self.hops.append(_hop(i, here, decision, int(r)))

    def translate(self, b: np.ndarray, idx: np.ndarray, here: Element, column: str,
                  values, *, port_column: str | None = None, ports=None) -> None:
        """Rewrite addresses (and ports), keeping a before/after record when recording."""
        if len(idx) == 0:
            return
        before = [five(b, i) for i in idx] if self.recording else None
        b[column][idx] = values
        if port_column is not None:
            b[port_column][idx] = ports
        if before is not None:
            for k, i in enumerate(idx):
                self.hops.append(_hop(i, here, "translate", before=before[k],
                                      after=five(b, i)))

    def drop(self, b: np.ndarray, idx: np.ndarray, here: Element, reason: str,
             rule=None) -> None:
        if len(idx) == 0:
            return
        b["status"][idx] = DROPPED
        b["reason"][idx] = CODE[reason]
        b["at"][idx] = here.index
        b["rule"][idx] = -1 if rule is None else rule
        self.drop_count[here.index] += self.packets(idx)
        if self.recording:
            rules = np.broadcast_to(np.asarray(-1 if rule is None else rule), idx.shape)
            for i, r in zip(idx, rules, strict=True):
                self.hops.append(_hop(i, here, "drop", int(r), reason=reason))

    def observe(self, b: np.ndarray, idx: np.ndarray, point, accept) -> None:
        """Remember packets as an observation point (an ENI, a gateway) saw them, and
        whether it let them through: the stuff of flow logs and per-hop captures."""
        if not self.observing or len(idx) == 0:
            return
        n = len(idx)
        self.observations.append(Observation(
            idx.copy(), np.broadcast_to(np.asarray(point, np.int64), (n,)).copy(),
            np.broadcast_to(np.asarray(accept, bool), (n,)).copy(),
            b[list(HEADER)].take(idx)))   # take: see packet.pick

    def observe_refused(self, b: np.ndarray, idx: np.ndarray, point: np.ndarray) -> None:
        """F1: a packet an ACL refuses is one REJECT record at the ENI on that side. One
        that ENI's groups had already let out (ACCEPT at the same point, this run) becomes
        that REJECT: an interface logs a packet once, with the action that stopped it."""
        if not self.observing or len(idx) == 0:
            return
        order = np.argsort(idx, kind="stable")
        rows, points = idx[order], np.asarray(point, np.int64)[order]
        fresh = np.ones(len(idx), bool)
        for o in self.observations:
            j = np.minimum(np.searchsorted(rows, o.rows), len(rows) - 1)
            hit = o.accept & (rows[j] == o.rows) & (points[j] == o.point)
            if hit.any():
                o.accept[hit] = False
                fresh[j[hit]] = False
        self.observe(b, rows[fresh], points[fresh], False)

    def deliver(self, b: np.ndarray, idx: np.ndarray, here: Element) -> None:
        if len(idx) == 0:
            return
        b["status"][idx] = DELIVERED
        b["at"][idx] = here.index
        self.deliver_count[here.index] += self.packets(idx)
        if self.recording:
            for i in idx:
                self.hops.append(_hop(i, here, "deliver"))
