"""A network interface's security groups, one element per direction (S1-S3).

Both directions of one ENI share its connection-tracking table: the reply of a flow
allowed one way passes the other way whatever the rules say."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.classify.any_match import AnyMatch
from netemu.dataplane.compile_rules import CompiledSg
from netemu.dataplane.elements.base import Element, Runtime
from netemu.dataplane.state import ConnTrack


class _SgElement(Element):
    egress = False

    def __init__(self, eni: str, subnet: int, groups: tuple[str, ...],
                 sg: tuple[CompiledSg, AnyMatch | None] | None, conntrack: ConnTrack,
                 next_element: int) -> None:
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
        self.point = -1              # observation point: this ENI (set by the pipeline)

    def rule_text(self, rule: int) -> str:
        return self.sg.describe(rule)[1] if self.sg is not None else ""

    def drop_resource(self, rule: int) -> str:
        return self.groups[0] if len(self.groups) == 1 else self.resource

    def check(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> np.ndarray:
        """Indices that pass; drops the rest. Tracked replies pass first (S3)."""
        if self.sg is None:
            rt.observe(b, idx, self.point, True)
            return idx
        pkts = b[idx]
        reply = self.conntrack.replies(pkts)
        rule = np.full(len(idx), -1, dtype=np.int32)
        if self.matcher is not None and not reply.all():
            new = ~reply
            p = pkts[new]
            rows = self.matcher.match(p["src"], p["dst"], p["sport"], p["dport"], p["proto"])
            rule[new] = np.where(rows >= 0, self.sg.table.rule[np.maximum(rows, 0)], -1)
        allowed = reply | (rule >= 0)
        rt.observe(b, idx, self.point, allowed)
        if (~allowed).any():
            reason = "ENI_SG_RULES_MISMATCH" if self.has_rules else "SG_HAS_NO_RULES"
            rt.drop(b, idx[~allowed], self, reason)
        new_ok = allowed & ~reply
        if new_ok.any():
            self.conntrack.track(pkts[new_ok])
        if rt.recording:
            rt.forward(b, idx[reply], self, self.next, decision="allow (tracked reply)")
            rt.forward(b, idx[new_ok], self, self.next, decision="allow", rule=rule[new_ok])
        return idx[allowed]

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        b["node"][self.check(b, idx, rt)] = self.next


class EniOut(_SgElement):
    """Traffic leaving an interface: its groups' egress rules, then its subnet's router.
    Traffic to the Amazon resolver, metadata and time sync skips the groups (S6)."""
    kind = "eni-egress"
    egress = True

    def __init__(self, *args, exempt: np.ndarray, exempt_sink: int) -> None:
        super().__init__(*args)
        self.exempt = exempt
        self.exempt_sink = exempt_sink

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        free = np.isin(b["dst"][idx], self.exempt)
        if free.any():
            rt.forward(b, idx[free], self, self.exempt_sink, decision="not filtered (S6)")
            idx = idx[~free]
        super().process(b, idx, rt)


class EniIn(_SgElement):
    """Traffic arriving at an interface: ingress rules, then what owns the interface."""
    kind = "eni-ingress"


class SourceDestCheck(Element):
    """A route's next hop that is an interface with source/destination check on (AWS's
    default): after its subnet's inbound ACL, it takes only traffic addressed to itself;
    whatever a route sent it for another address is dropped
    (ENI_SOURCE_DEST_CHECK_RESTRICTION). Only route targets have this element: traffic
    to an interface's own address never needs it."""
    kind = "eni-source-dest-check"

    def __init__(self, eni: str, ip: int, subnet: int, eni_in: int) -> None:
        super().__init__(eni)
        self.ip = ip
        self.subnet = subnet
        self.next = eni_in

    def rule_text(self, rule: int) -> str:
        return f"{self.resource} source/destination check: on"

    def process(self, b: np.ndarray, idx: np.ndarray, rt: Runtime) -> None:
        own = b["dst"][idx] == self.ip
        rt.drop(b, idx[~own], self, "ENI_SOURCE_DEST_CHECK_RESTRICTION", 0)
        b["node"][idx[own]] = self.next
