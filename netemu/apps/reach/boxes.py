"""Sets of packets as disjoint boxes: one closed interval per dimension.

A box holds the request as the source sent it (O_*: the original src, dst, sport, dport,
and the protocol, which nothing rewrites) and the header as it is now. A current field
either *is* one of the original dimensions (`link`: it was never rewritten, or a
translation restored it) or holds its own value (C_*: written by a translation). The
link keeps the identity that boxes alone would lose: after swapping a reply's fields and
translating it back, `reply.src is request.dst` says the answer comes from where the
request went, for every packet of the box at once, without enumerating any.

A row's predicate (table.Row.match) constrains current fields; through the links it
narrows the original dimensions, so the set found at the end is a set of requests."""

from __future__ import annotations

from dataclasses import dataclass

O_SRC, O_DST, PROTO, O_SPORT, O_DPORT, C_SRC, C_DST, C_SPORT, C_DPORT = range(9)
FIELDS = ("src", "dst", "sport", "dport")          # current fields that can be rewritten
OWN = {"src": C_SRC, "dst": C_DST, "sport": C_SPORT, "dport": C_DPORT}
ORIG = {"src": O_SRC, "dst": O_DST, "sport": O_SPORT, "dport": O_DPORT}
Interval = tuple[int, int]


@dataclass(frozen=True)
class Box:
    iv: tuple[Interval, ...]          # 9 intervals
    link: tuple[int, int, int, int]   # dimension holding current src, dst, sport, dport

    def dim(self, f: str) -> int:
        return PROTO if f == "proto" else self.link[FIELDS.index(f)]

    def get(self, f: str) -> Interval:
        return self.iv[self.dim(f)]

    def rep(self, f: str) -> tuple:
        """What a current field is: ("L", original dimension) or ("V", its interval)."""
        d = self.dim(f)
        return ("L", d, self.iv[d]) if d < C_SRC else ("V", d, self.iv[d])

    def set(self, f: str, rep: tuple) -> Box:
        """Make current field `f` what `rep` says (a rep of this box's lineage)."""
        i = FIELDS.index(f)
        link = list(self.link)
        if rep[0] == "L":
            link[i] = rep[1]
            return Box(self.iv, tuple(link))
        link[i] = OWN[f]
        iv = list(self.iv)
        iv[OWN[f]] = rep[2]
        return Box(tuple(iv), tuple(link))

    def write(self, f: str, value: Interval) -> Box:
        return self.set(f, ("V", OWN[f], value))

    def narrow(self, d: int, value: Interval) -> Box | None:
        lo, hi = max(self.iv[d][0], value[0]), min(self.iv[d][1], value[1])
        if lo > hi:
            return None
        iv = list(self.iv)
        iv[d] = (lo, hi)
        return Box(tuple(iv), self.link)


def same(a: tuple, b: tuple) -> bool:
    """Is the box's rep `a` the value the mark's rep `b` holds: one original dimension,
    one point, or one value a translator wrote (its allocated range: the reply's port is
    the one it picked, also after a row on the way split the range into pieces, each
    the case where the pick falls in it)?"""
    if a[0] == b[0] == "L" and a[1] == b[1]:
        return True
    if a[0] == b[0] == "V" and b[2][0] <= a[2][0] and a[2][1] <= b[2][1]:
        return True
    return a[2][0] == a[2][1] == b[2][0] == b[2][1]


_AT = {"src": 0, "dst": 1, "sport": 2, "dport": 3, "proto": -1}


def compile_match(match: dict) -> tuple:
    """A row's match as (field position, lo, hi) triples (-1: the protocol)."""
    return tuple((_AT[f], lo, hi) for f, (lo, hi) in match.items())


def split(box: Box, match) -> tuple[Box | None, list[Box]]:
    """(the part of the box the row holds for, the disjoint rest). `match`: a row's
    match dict or compile_match() of it."""
    if isinstance(match, dict):
        match = compile_match(match)
    iv, link = box.iv, box.link
    cons: dict[int, Interval] = {}
    for at, lo, hi in match:               # most rows miss most boxes: check first
        d = PROTO if at < 0 else link[at]
        blo, bhi = iv[d]
        if lo > bhi or hi < blo:
            return None, [box]
        if d in cons:
            lo, hi = max(lo, cons[d][0]), min(hi, cons[d][1])
            if lo > hi:
                return None, [box]
        cons[d] = (lo, hi)
    rest, cur = [], list(iv)
    for d, (lo, hi) in cons.items():
        blo, bhi = cur[d]
        if blo < lo:
            cur[d] = (blo, lo - 1)
            rest.append(Box(tuple(cur), link))
        if bhi > hi:
            cur[d] = (hi + 1, bhi)
            rest.append(Box(tuple(cur), link))
        cur[d] = (max(blo, lo), min(bhi, hi))
    return Box(tuple(cur), link), rest


def split_values(box: Box, d: int, values: list[int]) -> tuple[list[Box], list[Box]]:
    """The box's pieces whose dimension `d` is one of `values`, and the others."""
    inside, outside = [], [box]
    for v in values:
        nxt = []
        for b in outside:
            hit, rest = split_dim(b, d, (v, v))
            if hit is not None:
                inside.append(hit)
            nxt += rest
        outside = nxt
    return inside, outside


def split_dim(box: Box, d: int, value: Interval) -> tuple[Box | None, list[Box]]:
    lo, hi = box.iv[d]
    if value[0] > hi or value[1] < lo:
        return None, [box]
    rest = []
    if lo < value[0]:
        rest.append(box.narrow(d, (lo, value[0] - 1)))
    if hi > value[1]:
        rest.append(box.narrow(d, (value[1] + 1, hi)))
    return box.narrow(d, value), rest


def size(boxes: list[Box], dims=(O_DST, PROTO, O_SPORT, O_DPORT)) -> int:
    """How many requests the (disjoint) boxes hold."""
    total = 0
    for b in boxes:
        n = 1
        for d in dims:
            n *= b.iv[d][1] - b.iv[d][0] + 1
        total += n
    return total


def subtract(a: list[Box], b: list[Box], dims=(O_DST, PROTO, O_SPORT, O_DPORT)) -> list[Box]:
    """The part of `a` outside `b`, over the request dimensions."""
    out = a
    for cut in b:
        match = {d: cut.iv[d] for d in dims}
        nxt = []
        for x in out:
            nxt += _split_dims(x, match)[1]
        out = nxt
    return out


def _split_dims(box: Box, cons: dict[int, Interval]) -> tuple[Box | None, list[Box]]:
    for d, (lo, hi) in cons.items():
        if lo > box.iv[d][1] or hi < box.iv[d][0]:
            return None, [box]
    rest, cur = [], box
    for d, value in cons.items():
        hit, more = split_dim(cur, d, value)
        rest += more
        cur = hit
    return cur, rest


def contains(boxes: list[Box], pkt: dict[int, int]) -> bool:
    """Is the point (dimension -> value) in one of the boxes?"""
    return any(all(b.iv[d][0] <= v <= b.iv[d][1] for d, v in pkt.items()) for b in boxes)
