"""issue 8, mutation testing: what the classifiers' own tests left unexercised (mutmut
found mutants there that no test ran). Expectations come from the naive oracles, which
read the rule table row by row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, packets_for, rule_tables

from netemu.dataplane.classify.any_match import AnyMatch, any_match_naive
from netemu.dataplane.classify.first_match import FirstMatch, first_match_naive
from netemu.rules import FIELDS, RuleTable


@settings(max_examples=examples(15), deadline=None)
@given(st.data())
def test_mutants_first_match_over_64_rows_splits_into_trees_and_still_matches(data):
    """Above 64 rows the table is split into trees by which address is narrower; the
    first match is still the first matching row of the whole table."""
    table = data.draw(rule_tables(max_rows=110, min_rows=65))
    pk = data.draw(packets_for(table, n=80))
    args = [pk[f] for f in FIELDS]
    np.testing.assert_array_equal(FirstMatch(table).match(*args),
                                  first_match_naive(table, *args))


def test_mutants_first_match_split_trees_by_hand():
    """70 rows: 30 narrow in src, 30 narrow in dst, 10 wide in both (three trees), and a
    packet each row's box holds; the first row covering it wins whatever its tree."""
    full = (0, 0xFFFFFFFF)
    rows = []
    for i in range(30):                       # /32 sources, any destination
        rows.append({"src": (i, i), "dst": full, "sport": (0, 0xFFFF),
                     "dport": (0, 0xFFFF), "proto": (0, 0xFF)})
    for i in range(30):                       # any source, /32 destinations
        rows.append({"src": full, "dst": (i, i), "sport": (0, 0xFFFF),
                     "dport": (0, 0xFFFF), "proto": (0, 0xFF)})
    for i in range(10):                       # wide in both: ports tell them apart
        rows.append({"src": full, "dst": full, "sport": (i, i), "dport": (0, 0xFFFF),
                     "proto": (0, 0xFF)})
    table = RuleTable.from_rows(rows)
    src = np.array([5, 1000, 1000, 7], np.int64)
    dst = np.array([1000, 12, 1000, 3], np.int64)
    sport = np.array([9, 9, 4, 100], np.int64)
    zero = np.zeros(4, np.int64)
    # src 5 -> row 5; dst 12 -> row 30 + 12; sport 4 -> row 60 + 4; src 7 (row 7) comes
    # before dst 3 (row 33)
    got = FirstMatch(table).match(src, dst, sport, zero, zero + 6)
    assert got.tolist() == [5, 42, 64, 7]


@settings(max_examples=examples(20), deadline=None)
@given(st.data())
def test_mutants_any_match_allows_is_any_row_matching(data):
    table = data.draw(rule_tables())
    pk = data.draw(packets_for(table))
    args = [pk[f] for f in FIELDS]
    got = AnyMatch(table).allows(*args)
    assert got.dtype == bool
    np.testing.assert_array_equal(got, any_match_naive(table, *args))
