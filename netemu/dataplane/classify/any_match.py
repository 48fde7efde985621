"""AnyMatch: security-group style matching, where any matching rule allows.

Security groups have no order and no deny, so the question is only "does some rule
match". Answering with the lowest matching row costs nothing extra with a first-match
tree and lets a verdict name a rule, so AnyMatch is FirstMatch with an any-semantics
oracle of its own."""

from __future__ import annotations

import numpy as np

from netemu.dataplane.classify.first_match import FirstMatch, headers
from netemu.rules import FIELDS, RuleTable


class AnyMatch:
    """`.match(...)` gives the lowest matching row per packet, -1 when no rule allows."""

    def __init__(self, table: RuleTable) -> None:
        self.table = table
        self._first = FirstMatch.cached(table)

    def match(self, src, dst, sport, dport, proto) -> np.ndarray:
        return self._first.match(src, dst, sport, dport, proto)

    def allows(self, src, dst, sport, dport, proto) -> np.ndarray:
        """Bool per packet: does any rule match."""
        return self.match(src, dst, sport, dport, proto) >= 0


def any_match_naive(table: RuleTable, src, dst, sport, dport, proto) -> np.ndarray:
    """Oracle: a packet is allowed when any row matches it."""
    pkts = headers(src, dst, sport, dport, proto)
    return np.array([any(table.row_matches(row, dict(zip(FIELDS, map(int, p), strict=True)))
                         for row in range(len(table))) for p in pkts], dtype=bool)
