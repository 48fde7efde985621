"""One flow from one place through the dataplane, explained hop by hop: the first
packet, and when it arrives, its reply. What trace() and fix both build on (fix traces
again with a change applied), so neither imports the other's module."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from netemu.addr import int_to_ip
from netemu.apps.resolve import Endpoint
from netemu.dataplane.elements.base import Hop
from netemu.dataplane.pipeline import Dataplane, Settings
from netemu.dataplane.reasons import CODES, EXPLAIN
from netemu.dataplane.run import source_changed
from netemu.model.topology import Topology
from netemu.packet import DELIVERED, ICMP, SYN, TCP, UDP, from_columns, protocol_name

_ID = re.compile(r"[^\s:(),]+")     # the ids in an element's name
DEFAULT_SPORT = 40000   # in the Linux ephemeral range (N6)


@dataclass
class Step:
    """One element's part in a packet's journey. `resource` is what decided (the
    security group, the network ACL, the route table, the gateway...), `at` where the
    element sits (the ENI, the subnet, the gateway), `side` which side of that boundary
    (egress, ingress; null for the rest); a value that does not apply is null."""
    direction: str                 # request | reply
    element: str
    kind: str
    resource: str
    decision: str
    rule: str | None = None
    reason: str | None = None
    translation: str | None = None
    label: str = ""                # the element for people: ids with their Name tags
    at: str = ""
    side: str | None = None


@dataclass
class Leg:
    verdict: str                   # delivered | dropped
    delivered_to: str | None = None
    dropped_at: str | None = None
    reason: str | None = None
    rule: str | None = None
    steps: list[Step] = field(default_factory=list)
    packet: tuple = ()             # (src, sport, dst, dport, proto) where it ended
    where: str | None = None       # dropped_at with its Name tag, for people


@dataclass
class TraceResult:
    """One flow from one place. For a function in a VPC, the fields are those of the
    first subnet it fails from (else of its first subnet) and `subnets` holds the trace
    from each of its subnets; `ok` only when every one gets through both ways."""
    source: Endpoint
    destination: Endpoint
    proto: int
    port: int
    sport: int
    request: Leg
    reply: Leg | None
    fixes: list[str] = field(default_factory=list)
    fix_verified: bool | None = None   # None: no fix searched
    fix_note: str | None = None        # why no change was found
    subnets: list[TraceResult] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.request.verdict

    @property
    def reply_verdict(self) -> str | None:
        return self.reply.verdict if self.reply else None

    @property
    def failed(self) -> Leg | None:
        if self.request.verdict != "delivered":
            return self.request
        if self.reply is not None and self.reply.verdict != "delivered":
            return self.reply
        return None

    @property
    def ok(self) -> bool:
        return self.failed is None and all(t.ok for t in self.subnets)

    @property
    def fix_status(self) -> str | None:
        """verified (traced again: it gets through), suggestion (not verifiable: a change
        netemu cannot make and trace), none (no change found), or None (not searched)."""
        if self.fix_verified is None:
            return None
        return "verified" if self.fix_verified else "suggestion" if self.fixes else "none"

    def __str__(self) -> str:
        """A few lines for a person at a REPL: the flow, the verdict, where and why it
        was dropped (and which way), the fix."""
        port = f" port {self.port}" if self.proto in (TCP, UDP) else ""
        src, dst = self.source, self.destination
        lines = [f"{protocol_name(self.proto)}{port} from {src.text} ({src.ip}) to "
                 f"{dst.text} ({dst.ip})"]
        many = len(self.subnets) > 1
        failed = self.failed
        if failed is None:
            lines.append("delivered both ways" + (" from every subnet" if many else ""))
        else:
            leg = "request" if failed is self.request else "reply"
            sub = f" from subnet {src.subnet}" if many else ""
            lines.append(f"dropped{sub} in the {leg} at {failed.where or failed.dropped_at}: "
                         f"{failed.reason}" + (f", {failed.rule}" if failed.rule else ""))
            if EXPLAIN.get(failed.reason or ""):
                lines.append(f"  {EXPLAIN[failed.reason]}")
        if self.fixes:
            lines.append(f"fix ({self.fix_status}):")
            lines.extend(f"  {change}" for change in self.fixes)
        elif self.fix_note:
            lines.append(f"no fix: {self.fix_note}")
        return "\n".join(lines)

    def _outcome(self) -> dict:
        failed = self.failed
        return {
            "verdict": self.verdict,
            "reply_verdict": self.reply_verdict,
            "dropped_at": failed.dropped_at if failed else None,
            "dropped_in": ("request" if failed is self.request else "reply") if failed else None,
            "reason": failed.reason if failed else None,
            "explanation": EXPLAIN.get(failed.reason or "", None) if failed else None,
            "rule": failed.rule if failed else None,
            "hops": [asdict(s) for s in self.request.steps
                     + (self.reply.steps if self.reply else [])],
        }

    def to_json(self) -> dict:
        source = {"given": self.source.text, "ip": str(self.source.ip),
                  "what": self.source.label}
        if self.subnets:
            source.update(subnet=self.source.subnet, az=self.source.az)
        out = {
            "source": source,
            "destination": {"given": self.destination.text, "ip": str(self.destination.ip),
                            "what": self.destination.label},
            "protocol": protocol_name(self.proto), "port": self.port, "sport": self.sport,
            **self._outcome(),
            "fix": self.fixes,
            "fix_verified": self.fix_verified,
            "fix_status": self.fix_status,
            "fix_note": self.fix_note,
        }
        if self.subnets:
            out["dropped_from"] = (None if self.ok else {"subnet": self.source.subnet,
                                                          "az": self.source.az})
            out["subnets"] = [{"subnet": t.source.subnet, "az": t.source.az,
                               "source_ip": str(t.source.ip),
                               "destination_ip": str(t.destination.ip), **t._outcome()}
                              for t in self.subnets]
        return out


def _translation(before: tuple | None, after: tuple | None, proto: int) -> str | None:
    """Only what changed: `source 10.0.10.4:9829 -> 10.0.0.4:42918`."""
    if before is None or after is None:
        return None
    ports = proto in (TCP, UDP)
    parts = []
    for name, i in (("source", 0), ("destination", 2)):
        if before[i:i + 2] != after[i:i + 2]:
            b, a = ((f"{t[i]}:{t[i + 1]}" if ports else t[i]) for t in (before, after))
            parts.append(f"{name} {b} -> {a}")
    return ", ".join(parts) or None


def _steps(hops: list[Hop], direction: str, proto: int) -> list[Step]:
    """Fold an element's translate and forward records into one step."""
    steps: list[Step] = []
    for h in hops:
        if steps and steps[-1].element == h.element and steps[-1].decision == "translate":
            last = steps[-1]
            last.decision = "translate" if h.decision == "forward" else h.decision
            last.rule = last.rule or h.rule
            last.reason = h.reason
            continue
        steps.append(Step(direction, h.element, h.kind, h.resource, h.decision, h.rule,
                          h.reason, _translation(h.before, h.after, proto), at=h.at,
                          side=h.direction))
    return steps


