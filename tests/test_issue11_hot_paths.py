"""Issue 11: the faster forms of hot NumPy steps give exactly what the plain forms give:
whole-record gathers and concatenation of structured arrays (packet.pick, packet.concat)
and the radix-friendly stable sort (grouping.stable_argsort)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from netemu.dataplane.elements.base import HEADER
from netemu.dataplane.grouping import stable_argsort
from netemu.io.flowlog_writer import SUMMED_DTYPE
from netemu.packet import concat, empty, pick

INTS = st.one_of(st.integers(0, 50), st.integers(0, 2**16), st.integers(0, 2**32 - 1),
                 st.integers(-5, 5), st.integers(0, 2**40))


@settings(max_examples=examples(200))
@given(st.lists(INTS, max_size=300))
def test_stable_argsort_is_numpys_stable_argsort(values):
    """Keys below 2**16, below 2**32 (two radix passes), negative or wider: equal keys
    keep their order, as numpy's stable sort keeps it."""
    keys = np.array(values, dtype=np.int64)
    assert stable_argsort(keys).tolist() == np.argsort(keys, kind="stable").tolist()


@settings(max_examples=examples(50))
@given(st.integers(0, 2**16), st.integers(2, 5), st.integers(1, 4000))
def test_stable_argsort_two_passes_keep_ties(seed, spread, n):
    """Many rows, few distinct halves: both radix passes meet long runs of ties, which
    only stable passes leave in order."""
    rng = np.random.default_rng(seed)
    keys = (rng.integers(1, spread, n) << 16) | rng.integers(0, spread, n)
    assert stable_argsort(keys).tolist() == np.argsort(keys, kind="stable").tolist()


def _batch(n: int) -> np.ndarray:
    b = empty(n)
    i = np.arange(n)
    b["ts"], b["src"], b["dport"], b["flow"], b["until"] = i * 0.5, i * 7, i % 9, i - 3, i
    return b


@settings(max_examples=examples(100))
@given(st.integers(0, 40), st.data())
def test_pick_is_fancy_indexing(n, data):
    b = _batch(n)
    idx = np.array(data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=60)
                             if n else st.just([])), dtype=np.int64)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    for got, want in ((pick(b, idx), b[idx]), (pick(b, mask), b[mask])):
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()     # every byte of every record


@settings(max_examples=examples(100))
@given(st.lists(st.integers(0, 30), max_size=5))
def test_concat_is_concatenate(sizes):
    """Packet batches, flow-log records, and observation headers (a multi-field view's
    dtype with gaps, which np.concatenate packs and concat keeps): the same records."""
    batches = [_batch(k) for k in sizes]
    records = [np.zeros(k, SUMMED_DTYPE) for k in sizes]
    for i, r in enumerate(records):
        r["packets"], r["src"] = np.arange(len(r)) + i, i
    headers = [b[list(HEADER)].take(np.arange(len(b))) for b in batches]
    for parts in (batches, records, headers):
        if not parts:
            continue
        got, want = concat(parts), np.concatenate(parts)
        assert len(got) == len(want)
        for name in want.dtype.names:
            np.testing.assert_array_equal(got[name], want[name])

