"""Grouping a batch by flow: the megaflow idea of Open vSwitch. Each flow is decided
once, by its first packet, and every packet of the flow takes that decision."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.classify.flowtable import pack_keys
from netemu.dataplane.packet import ICMP


def flow_groups(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each flow's first packet, in order of first appearance, and each packet's
    flow number. ICMP is grouped by addresses (its port columns hold type and code)."""
    if len(b) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    icmp = b["proto"] == ICMP
    keys = pack_keys(0, b["src"], b["dst"], np.where(icmp, 0, b["sport"]),
                     np.where(icmp, 0, b["dport"]), b["proto"])
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    k = keys[order]
    start = np.concatenate([[True], (k[1:] != k[:-1]).any(axis=1)])
    starts = np.flatnonzero(start)
    firsts = np.minimum.reduceat(order, starts)          # earliest packet of each flow
    sorted_group = np.cumsum(start) - 1
    rank = np.empty(len(firsts), dtype=np.int64)
    by_time = np.argsort(firsts, kind="stable")
    rank[by_time] = np.arange(len(firsts))
    group = np.empty(len(b), dtype=np.int64)
    group[order] = rank[sorted_group]
    return firsts[by_time], group


def segments(group: np.ndarray, ts: np.ndarray, gap: float) -> np.ndarray:
    """Per packet, how many silences longer than `gap` its flow had before it."""
    if len(group) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(group, kind="stable")
    g, t = group[order], ts[order]
    same = np.concatenate([[False], g[1:] == g[:-1]])
    quiet = same & (np.diff(t, prepend=t[0]) > gap)
    count = np.cumsum(quiet)
    start = np.maximum.accumulate(np.where(same, 0, np.arange(len(g))))
    seg = np.empty(len(group), dtype=np.int64)
    seg[order] = count - count[start]
    return seg
