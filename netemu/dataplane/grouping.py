"""Grouping a batch by flow: the megaflow idea of Open vSwitch. Each flow is decided
once, by its first packet, and every packet of the flow takes that decision."""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)


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
            self._order = np.argsort(self.group, kind="stable")
        return self._order

    @property
    def start(self) -> np.ndarray:
        g = self.group[self.order]
        return np.concatenate([[True], g[1:] != g[:-1]]) if len(g) else np.zeros(0, bool)


def flow_groups(b: np.ndarray) -> Flows:
    """Group packets by 5-tuple. For ICMP the port columns hold type and code, which rules
    can tell apart, so they group too."""
    k0 = (b["proto"].astype(np.uint64) << np.uint64(32)) | b["src"]
    k1 = ((b["dst"].astype(np.uint64) << np.uint64(32))
          | (b["sport"].astype(np.uint64) << np.uint64(16)) | b["dport"].astype(np.uint64))
    return Flows(*group_keys(k0, k1))


def segments(flows: Flows, ts: np.ndarray, gap: float) -> np.ndarray:
    """Per packet, how many silences longer than `gap` its flow had before it."""
    if len(ts) == 0 or float(ts.max() - ts.min()) <= gap:
        return np.zeros(len(ts), dtype=np.int64)     # no flow can have been silent so long
    order, start = flows.order, flows.start
    t = ts[order]
    quiet = ~start & (np.diff(t, prepend=t[0]) > gap)
    if not quiet.any():
        return np.zeros(len(ts), dtype=np.int64)
    count = np.cumsum(quiet)
    begin = np.maximum.accumulate(np.where(start, np.arange(len(t)), 0))
    seg = np.empty(len(ts), dtype=np.int64)
    seg[order] = count - count[begin]
    return seg


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
    h = k0 * _M1
    h ^= k1
    h *= _M2
    h >>= np.uint64(64 - bits)
    cell = h.astype(np.intp)
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
