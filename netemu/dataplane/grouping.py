"""Grouping a batch by flow: the megaflow idea of Open vSwitch. Each flow is decided
once, by its first packet, and every packet of the flow takes that decision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class Flows:
    first: np.ndarray   # index of each flow's first packet, flows in order of appearance
    group: np.ndarray   # flow number of each packet
    order: np.ndarray   # packets sorted by flow, time order kept inside each flow
    start: np.ndarray   # over `order`: where a new flow begins

    def __len__(self) -> int:
        return len(self.first)


def flow_groups(b: np.ndarray) -> Flows:
    """Group packets by 5-tuple. For ICMP the port columns hold type and code, which rules
    can tell apart, so they group too."""
    n = len(b)
    if n == 0:
        z = np.zeros(0, np.int64)
        return Flows(z, z, z, np.zeros(0, bool))
    k0 = (b["proto"].astype(np.uint64) << np.uint64(32)) | b["src"]
    k1 = ((b["dst"].astype(np.uint64) << np.uint64(32))
          | (b["sport"].astype(np.uint64) << np.uint64(16)) | b["dport"].astype(np.uint64))
    # Sort one 64-bit mix of the two words (far faster than a two-key lexsort); equal keys
    # sit together, and should two different keys ever share a mix, sort both words.
    mix = k0 * _MIX ^ k1
    order = np.argsort(mix, kind="stable")
    s0, s1 = k0[order], k1[order]
    differs = (s0[1:] != s0[:-1]) | (s1[1:] != s1[:-1])
    if (differs & (mix[order][1:] == mix[order][:-1])).any():
        order = np.lexsort((k1, k0))
        s0, s1 = k0[order], k1[order]
        differs = (s0[1:] != s0[:-1]) | (s1[1:] != s1[:-1])
    start = np.concatenate([[True], differs])
    starts = np.flatnonzero(start)
    firsts = order[starts]                     # stable sort: the earliest packet comes first
    by_time = np.argsort(firsts, kind="stable")
    rank = np.empty(len(firsts), dtype=np.int64)
    rank[by_time] = np.arange(len(firsts))
    group = np.empty(n, dtype=np.int64)
    group[order] = rank[np.cumsum(start) - 1]
    return Flows(firsts[by_time], group, order, start)


def segments(flows: Flows, ts: np.ndarray, gap: float) -> np.ndarray:
    """Per packet, how many silences longer than `gap` its flow had before it."""
    if len(flows.order) == 0:
        return np.zeros(0, dtype=np.int64)
    t = ts[flows.order]
    quiet = ~flows.start & (np.diff(t, prepend=t[0]) > gap)
    if not quiet.any():
        return np.zeros(len(ts), dtype=np.int64)
    count = np.cumsum(quiet)
    begin = np.maximum.accumulate(np.where(flows.start, np.arange(len(t)), 0))
    seg = np.empty(len(ts), dtype=np.int64)
    seg[flows.order] = count - count[begin]
    return seg
