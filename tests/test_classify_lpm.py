import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, prefixes

from netemu.dataplane.classify.lpm import Lpm, lpm_naive


@settings(max_examples=examples(80), deadline=None)
@given(st.lists(prefixes, max_size=25), st.lists(st.integers(0, 2**32 - 1), max_size=30))
def test_lpm_oracle(entries, extra):
    pfx = np.array([(a >> (32 - n) << (32 - n)) & 0xFFFFFFFF if n else 0
                    for a, n, _ in entries], np.uint32)
    ln = np.array([n for _, n, _ in entries], np.uint8)
    val = np.array([v for *_, v in entries], np.int32)
    edges = [int(p) + d for p, n in zip(pfx.tolist(), ln.tolist(), strict=True)
             for d in (-1, 0, (1 << (32 - n)) - 1, 1 << (32 - n))]
    dst = np.array([a for a in edges + extra if 0 <= a < 2**32], np.uint32)
    got = Lpm(pfx, ln, val).lookup(dst)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, lpm_naive(pfx, ln, val, dst))


def test_duplicates_first_wins_and_no_cover():
    lpm = Lpm(np.array([0x0A000000, 0x0A000000, 0x0A010000], np.uint32),
              np.array([8, 8, 16], np.uint8), np.array([1, 2, 3], np.int32))
    got = lpm.lookup(np.array([0x0A020304, 0x0A010101, 0x0B000000], np.uint32))
    assert got.tolist() == [1, 3, -1]


def test_default_route_and_host_route():
    lpm = Lpm(np.array([0, 0xFFFFFFFF], np.uint32), np.array([0, 32], np.uint8),
              np.array([7, 9], np.int32))
    got = lpm.lookup(np.array([0, 0xFFFFFFFE, 0xFFFFFFFF], np.uint32))
    assert got.tolist() == [7, 7, 9]
