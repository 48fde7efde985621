"""A network interface's security groups, one element per direction (S1-S3).

Both directions of one ENI share its connection-tracking table: the reply of a flow
allowed one way passes the other way whatever the rules say."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.classify.any_match import AnyMatch
from netemu.dataplane.compile_rules import CompiledSg, compile_sg
from netemu.dataplane.elements.base import Element, Node, Runtime
from netemu.dataplane.state import ConnTrack
from netemu.dataplane.table import TRACKED_REPLY, Row, point, rule_boxes
from netemu.model.resources import ENI_TARGET, NAT_ENI
from netemu.packet import pick


class _SgElement(Element):
    egress = False

    def __init__(self, eni: str, subnet: int, groups: tuple[str, ...],
                 sg: tuple[CompiledSg, AnyMatch | None] | None, conntrack: ConnTrack,
                 next_element: int, next_key: tuple[str, str] = ("", ""),
                 point: int = -1) -> None:
        super().__init__(eni)
        self.subnet = subnet
        self.groups = groups
        # None: no security groups apply (a NAT gateway's ENI, G5)
        self.sg, self.matcher = sg if sg is not None else (None, None)
        # SG_HAS_NO_RULES is about the rules written, not about rows compiled: a rule whose
        # referenced group has no members compiles to nothing but is still a rule
        self.has_rules = self.sg is not None and len(self.sg.rules) > 0
        self.conntrack = conntrack
        self.next = next_element
        self.point = point           # observation point: this ENI
        self.next_key = next_key

    def rule_text(self, rule: int) -> str:
        return self.sg.describe(rule)[1] if self.sg is not None else ""

    def drop_resource(self, rule: int) -> str:
        return self.groups[0] if len(self.groups) == 1 else self.resource

    def check(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> np.ndarray:
        """Indices that pass; drops the rest. Tracked replies pass first (S3)."""
        if self.sg is None:
            rt.observe(b, idx, self.point, True)
            return idx
        pkts = pick(b, idx)
        reply = self.conntrack.replies(pkts)
        rule = np.full(len(idx), -1, dtype=np.int32)
        if self.matcher is not None and not reply.all():
            new = ~reply
            p = pick(pkts, new)
            rows = self.matcher.match(p["src"], p["dst"], p["sport"], p["dport"], p["proto"])
            rule[new] = np.where(rows >= 0, self.sg.table.rule[np.maximum(rows, 0)], -1)
        allowed = reply | (rule >= 0)
        rt.observe(b, idx, self.point, allowed)
        if (~allowed).any():
            reason = "ENI_SG_RULES_MISMATCH" if self.has_rules else "SG_HAS_NO_RULES"
            rt.drop(b, idx[~allowed], self, reason)
        new_ok = allowed & ~reply
        if new_ok.any():
            self.conntrack.track(pick(pkts, new_ok))
        if rt.recording:
            rt.forward(b, idx[reply], self, self.next, decision="allow (tracked reply)")
            rt.forward(b, idx[new_ok], self, self.next, decision="allow", rule=rule[new_ok])
        return idx[allowed]

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        b["node"][self.check(b, idx, rt)] = self.next

    def decider(self, rule: int) -> str:
        """The group whose rule allowed, else the group (or the ENI of several)."""
        if rule >= 0 and self.sg is not None:
            return self.sg.describe(rule)[0]
        return self.drop_resource(rule)

    def sg_rows(self) -> list[Row]:
        """S3 then S1/S2: a tracked reply passes, then any rule that matches (one row per
        compiled row: the very RuleTable the matcher is compiled from), else dropped."""
        to = self.next_key
        if self.sg is None:                       # G5: no groups on a NAT gateway's ENI
            return [Row(next=to)]
        rows = [Row(state=TRACKED_REPLY, next=to)]
        rules = self.sg.table.rule
        rows += [Row(box, next=to, rule=self.rule_text(int(rules[i])))
                 for i, box in enumerate(rule_boxes(self.sg.table))]
        reason = "ENI_SG_RULES_MISMATCH" if self.has_rules else "SG_HAS_NO_RULES"
        return rows + [Row(action="drop", reason=reason)]

    def table(self) -> list[Row]:
        return self.sg_rows()


class EniOut(_SgElement):
    """Traffic leaving an interface: its groups' egress rules, then its subnet's router.
    Traffic to the Amazon resolver, metadata and time sync skips the groups (S6)."""
    kind = "eni-egress"
    egress = True
    direction = "egress"
    next_names = ("router", "amazon-provided")

    def __init__(self, *args, exempt: np.ndarray, exempt_sink: int) -> None:
        super().__init__(*args)
        self.exempt = exempt
        self.exempt_sink = exempt_sink
        self.exempt_key: tuple[str, str] = ("amazon", "")

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        free = np.isin(b["dst"][idx], self.exempt)
        if free.any():
            rt.forward(b, idx[free], self, self.exempt_sink, decision="not filtered (S6)")
            idx = idx[~free]
        super().process(b, idx, rt)

    def table(self) -> list[Row]:
        """S6 first: the Amazon-provided addresses are not filtered."""
        return [Row({"dst": point(a)}, next=self.exempt_key) for a in self.exempt] \
            + self.sg_rows()


class EniIn(_SgElement):
    """Traffic arriving at an interface: ingress rules, then what owns the interface."""
    kind = "eni-ingress"
    direction = "ingress"
    next_names = ("owner",)

    @classmethod
    def nodes(cls, topo, graph) -> list:
        """Both sides of every interface (ingress first), and what sits behind it when
        that is no NAT gateway (which declares its own node)."""
        out = []
        for e in graph.book.eni_ids:
            sub = topo.enis[e].subnet
            out += [Node(("in", e), sub, e), Node(("out", e), sub)]
            if graph.eni_role(e) != "nat-eni":
                out.append(Node(graph.owner_key(e)))
        return out

    @classmethod
    def build(cls, topo, graph) -> list:
        """Both sides of every interface, sharing its connection tracking, each side
        with its groups' rules compiled once per (group set, direction)."""
        book, doors, out = graph.book, graph.doors, []
        cache: dict = {}

        def compiled(groups: tuple[str, ...], egress: bool):
            key = (tuple(sorted(groups)), egress)
            if key not in cache:
                sg = compile_sg(topo, groups, egress)
                cache[key] = (sg, AnyMatch(sg.table) if len(sg.table) else None)
            return cache[key]

        for i, e in enumerate(book.eni_ids):
            eni = topo.enis[e]
            sub = int(book.eni_subnet[i])
            track = ConnTrack(graph.settings.timeouts)
            no_sg = eni.kind == NAT_ENI            # G5
            sg_out = None if no_sg else compiled(eni.security_groups, True)
            sg_in = None if no_sg else compiled(eni.security_groups, False)
            router = ("router", eni.subnet)
            egress = EniOut(e, sub, eni.security_groups, sg_out, track,
                            graph.link(("out", e), "router", router), router, i,
                            exempt=graph.service_addresses,
                            exempt_sink=graph.link(("out", e), "amazon-provided",
                                                   ("amazon", "")))
            owner = graph.owner_key(e)
            ingress = EniIn(e, sub, eni.security_groups, sg_in, track,
                            graph.link(("in", e), "owner", owner), owner, i)
            assert ingress.next == doors.owner_of_eni[i]
            out += [(("in", e), ingress), (("out", e), egress)]
        return out


