"""Arithmetic over flow-log records, all of it vectorised: record columns with AWS's
missing values filled, exact sums of counts past int64, the steps a batch of records is
decided in (time slices and silences), and emulated records summed from them."""

from __future__ import annotations

import numpy as np

from netemu.io.flowlog_writer import minus_ones
from netemu.packet import ICMP

_LOW32 = np.int64(0xFFFFFFFF)


def isum(x: np.ndarray) -> int:
    """Exact sum of non-negative int64 values (no int64 overflow on huge counts)."""
    x = np.asarray(x, np.int64)
    return (int((x >> 32).sum()) << 32) + int((x & _LOW32).sum())


def record_columns(rec: np.ndarray) -> dict[str, np.ndarray]:
    """The record columns replay uses, as int64 with AWS's missing values filled: a
    missing `packets` is 1, `bytes` 0, `end` the start."""
    start = np.where(rec["start"] < 0, 0, rec["start"]).astype(np.int64)
    c = {k: rec[k].astype(np.int64) for k in ("src", "dst", "pkt_src", "pkt_dst",
                                               "tcp_flags", "action", "line")}
    c["start"] = start
    c["until"] = np.maximum(np.where(rec["end"] < 0, start, rec["end"]), start)
    c["packets"] = np.where(rec["packets"] < 0, 1, rec["packets"]).astype(np.int64)
    c["bytes"] = np.maximum(rec["bytes"], 0).astype(np.int64)
    for k in ("sport", "dport"):
        c[k] = np.clip(rec[k], 0, 65535).astype(np.int64)
    c["proto"] = np.clip(rec["proto"], 0, 255).astype(np.int64)
    return c


def time_slices(ts: np.ndarray, span: float, least: int = 1024) -> tuple[np.ndarray,
                                                                      np.ndarray]:
    """Per row, its time slice (slices of `span` seconds; sparse ones, under `least` rows,
    merged into the next: they cannot strain a cap) and each slice's first time."""
    if len(ts) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    raw = np.floor(ts / span)
    vals, inv, counts = np.unique(raw, return_inverse=True, return_counts=True)
    group = np.empty(len(vals), np.int64)
    g, held = 0, 0
    for j, n in enumerate(counts.tolist()):      # per slice, not per row
        group[j] = g
        held += n
        if held >= least:
            g, held = g + 1, 0
    chunk = group[inv.reshape(-1)]
    first = np.full(int(chunk.max()) + 1, np.inf)
    np.minimum.at(first, chunk, ts)
    return chunk, first


def silences(slot: np.ndarray, start: np.ndarray, until: np.ndarray, gap: float) -> np.ndarray:
    """Per record, how many silences longer than `gap` its connection's leg had before it
    in this batch (records taken as continuous from start to end): records of one wave
    are decided together, waves in order, so a silence meets the state's timeouts."""
    n = len(slot)
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((start, slot))
    s, st, un = slot[order], start[order], until[order]
    head = np.r_[True, s[1:] != s[:-1]]
    # the latest end of the earlier records of the same leg (a running max per group)
    rank = np.argsort(np.argsort(un, kind="stable"), kind="stable")
    grp = np.cumsum(head) - 1
    run = np.maximum.accumulate(rank + grp * (n + 1)) - grp * (n + 1)
    covered = np.sort(un)[run]
    prev = np.r_[-np.inf, covered[:-1]]
    quiet = ~head & (st > prev + gap)
    count = np.cumsum(quiet)
    begin = np.maximum.accumulate(np.where(head, np.arange(n), 0))
    out = np.empty(n, np.int64)
    out[order] = count - count[begin]
    return out


def group_sum(values: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Per group, the sum of non-negative int64 values, saturating at int64's maximum
    rather than wrapping (a flow-log field cannot say more)."""
    out = np.zeros(n, np.int64)
    if len(values) == 0:
        return out
    order = np.argsort(group, kind="stable")
    g = np.asarray(group)[order]
    v = np.asarray(values, np.int64)[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    out[g[starts]] = np.add.reduceat(v, starts)
    big = np.add.reduceat(v.astype(np.float64), starts)
    out[g[starts[big >= 2.0**63 - 2**11]]] = np.iinfo(np.int64).max
    return out


def sum_by(keys: np.ndarray, weights: np.ndarray, with_count: bool = False) -> dict:
    """Distinct columns of `keys` (rows: fields) and the exact sum of `weights` for each
    (with the number of columns too, when asked)."""
    if keys.shape[1] == 0:
        return {}
    uniq, inverse = np.unique(keys.astype(np.int64), axis=1, return_inverse=True)
    inverse = inverse.reshape(-1)
    out = {}
    order = np.argsort(inverse, kind="stable")
    cuts = np.searchsorted(inverse[order], np.arange(uniq.shape[1] + 1))
    for j in range(uniq.shape[1]):               # per distinct key: few
        w = weights[order[cuts[j]:cuts[j + 1]]]
        key = tuple(int(k) for k in uniq[:, j])
        out[key] = (len(w), isum(w)) if with_count else isum(w)
    return out


def emulated_records(hdr, point, accept, packets, nbytes, start, until, window: int) -> np.ndarray:
    """Emulated flow-log records: one per ENI, 5-tuple, action and capture window, with
    the records' packet and byte counts (F3)."""
    n = len(hdr)
    icmp = hdr["proto"] == ICMP
    sport = np.where(icmp, 0, hdr["sport"])
    dport = np.where(icmp, 0, hdr["dport"])
    win = start // window
    keys = (hdr["proto"], dport, sport, hdr["dst"], hdr["src"], accept.astype(np.int64),
            point, win)
    order = np.lexsort(keys)
    sk = [np.asarray(k)[order] for k in keys]
    change = np.zeros(n, bool)
    change[0] = True
    for k in sk:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    out = minus_ones(len(starts))          # np.full(-1) field by field: ~50x slower
    first = hdr.take(order[starts])        # take: see netemu.packet.pick
    out["version"] = 2
    out["interface_id"] = sk[6][starts]
    out["src"], out["dst"] = first["src"], first["dst"]
    out["sport"], out["dport"], out["proto"] = sk[2][starts], sk[1][starts], first["proto"]
    out["action"] = sk[5][starts]
    out["log_status"] = 0
    group = np.cumsum(change) - 1
    out["packets"] = group_sum(packets[order], group, len(starts))
    out["bytes"] = group_sum(nbytes[order], group, len(starts))
    out["start"] = np.minimum.reduceat(start[order], starts)
    out["end"] = np.maximum.reduceat(until[order], starts)
    return out
