"""Grouping a batch by flow: the megaflow idea of Open vSwitch. Each flow is decided
once, by its first packet, and every packet of the flow takes that decision."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.flowkey import index_hash
from netemu.packet import SYN, TCP


class Flows:
    """A batch grouped by flow. `first`: each flow's first packet, flows in order of
    appearance; `group`: each packet's flow. `order` (packets sorted by flow, time order
    kept inside each flow) and `start` (where each flow begins in `order`) are worked out
    only when asked for."""

    def __init__(self, first: np.ndarray, group: np.ndarray) -> None:
        self.first, self.group = first, group
        self._order: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.first)

    @property
    def order(self) -> np.ndarray:
        if self._order is None:
            self._order = stable_argsort(self.group)
        return self._order

    @property
    def start(self) -> np.ndarray:
        g = self.group[self.order]
        return np.concatenate([[True], g[1:] != g[:-1]]) if len(g) else np.zeros(0, bool)


def stable_argsort(keys: np.ndarray) -> np.ndarray:
    """np.argsort(keys, kind="stable") for integer keys, faster when they are small:
    numpy sorts 16-bit integers stably by radix, so keys below 2**16 sort as uint16, and
    keys below 2**32 in two such passes (low half, then high half: LSD radix, stable)."""
    if len(keys) == 0 or keys.min() < 0 or keys.max() >= 1 << 32:
        return np.argsort(keys, kind="stable")
    if keys.max() < 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    low = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((keys[low] >> 16).astype(np.uint16), kind="stable")]


def flow_groups(b: np.ndarray) -> Flows:
    """Group packets by 5-tuple. For ICMP the port columns hold type and code, which rules
    can tell apart, so they group too."""
    k0 = (b["proto"].astype(np.uint64) << np.uint64(32)) | b["src"]
    k1 = ((b["dst"].astype(np.uint64) << np.uint64(32))
          | (b["sport"].astype(np.uint64) << np.uint64(16)) | b["dport"].astype(np.uint64))
    return Flows(*group_keys(k0, k1))


def starts(flows: Flows, ts: np.ndarray, gap: float,
           flags: np.ndarray | None = None, proto: np.ndarray | None = None) -> np.ndarray:
    """Per packet, whether it begins a segment of its flow: a stretch whose packets no
    state can forget in between, so that its first packet decides for all of them. A
    segment begins at the flow's first packet, after a silence longer than `gap` (the
    shortest idle timeout), and, given TCP flags, at the first SYN of a TCP segment that
    began without one (a NAT gateway refuses a timed-out flow until a SYN reopens it)."""
    n = len(ts)
    begin = np.zeros(n, bool)
    if n == 0:
        return begin
    order, first = flows.order, flows.start
    t = ts[order]
    new = first | (np.diff(t, prepend=t[0]) > gap)
    if flags is not None and proto is not None:
        syn = (proto[order] == TCP) & ((flags[order] & SYN) != 0)
        seg = np.cumsum(new) - 1
        head = np.flatnonzero(new)
        bare = (proto[order][head] == TCP) & ~syn[head]     # began without SYN
        at = np.flatnonzero(syn)
        if at.size:
            segs, firsts = np.unique(seg[at], return_index=True)
            at = at[firsts]
            new[at[bare[segs]]] = True
    begin[order] = new
    return begin


def segments(flows: Flows, ts: np.ndarray, gap: float,
             flags: np.ndarray | None = None, proto: np.ndarray | None = None) -> np.ndarray:
    """Per packet, how many segments (see `starts`) its flow had before its own."""
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64)
    if float(ts.max() - ts.min()) <= gap and (flags is None or proto is None):
        return np.zeros(len(ts), dtype=np.int64)     # no flow can have been silent so long
    new = starts(flows, ts, gap, flags, proto)[flows.order]
    count = np.cumsum(new)
    begin = np.maximum.accumulate(np.where(flows.start, np.arange(len(ts)), 0))
    seg = np.empty(len(ts), dtype=np.int64)
    seg[flows.order] = count - count[begin]
    return seg


def waves(flows: Flows, conn: np.ndarray, begin: np.ndarray,
          forward: np.ndarray) -> np.ndarray:
    """Per packet, the wave that decides it when a batch holds both directions of
    connections. `conn`: per packet, what must be decided in time order (its connection,
    or a coarser group of connections that share state); `forward`: sent by the side
    that opened the connection; `begin`: segment starts (see `starts`).

    A request segment is one piece. A reply segment is cut into pieces wherever a request
    segment of its group begins, since a reply's fate follows the request before it (its
    translation, or its drop). The pieces of one group are decided in the order they
    begin, one per wave, so each meets the state left by everything its group did before
    it, as if the packets came one at a time. Pieces of different groups share waves."""
    n = len(conn)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.arange(n)
    corder = stable_argsort(conn)                   # by connection, then position
    c = conn[corder]
    chead = np.concatenate([[True], c[1:] != c[:-1]])
    chead_at = np.maximum.accumulate(np.where(chead, idx, 0))

    def within(marks: np.ndarray) -> np.ndarray:
        """Per packet, how many marked packets its connection has up to it."""
        m = marks[corder].astype(np.int64)
        cs = np.cumsum(m)
        out = np.empty(n, np.int64)
        out[corder] = cs - (cs[chead_at] - m[chead_at])
        return out

    epoch = within(begin & forward)
    order = flows.order
    e = epoch[order]
    piece = flows.start | begin[order] | (
        ~forward[order] & (np.diff(e, prepend=e[0]) != 0))
    head = np.zeros(n, bool)
    head[order] = piece
    rank = within(head) - 1                          # each piece's rank at its head
    piece_head = order[np.maximum.accumulate(np.where(piece, idx, 0))]
    wave = np.empty(n, np.int64)
    wave[order] = rank[piece_head]
    return wave


_scratch: dict[int, np.ndarray] = {}    # grouping tables by size, kept empty (all -1)


def group_keys(k0: np.ndarray, k1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys of a batch: the first packet of each (ascending, i.e. in order of
    first appearance) and each packet's group number. A scratch open-addressing table is
    probed by all packets together; in each round every empty cell goes to one claimant
    and everyone whose key differs from the cell's owner probes on."""
    n = len(k0)
    if n == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    bits = max(4, int(n).bit_length() + 1)
    mask = (1 << bits) - 1
    cell = index_hash(k0, k1, bits)
    table = _scratch.pop(bits, None)
    if table is None:
        table = np.full(1 << bits, -1, np.intp)
    rep = np.empty(n, np.intp)
    act = np.arange(n)
    c = cell
    claimed = []
    while True:
        owner = table[c]
        free = owner < 0
        if free.any():
            cf = c[free]
            table[cf] = act[free]             # one claimant per cell wins
            claimed.append(cf)
            owner = table[c]
        same = k0[owner] == k0[act]
        same &= k1[owner] == k1[act]
        rep[act[same]] = owner[same]
        if same.all():
            break
        act = act[~same]
        c = (cell[act] + 1) & mask
        cell[act] = c
    for cf in claimed:
        table[cf] = -1
    _scratch[bits] = table
    idx = np.arange(n)
    first = np.full(n, n, np.intp)
    np.minimum.at(first, rep, idx)            # the earliest packet stands for its key
    rep = first[rep]
    is_first = rep == idx
    number = np.cumsum(is_first) - 1
    return np.flatnonzero(is_first), number[rep]