class SourceDestCheck(Element):
    """A route's next hop that is an interface with source/destination check on (AWS's
    default): after its subnet's inbound ACL, it takes only traffic addressed to itself;
    whatever a route sent it for another address is dropped
    (ENI_SOURCE_DEST_CHECK_RESTRICTION). Only route targets have this element: traffic
    to an interface's own address never needs it."""
    kind = "eni-source-dest-check"
    next_names = ("interface",)
    route_targets = (ENI_TARGET,)

    def __init__(self, eni: str, ip: int, subnet: int, eni_in: int) -> None:
        super().__init__(eni)
        self.ip = ip
        self.subnet = subnet
        self.next = eni_in
        self.next_key = ("in", eni)

    @classmethod
    def _checked(cls, graph) -> list[str]:
        """Route targets that forward nothing: neither a NAT gateway's nor a NAT
        instance's interface."""
        return [e for e in graph.route_target_enis()
                if graph.eni_role(e) != "nat-eni" and not graph.forwards(e)]

    @classmethod
    def nodes(cls, topo, graph) -> list:
        return [Node(("sdc", e), topo.enis[e].subnet, e) for e in cls._checked(graph)]

    @classmethod
    def build(cls, topo, graph) -> list:
        book = graph.book
        return [(("sdc", e), cls(e, int(topo.enis[e].private_ip),
                                 int(book.eni_subnet[book.eni_index[e]]),
                                 graph.link(("sdc", e), "interface", ("in", e))))
                for e in cls._checked(graph)]

    @classmethod
    def route_node(cls, topo, graph, target: str) -> tuple[str, str]:
        """A route to an interface: through its check, if it has one."""
        return ("sdc", target) if graph.has(("sdc", target)) else ("in", target)

    def table(self) -> list[Row]:
        return [Row({"dst": point(self.ip)}, next=self.next_key),
                Row(action="drop", reason="ENI_SOURCE_DEST_CHECK_RESTRICTION",
                    rule=self.rule_text(0))]

    def rule_text(self, rule: int) -> str:
        return f"{self.resource} source/destination check: on"

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        own = b["dst"][idx] == self.ip
        rt.drop(b, idx[~own], self, "ENI_SOURCE_DEST_CHECK_RESTRICTION", 0)
        b["node"][idx[own]] = self.next
