"""The symbolic walk: sets of packets pushed through the element tables (table.Row), the
same rows the dataplane's decisions are another view of, first match by subtraction.

A set at a node meets the table's rows in order: the part a row holds for takes that
row's action (on to `next`, through `through`; dropped; rewritten; delivered), the rest
meets the next row. Requests are walked with no state (a new flow: no tracked reply, no
known translation, a port free). Each delivered set is answered (ports swapped, an echo
request answered by an echo reply) where the dataplane starts replies, and walked back
with the state its request left: TRACKED_REPLY at an interface it crossed and
KNOWN_TRANSLATION at a translator that translated it, each only for replies that are the
reverse of what crossed there. Network ACLs keep no state: they decide replies by their
rows, like anything else."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from netemu.apps.reach.boxes import (
    O_DPORT,
    O_DST,
    PROTO,
    Box,
    compile_match,
    same,
    split,
    split_dim,
    split_values,
)
from netemu.dataplane.graph import Graph
from netemu.dataplane.table import KNOWN_TRANSLATION, TRACKED_REPLY, VIA, Row
from netemu.packet import ICMP, TCP, UDP

MAX_HOPS = 64              # as run.MAX_HOPS: a longer path is a routing loop
NAT_PORTS = (1024, 65535)  # N6: what a translator allocates from
PORTED = [TCP, UDP]


@dataclass(frozen=True)
class Hop:
    node: tuple[str, str]
    action: str                 # next | rewrite | deliver | drop
    rule: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Mark:
    """What crossing a stateful node left for the replies: the header as it left (`sig`),
    and for a translator the source it had before (`pre`)."""
    node: tuple[str, str]
    sig: tuple                  # reps of src, dst, sport, dport after the node
    pre: tuple | None = None    # reps of src, sport before a translation


@dataclass
class End:
    """Where a set of packets ended, along one path."""
    node: tuple[str, str]
    action: str                 # deliver | drop
    boxes: list[Box]
    path: tuple[Hop, ...]
    marks: tuple[Mark, ...] = ()
    reason: str | None = None
    rule: str | None = None


@dataclass
class Walker:
    graph: Graph
    tables: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)       # key -> the element's rows as read
    like: Walker | None = None    # another topology's walker (before a change): a table
                                  # with the same rows there is compiled once

    def rows(self, key) -> list:
        """The node's table, each row with its match compiled for split(), and runs of
        rows that each pick one value of one field (an interface's address, an
        environment's) as one Run, looked up by bisection."""
        if key not in self.tables:
            raw = self.raw[key] = self.graph.element(key).table()
            like = self.like
            if like is not None and key in like.raw and like.raw[key] == raw:
                self.tables[key] = like.tables[key]
            else:
                self.tables[key] = _runs(raw)
        return self.tables[key]

    def walk(self, boxes: list[Box], start, marks: tuple[Mark, ...] | None = None
             ) -> list[End]:
        """Every end of `boxes` from node `start`. `marks`: None for requests, the
        request's marks for its replies."""
        ends: list[End] = []
        todo = [(boxes, start, None, (), ())]
        while todo:
            bs, node, via, path, made = todo.pop()
            if len(path) >= MAX_HOPS:
                ends.append(End(node, "drop", bs, path, made, "ROUTING_LOOP"))
                continue
            known = (marks or ()) + made     # a path can meet its own state (a hairpin)
            for states, part in self._by_state(bs, node, known):
                if part:
                    self._step(part, node, via, path, made, states, marks, known, todo,
                               ends)
        return ends

    # ---- one node ------------------------------------------------------------------------
    def _by_state(self, bs: list[Box], node, marks) -> list[tuple[frozenset, list[Box]]]:
        """The boxes that answer what crossed here (for replies, on the request's path;
        for anything, earlier on its own path) hold the node's state, the rest none."""
        at = _state_node(node)
        here = [m for m in marks if m.node == at]
        if not here:
            return [(frozenset(), bs)]
        state = TRACKED_REPLY if node[0] in ("in", "out") else KNOWN_TRANSLATION
        yes, no = [], []
        for b in bs:
            (yes if any(_answers(b, m) for m in here) else no).append(b)
        return [(frozenset({state}), yes), (frozenset(), no)]

    def _step(self, bs, node, via, path, made, states, marks, known, todo, ends) -> None:
        rest = list(bs)
        for row, match in self.rows(node):
            if not rest:
                return
            if isinstance(row, Run):
                rest = row.apply(rest, lambda r, hit: self._act(
                    r, hit, node, via, path, made, marks, known, todo, ends))
                continue
            if row.state is not None and row.state not in states:
                continue
            hit, left = [], []
            for b in rest:
                h, r = split(b, match)
                if h is not None:
                    hit.append(h)
                left += r
            rest = left
            if hit:
                self._act(row, hit, node, via, path, made, marks, known, todo, ends)

    def _act(self, row: Row, hit, node, via, path, made, marks, known, todo, ends) -> None:
        hop = Hop(node, row.action, row.rule, row.reason)
        path = path + (hop,)
        if row.action == "drop":
            ends.append(End(node, "drop", hit, path, made, row.reason, row.rule))
            return
        if row.action == "deliver":
            ends.append(End(node, "deliver", hit, path, made))
            return
        if node[0] in ("in", "out") and marks is None:
            made = made + tuple({Mark(_state_node(node), _sig(b)) for b in hit})
        if row.action == "rewrite":
            for group, pre in self._rewrite(row, hit, node, known):
                m = made
                if marks is None and pre is not None:
                    m = made + tuple({Mark(node, _sig(b), pre) for b in group})
                self._go(row, group, node, via, path, m, todo)
            return
        self._go(row, hit, node, via, path, made, todo)

    def _go(self, row: Row, bs, node, via, path, made, todo) -> None:
        """On to `next` (the router's choice for `via`), through `through` first, and
        from an outbound ACL through the inbound ACL of the subnet it enters."""
        if not bs:
            return
        nxt = via if row.next == VIA else row.next
        if row.through is not None:
            todo.append((bs, row.through, nxt, path, made))
            return
        if node[0] == "acl-out" and row.next == VIA:
            sub = self.graph.nodes[nxt].subnet
            if sub is not None and sub != node[1]:
                todo.append((bs, ("acl-in", sub), nxt, path, made))
                return
        todo.append((bs, nxt, None, path, made))

    def _rewrite(self, row: Row, hit, node, marks):
        """(boxes, reps before) per group: a source translation allocates a port to TCP and
        UDP only; a restoration gives back what the translation at this node replaced."""
        spec = row.rewrite or {}
        if "original" in spec.values():
            out = []
            for b in hit:
                pre = next((m.pre for m in (marks or ()) if m.node == node and m.pre
                            and _answers(b, m)), None)
                if pre is None:           # cannot happen: the state row held for it
                    continue
                b = b.set("dst", pre[0])
                if spec.get("dport") == "original" and b.get("proto")[0] in PORTED:
                    b = b.set("dport", pre[1])
                out.append(b)
            return [(out, None)]
        groups = []
        ported, other = [], []
        for b in hit:
            if spec.get("sport") == "allocated":
                p, o = split_values(b, PROTO, PORTED)
                ported += p
                other += o
            else:
                other.append(b)
        for bs in (ported, other):
            if not bs:
                continue
            pre = (bs[0].rep("src"), bs[0].rep("sport"))
            done = []
            for b in bs:
                for f, v in spec.items():
                    if v == "allocated":
                        if b.get("proto")[0] in PORTED:
                            b = b.write(f, NAT_PORTS)
                    else:
                        b = b.write(f, (int(v), int(v)))
                done.append(b)
            translating = spec.get("sport") == "allocated"
            groups.append((done, pre if translating else None))
        return groups


@dataclass
class Run:
    """Consecutive stateless rows that each hold for one value of `field` (and the same
    other constraints `common`): first match among them is the one for that value."""
    field: str
    common: tuple
    values: list[int]             # sorted, first row kept per value
    rows: list[Row]

    def apply(self, boxes: list[Box], act) -> list[Box]:
        """Act on each value's part; return what no row of the run holds for."""
        left, by_row = [], {}
        for b in boxes:
            inside, outside = split(b, self.common) if self.common else (b, [])
            left += outside
            if inside is None:
                continue
            lo, hi = inside.get(self.field)
            i = bisect_left(self.values, lo)
            cur = inside
            while cur is not None and i < len(self.values) and self.values[i] <= hi:
                v = self.values[i]
                hit, more = split_dim(cur, cur.dim(self.field), (v, v))
                by_row.setdefault(i, []).append(hit)
                cur = None
                for m in more:                  # below v: done; above v: go on
                    if m.get(self.field)[0] > v:
                        cur = m
                    else:
                        left.append(m)
                i += 1
            if cur is not None:
                left.append(cur)
        for i in sorted(by_row):
            act(self.rows[i], by_row[i])
        return left


def _point_fields(row: Row) -> dict:
    """field -> (value, the other constraints) for each field a stateless row pins to
    one value."""
    if row.state is not None:
        return {}
    m = row.match
    if len(m) == 1:                     # most rows of long tables: one address each
        (f, (lo, hi)), = m.items()
        return {f: (lo, ())} if lo == hi else {}
    return {f: (lo, compile_match({g: v for g, v in m.items() if g != f}))
            for f, (lo, hi) in m.items() if lo == hi}


def _runs(rows: list[Row], least: int = 8) -> list:
    out: list = []
    pins = [_point_fields(r) for r in rows]
    i = 0
    while i < len(rows):
        best, end = None, i + 1
        for f, (_, common) in pins[i].items():
            j = i + 1
            while j < len(rows) and f in pins[j] and pins[j][f][1] == common:
                j += 1
            if j > end:
                best, end = (f, common), j
        if best is not None and end - i >= least:
            first: dict[int, Row] = {}
            for k in range(i, end):
                first.setdefault(pins[k][best[0]][0], rows[k])
            values = sorted(first)
            out.append((Run(best[0], best[1], values, [first[v] for v in values]), None))
            i = end
            continue
        out.append((rows[i], compile_match(rows[i].match)))
        i += 1
    return out


def _state_node(node):
    """Both sides of an interface share its connection tracking (S3)."""
    return ("eni", node[1]) if node[0] in ("in", "out") else node


def _sig(b: Box) -> tuple:
    return tuple(b.rep(f) for f in ("src", "dst", "sport", "dport"))


def _answers(b: Box, m: Mark) -> bool:
    """Is the reply box the reverse of what crossed the node (ports only for TCP/UDP)?"""
    s = m.sig
    ok = same(b.rep("src"), s[1]) and same(b.rep("dst"), s[0])
    if ok and b.get("proto")[0] in PORTED:
        ok = same(b.rep("sport"), s[3]) and same(b.rep("dport"), s[2])
    return ok


# ---- replies ----------------------------------------------------------------------------
def answer(b: Box) -> list[Box]:
    """The reply to each request of the box as it arrived: addresses swapped, TCP and UDP
    ports swapped, ICMP keeps type and code (an echo request, type 8, gets type 0)."""
    src, dst = b.rep("src"), b.rep("dst")
    r = b.set("src", dst).set("dst", src)
    if b.get("proto")[0] in PORTED:
        return [r.set("sport", b.rep("dport")).set("dport", b.rep("sport"))]
    if b.get("proto") == (ICMP, ICMP):
        echo, rest = split_dim(r, r.dim("sport"), (8, 8))
        return ([echo.write("sport", (0, 0))] if echo else []) + rest
    return [r]


def answered(b: Box) -> tuple[list[Box], list[Box]]:
    """A delivered reply answers only if it comes from the address (and, TCP and UDP, the
    port) the request was sent to; else REPLY_SOURCE_CHANGED. (answering, not)"""
    good, bad = [b], []
    checks = [("src", O_DST)] + ([("sport", O_DPORT)] if b.get("proto")[0] in PORTED else [])
    for f, d in checks:
        nxt = []
        for x in good:
            rep = x.rep(f)
            if rep[0] == "L" and rep[1] == d:
                nxt.append(x)
            elif rep[2][0] == rep[2][1]:             # a point: the requests sent to it
                hit, rest = split_dim(x, d, rep[2])
                nxt += [hit] if hit else []
                bad += rest
            else:
                bad.append(x)
        good = nxt
    return good, bad


def proto_pieces(b: Box) -> list[Box]:
    """Split a box so each piece's protocol is TCP, UDP, ICMP, or none of them."""
    inside, outside = split_values(b, PROTO, [ICMP, TCP, UDP])
    return inside + outside


