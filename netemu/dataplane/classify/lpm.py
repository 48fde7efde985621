"""Lpm: longest-prefix match as one binary search over elementary intervals.

Prefixes nest or are disjoint, so their boundaries cut the address space into intervals
each owned by exactly one longest prefix (or none). Painting prefixes shortest first
into those intervals gives a sorted boundary array and an answer per interval; a lookup
is then a single np.searchsorted for the whole batch, whatever the number of lengths."""

from __future__ import annotations

import numpy as np


class Lpm:
    """Longest-prefix match: `.lookup(dst)` gives the value of the longest covering prefix,
    -1 when none covers. Among identical (prefix, length) pairs the first given wins."""

    def __init__(self, prefixes: np.ndarray, lengths: np.ndarray, values: np.ndarray) -> None:
        pfx = np.asarray(prefixes, dtype=np.int64)
        ln = np.asarray(lengths, dtype=np.int64)
        val = np.asarray(values, dtype=np.int32)
        if not (pfx.shape == ln.shape == val.shape):
            raise ValueError("prefixes, lengths and values must have the same shape")
        if ln.size and (ln.min() < 0 or ln.max() > 32):
            raise ValueError("prefix length outside 0..32")
        host = (np.int64(1) << (32 - ln)) - 1
        lo = pfx & ~host & 0xFFFFFFFF
        hi = lo | host
        # first of identical (prefix, length) wins: keep first occurrences only
        _, first = np.unique(np.stack([lo, ln], axis=1), axis=0, return_index=True)
        first.sort()
        lo, hi, ln, val = lo[first], hi[first], ln[first], val[first]
        # np.unique's values; np.unique itself would import numpy.ma, ~8 ms of a cold trace
        edges = np.sort(np.concatenate([[0], lo, hi + 1]))
        bounds = edges[np.concatenate(([True], edges[1:] != edges[:-1]))]
        bounds = bounds[bounds <= 0xFFFFFFFF]
        owner = np.full(bounds.size, -1, dtype=np.int32)
        start = np.searchsorted(bounds, lo)
        stop = np.searchsorted(bounds, hi + 1)
        for i in np.argsort(ln, kind="stable"):   # shorter first, longer overwrite
            owner[start[i]:stop[i]] = val[i]
        self._bounds = bounds
        self._owner = owner

    def lookup(self, dst) -> np.ndarray:
        """Value of the longest prefix covering each address (int32), -1 when none."""
        d = np.asarray(dst, dtype=np.int64)
        return self._owner[np.searchsorted(self._bounds, d, side="right") - 1]


def lpm_naive(prefixes, lengths, values, dst) -> np.ndarray:
    """Oracle: for each address try every prefix, keep the longest (first among equals)."""
    out = []
    for a in np.asarray(dst, dtype=np.int64).tolist():
        best, best_len = -1, -1
        for p, n, v in zip(np.asarray(prefixes).tolist(), np.asarray(lengths).tolist(),
                           np.asarray(values).tolist(), strict=True):
            mask = (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF
            if (a & mask) == (p & mask) and n > best_len:
                best, best_len = v, n
        out.append(best)
    return np.array(out, dtype=np.int32)
