"""issue 8, mutation testing: what the classifiers' own tests left unexercised (mutmut
found mutants there that no test ran). Expectations come from the naive oracles, which
read the rule table row by row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, packets_for, rule_tables

from netemu.dataplane.classify.any_match import AnyMatch, any_match_naive
from netemu.dataplane.classify.first_match import (
    FirstMatch,
    first_match_naive,
    first_match_scan,
)
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


@settings(max_examples=examples(20), deadline=None)
@given(st.data())
def test_mutants_first_match_scan_is_the_first_matching_row(data):
    """The linear scan the ClassBench test and benchmark use as their reference is
    itself the first matching row, as the naive oracle reads it."""
    table = data.draw(rule_tables())
    pk = data.draw(packets_for(table))
    args = [pk[f] for f in FIELDS]
    got = first_match_scan(table, *args)
    np.testing.assert_array_equal(got, first_match_naive(table, *args))


def test_mutants_lpm_refuses_bad_shapes_and_lengths():
    import pytest

    from netemu.dataplane.classify.lpm import Lpm
    with pytest.raises(ValueError, match="^prefixes, lengths and values must have the "
                       "same shape$"):
        Lpm(np.array([1, 2]), np.array([8]), np.array([0, 1]))
    for bad in (33, -1):                     # each alone is outside 0..32
        with pytest.raises(ValueError, match=r"^prefix length outside 0\.\.32$"):
            Lpm(np.array([0]), np.array([bad]), np.array([0]))
    Lpm(np.array([0, 0]), np.array([0, 32]), np.array([0, 1]))     # 0 and 32 are fine


def test_mutants_lpm_covers_the_whole_address_space_from_any_input_type():
    """0.0.0.0/0 -> 7 and 255.255.255.255/32 -> 9: address 0 and every address but the
    last get 7, the last 9, whether the table comes as lists, uint32/uint8 arrays (the
    last address + 1 must not wrap) or int64 arrays; the values come back as int32."""
    from netemu.dataplane.classify.lpm import Lpm
    dst = [0, 1, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]
    want = [7, 7, 7, 7, 9]
    for pfx, ln, val in (
            ([0, 0xFFFFFFFF], [0, 32], [7, 9]),
            (np.array([0, 0xFFFFFFFF], np.uint32), np.array([0, 32], np.uint8),
             np.array([7, 9], np.int32)),
            (np.array([0xFFFFFFFF, 0], np.int64), np.array([32, 0], np.int64),
             np.array([9, 7], np.int64))):
        got = Lpm(pfx, ln, val).lookup(np.array(dst, np.uint32))
        assert got.tolist() == want and got.dtype == np.int32
        assert Lpm(pfx, ln, val).lookup(dst).tolist() == want


def test_mutants_lpm_no_route_below_the_first_prefix_and_duplicates_in_order():
    """An address no prefix covers has no route (-1), even address 0 when only the last
    address has a route; many equal prefixes resolve as the naive oracle says (the
    order among equal lengths is kept whatever their number)."""
    from netemu.dataplane.classify.lpm import Lpm, lpm_naive
    only_last = Lpm(np.array([0xFFFFFFFF]), np.array([32]), np.array([9]))
    assert only_last.lookup(np.array([0, 5, 0xFFFFFFFF], np.uint32)).tolist() == [-1, -1, 9]
    n = 40
    pfx = np.full(n, 0x0A000000, np.uint32)
    ln = np.full(n, 8, np.uint8)
    val = np.arange(n, dtype=np.int32)
    dst = np.array([0x0A010203, 0x0B000000], np.uint32)
    np.testing.assert_array_equal(Lpm(pfx, ln, val).lookup(dst), lpm_naive(pfx, ln, val, dst))


def test_mutants_first_match_scan_stops_when_every_packet_matched():
    """A catch-all first row matches every packet at once; the scan still answers 0
    for each (and stops early)."""
    full = {"src": (0, 0xFFFFFFFF), "dst": (0, 0xFFFFFFFF), "sport": (0, 0xFFFF),
            "dport": (0, 0xFFFF), "proto": (0, 0xFF)}
    table = RuleTable.from_rows([full, dict(full, proto=(6, 6))])
    z = np.zeros(3, np.int64)
    assert first_match_scan(table, z, z, z, z, z + 6).tolist() == [0, 0, 0]
