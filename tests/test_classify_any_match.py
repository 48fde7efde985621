import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, packets_for, rule_tables

from netemu.dataplane.classify.any_match import AnyMatch, any_match_naive
from netemu.rules import FIELDS


@settings(max_examples=examples(50), deadline=None)
@given(st.data())
def test_any_match_oracle(data):
    table = data.draw(rule_tables())
    pk = data.draw(packets_for(table))
    args = [pk[f] for f in FIELDS]
    got = AnyMatch(table).match(*args)
    np.testing.assert_array_equal(got >= 0, any_match_naive(table, *args))
    for i in np.flatnonzero(got >= 0):
        assert table.row_matches(int(got[i]), {f: int(pk[f][i]) for f in FIELDS})
