"""RuleTable: rules as parallel arrays of closed intervals over the packet header fields,
in priority order. Layer 0, beside netemu.packet: the dataplane's classifiers match them,
readers (ClassBench filters) make them and apps (lint) reason over them.

Every rule kind that filters on the 5-tuple (network ACL entries, security-group rules,
ClassBench filters) compiles to this one shape: a row matches a packet when every field
of the packet lies in the row's [lo, hi]. A rule with several peers (a security group
reference, a prefix list) becomes several rows; `rule` maps each row back to the rule it
came from, so a matcher's answer can name the rule a person wrote."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIELDS = ("src", "dst", "sport", "dport", "proto")
FIELD_MAX = {"src": 0xFFFFFFFF, "dst": 0xFFFFFFFF, "sport": 0xFFFF, "dport": 0xFFFF,
             "proto": 0xFF}
FIELD_DTYPE = {"src": np.uint32, "dst": np.uint32, "sport": np.uint16, "dport": np.uint16,
               "proto": np.uint8}


@dataclass(frozen=True)
class RuleTable:
    lo: dict[str, np.ndarray]   # field -> lower bounds, one per row
    hi: dict[str, np.ndarray]   # field -> upper bounds (inclusive)
    rule: np.ndarray            # row -> index of the source rule (int32)

    def __len__(self) -> int:
        return len(self.rule)

    @staticmethod
    def from_rows(rows: list[dict[str, tuple[int, int]]], rule: list[int] | None = None
                  ) -> RuleTable:
        """rows: one dict per row, field -> (lo, hi); a missing field matches anything."""
        lo = {f: np.array([r.get(f, (0, FIELD_MAX[f]))[0] for r in rows], FIELD_DTYPE[f])
              for f in FIELDS}
        hi = {f: np.array([r.get(f, (0, FIELD_MAX[f]))[1] for r in rows], FIELD_DTYPE[f])
              for f in FIELDS}
        idx = np.arange(len(rows), dtype=np.int32) if rule is None else np.asarray(
            rule, dtype=np.int32)
        return RuleTable(lo, hi, idx)

    def row_matches(self, row: int, pkt: dict[str, int]) -> bool:
        return all(self.lo[f][row] <= pkt[f] <= self.hi[f][row] for f in FIELDS)
