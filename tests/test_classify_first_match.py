import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from netemu.dataplane.classify.first_match import FirstMatch, first_match_naive
from netemu.dataplane.classify.rules import FIELD_MAX, FIELDS, RuleTable

BITS = {"src": 32, "dst": 32, "sport": 16, "dport": 16, "proto": 8}


@st.composite
def field_range(draw, f):
    top = FIELD_MAX[f]
    kind = draw(st.sampled_from(["any", "prefix", "range", "point", "edge"]))
    if kind == "any":
        return (0, top)
    if kind == "prefix":
        n = draw(st.integers(0, BITS[f]))
        host = (1 << (BITS[f] - n)) - 1
        lo = draw(st.integers(0, top)) & ~host & top
        return (lo, lo | host)
    if kind == "point":
        v = draw(st.sampled_from([0, top, draw(st.integers(0, top))]))
        return (v, v)
    if kind == "edge":
        return draw(st.sampled_from([(0, 0), (top, top), (0, top - 1), (1, top)]))
    a, b = draw(st.integers(0, top)), draw(st.integers(0, top))
    return (min(a, b), max(a, b))


@st.composite
def rule_tables(draw, max_rows=40):
    rows = draw(st.lists(st.fixed_dictionaries({f: field_range(f) for f in FIELDS}),
                         min_size=0, max_size=max_rows))
    # nested copies: a rule inside an earlier one
    for r in list(rows[: draw(st.integers(0, 3))]):
        rows.append({f: (r[f][0], r[f][0] + (r[f][1] - r[f][0]) // 2) for f in FIELDS})
    return RuleTable.from_rows(rows)


@st.composite
def packets_for(draw, table: RuleTable, n=60):
    cols = {f: [] for f in FIELDS}
    for _ in range(n):
        row = draw(st.integers(-1, len(table) - 1))
        for f in FIELDS:
            top = FIELD_MAX[f]
            if row < 0:
                v = draw(st.integers(0, top))
            else:
                lo, hi = int(table.lo[f][row]), int(table.hi[f][row])
                v = draw(st.sampled_from([lo, hi, max(lo - 1, 0), min(hi + 1, top),
                                          draw(st.integers(lo, hi))]))
            cols[f].append(v)
    return {f: np.array(cols[f], dtype=np.int64) for f in FIELDS}


def _check(table, pk, **kw):
    args = [pk[f] for f in FIELDS]
    got = FirstMatch(table, **kw).match(*args)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, first_match_naive(table, *args))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_matches_oracle(data):
    table = data.draw(rule_tables())
    _check(table, data.draw(packets_for(table)))


@settings(max_examples=25, deadline=None)
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
