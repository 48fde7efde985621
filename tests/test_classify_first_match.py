import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, packets_for, rule_tables

from netemu.dataplane.classify.first_match import FirstMatch, first_match_naive
from netemu.rules import FIELDS, RuleTable


def _check(table, pk, **kw):
    args = [pk[f] for f in FIELDS]
    got = FirstMatch(table, **kw).match(*args)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, first_match_naive(table, *args))


@settings(max_examples=examples(60), deadline=None)
@given(st.data())
def test_matches_oracle(data):
    table = data.draw(rule_tables())
    _check(table, data.draw(packets_for(table)))


@settings(max_examples=examples(25), deadline=None)
@given(st.data())
def test_matches_oracle_with_deep_trees(data):
    """Tiny leaves force many cuts, exercising the tree rather than one long leaf."""
    table = data.draw(rule_tables(max_rows=60))
    _check(table, data.draw(packets_for(table)), binth=1, max_cut_bits=2, spfac=2.0)


def test_empty_table_and_empty_batch():
    table = RuleTable.from_rows([])
    assert FirstMatch(table).match([1, 2], [3, 4], [5, 6], [7, 8], [6, 6]).tolist() == [-1, -1]
    full = RuleTable.from_rows([{}])
    e = np.zeros(0, np.uint32)
    assert FirstMatch(full).match(e, e, e, e, e).shape == (0,)


def test_priority_order():
    table = RuleTable.from_rows([{"dport": (80, 80)}, {}, {"dport": (80, 80)}])
    got = FirstMatch(table).match([1, 1], [2, 2], [3, 3], [80, 81], [6, 17])
    assert got.tolist() == [0, 1]
