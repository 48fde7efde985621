"""An element's decision as data: rows of predicate boxes over header fields, in order,
and what the first row that holds leads to.

A row holds for a packet when every header field it names lies in its closed interval
(a field it does not name matches anything) and its state predicate, if any, holds. The
first row that holds decides (every table ends with a row that always holds, so every
packet has a decision). A row leads to one of:

- `next`: the packet goes on to the node named `next` (a graph key `(kind, resource)`,
  or `"via"`: the node the router chose, carried with the packet; an outbound ACL
  sends it through the inbound ACL of that node's subnet when it is another subnet);
  `through`, when set, is the node crossed first (a subnet's ACL) on the way;
- `drop`: dropped with `reason` (a code of reasons.py), blamed on `rule` (its text);
- `rewrite`: header fields rewritten (`rewrite`: field -> value, or `"allocated"` for a
  port the translator picks (TCP and UDP; other protocols keep theirs), `"original"`
  for the value a translation restores), then on to `next` (and `through`);
- `deliver`: the packet arrived.

State predicates name what a decision depends on besides the header:
`TRACKED_REPLY` (the ENI's connection tracking knows the flow the other way, S3),
`KNOWN_TRANSLATION` (a translator knows the flow, its replies come back), `NO_PORT`
(the translator has no port left for this destination) and `FORGOTTEN` (the NAT gateway
dropped the flow's translation on idle, G4). A row without one holds whatever the state.

The same rule data compiles the fast matchers (compile_rules.RuleTable for security
groups and ACLs, route_prefixes for the LPM): a table is another view of that data, not
a second copy of the semantics. tests/ walks tables naively; reachability walks them
symbolically."""

from __future__ import annotations

from dataclasses import dataclass, field

from netemu.rules import FIELD_MAX, FIELDS, RuleTable

Key = tuple[str, str]
Box = dict[str, tuple[int, int]]

TRACKED_REPLY = "tracked reply"
KNOWN_TRANSLATION = "known translation"
NO_PORT = "no port"
FORGOTTEN = "forgotten on idle"
VIA = "via"


@dataclass(frozen=True)
class Row:
    match: Box = field(default_factory=dict)
    action: str = "next"                  # next | drop | rewrite | deliver
    next: Key | str | None = None
    reason: str | None = None
    rule: str | None = None
    rewrite: dict | None = None
    state: str | None = None
    through: Key | None = None            # crossed first (a subnet's ACL) on the way to next

    def holds(self, pkt: dict[str, int], states: frozenset[str] = frozenset()) -> bool:
        if self.state is not None and self.state not in states:
            return False
        return all(lo <= pkt[f] <= hi for f, (lo, hi) in self.match.items())


def rule_boxes(table: RuleTable) -> list[Box]:
    """The boxes of a RuleTable's rows, naming only the fields that narrow something."""
    boxes = []
    for row in range(len(table)):
        box = {}
        for f in FIELDS:
            lo, hi = int(table.lo[f][row]), int(table.hi[f][row])
            if (lo, hi) != (0, FIELD_MAX[f]):
                box[f] = (lo, hi)
        boxes.append(box)
    return boxes


def gaps(intervals: list[tuple[int, int]], top: int) -> list[tuple[int, int]]:
    """The intervals of [0, top] that none of `intervals` covers."""
    out, at = [], 0
    for lo, hi in sorted(intervals):
        if lo > at:
            out.append((at, lo - 1))
        at = max(at, hi + 1)
    if at <= top:
        out.append((at, top))
    return out


def point(value: int) -> tuple[int, int]:
    return (int(value), int(value))


def decide(rows: list[Row], pkt: dict[str, int],
           states: frozenset[str] = frozenset()) -> Row:
    """The naive lookup: the first row that holds."""
    for row in rows:
        if row.holds(pkt, states):
            return row
    raise AssertionError("a table must end with a row that always holds")