def named(topo, element_name: str) -> str:
    """`route-table:rtb-0abc (app)`: each id of an element's name with its Name tag beside."""
    return _ID.sub(lambda m: topo.display(m.group()), element_name)


def _leg(dp: Dataplane, b: np.ndarray, hops: list[Hop], direction: str, proto: int) -> Leg:
    steps = _steps(hops, direction, proto)
    for s in steps:
        s.label = named(dp.topo, s.element)
    packet = (int_to_ip(b["src"][0]), int(b["sport"][0]), int_to_ip(b["dst"][0]),
              int(b["dport"][0]), int(b["proto"][0]))
    if b["status"][0] == DELIVERED:
        return Leg("delivered", delivered_to=dp.elements[int(b["at"][0])].resource,
                   steps=steps, packet=packet)
    reason = CODES[int(b["reason"][0])]
    last = next((s for s in reversed(steps) if s.decision == "drop"), None)
    return Leg("dropped", dropped_at=last.resource if last else None, reason=reason,
               rule=last.rule if last else None, steps=steps, packet=packet,
               where=dp.topo.display(last.resource) if last else None)


def _check_answer(reply: Leg, b0, r: np.ndarray) -> None:
    """A reply answers the request only if it comes from where the request was sent."""
    if not source_changed(r, b0["dst"], b0["dport"])[0]:
        return
    culprit = next((s for s in reply.steps
                    if (s.translation or "").startswith("source")), None)
    reply.verdict, reply.delivered_to = "dropped", None
    reply.reason = "REPLY_SOURCE_CHANGED"
    reply.dropped_at = culprit.resource if culprit else None


def packet_for(src: Endpoint, dst: Endpoint, proto: int, port: int, sport: int) -> np.ndarray:
    if proto == ICMP:
        sport, port = 8, 0     # echo request: type 8, code 0
    return from_columns(src=int(src.ip), dst=int(dst.ip), sport=sport, dport=port,
                        proto=proto, flags=SYN if proto == TCP else 0, length=60, flow=0)


def run_trace(topo: Topology, src: Endpoint, dst: Endpoint, proto: int, port: int,
              sport: int, settings: Settings | None = None) -> TraceResult:
    if dst.function is not None:
        return _into_function(topo, src, dst, proto, port, sport)
    dp = Dataplane(topo, settings)
    b = packet_for(src, dst, proto, port, sport)
    rt = dp.run(b, recording=True)
    request = _leg(dp, b, rt.hops, "request", proto)
    reply = None
    if request.verdict == "delivered":
        r = dp.replies(b, np.array([0]))
        rt = dp.run(r, recording=True)
        reply = _leg(dp, r, rt.hops, "reply", proto)
        _check_answer(reply, b0=packet_for(src, dst, proto, port, sport)[0], r=r)
    return TraceResult(src, dst, proto, port, b["sport"][0] if proto != ICMP else 0,
                       request, reply)


def _into_function(topo: Topology, src: Endpoint, dst: Endpoint, proto: int, port: int,
                   sport: int) -> TraceResult:
    """L5: no connection can be opened into a function, whatever the path to its
    Hyperplane ENI allows, so there is no packet to send: the answer is the function's."""
    eni = topo.eni_by_ip.get((dst.vpc, dst.ip))
    at = eni.id if eni is not None else dst.function
    reason = "LAMBDA_INBOUND_NOT_SUPPORTED"
    step = Step("request", f"lambda-function:{dst.function}", "lambda-function", at, "drop",
                reason=reason)
    packet = (str(src.ip), sport, str(dst.ip), port, proto)
    return TraceResult(src, dst, proto, port, sport if proto != ICMP else 0,
                       Leg("dropped", dropped_at=at, reason=reason, steps=[step],
                           packet=packet), None)
