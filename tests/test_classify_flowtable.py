import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, flow_keys

from netemu.dataplane.classify.flowtable import FlowTable, NaiveFlowTable
from netemu.dataplane.flowkey import pack_keys, reply_keys, reverse_keys


def _keys(rows):
    if not rows:
        return np.zeros((0, 2), np.uint64)
    c = np.array(rows, dtype=np.int64).T
    return pack_keys(c[0], c[1], c[2], c[3], c[4], c[5])


ops = st.lists(st.tuples(st.sampled_from(["insert", "lookup", "touch", "expire"]),
                         st.lists(flow_keys, max_size=12), st.integers(0, 20)), max_size=25)


@settings(max_examples=examples(60), deadline=None)
@given(ops)
def test_flowtable_matches_dict_oracle(steps):
    ft, naive = FlowTable({"v": np.int32}, capacity=16), NaiveFlowTable({"v": np.int32})
    now = 0.0
    for op, rows, t in steps:
        keys = _keys(rows)
        now += t
        if op == "insert":
            vals = np.arange(len(keys), dtype=np.int32) + int(now)
            a, b = ft.insert(keys, ts=now, v=vals), naive.insert(keys, ts=now, v=vals)
            assert (a >= 0).all()
            assert [ft.values["v"][s] for s in a] == [naive.entries[s]["v"] for s in b]
            # equal keys share a slot, different keys do not
            assert len(set(a.tolist())) == len(set(b.tolist()))
        elif op == "lookup":
            a, b = ft.lookup(keys), naive.lookup(keys)
            np.testing.assert_array_equal(a >= 0, b >= 0)
            for s, r in zip(a[a >= 0], b[b >= 0], strict=True):
                assert ft.values["v"][s] == naive.entries[r]["v"]
                assert ft.last[s] == naive.entries[r]["last"]
        elif op == "touch":
            a, b = ft.lookup(keys), naive.lookup(keys)
            ft.touch(a[a >= 0], now)
            naive.touch(b[b >= 0], now)
        else:
            dead_a, dead_b = ft.expire(now, 10.0), naive.expire(now, 10.0)
            assert len(dead_a) == len(dead_b)
        assert len(ft) == len(naive.entries)


def test_reply_keys_and_reverse():
    k = pack_keys(5, 0x0A000001, 0x0A000002, 1234, 80, 6)
    r = reply_keys(5, 0x0A000001, 0x0A000002, 1234, 80, 6)
    np.testing.assert_array_equal(r, pack_keys(5, 0x0A000002, 0x0A000001, 80, 1234, 6))
    np.testing.assert_array_equal(reverse_keys(k), r)
    np.testing.assert_array_equal(reverse_keys(r), k)


def test_grow_and_many_keys():
    ft = FlowTable(capacity=16)
    rng = np.random.default_rng(1)
    keys = pack_keys(0, rng.integers(0, 2**32, 5000), 7, rng.integers(0, 2**16, 5000), 80, 6)
    slots = ft.insert(keys, ts=1.0)
    np.testing.assert_array_equal(ft.lookup(keys), slots)
    assert len(ft) == len(np.unique(keys, axis=0))
    gone = ft.expire(100.0, 10.0)
    assert len(gone) == len(slots_unique := np.unique(slots)) and len(ft) == 0
    assert set(gone.tolist()) == set(slots_unique.tolist())
    assert (ft.lookup(keys) == -1).all()


def test_expire_per_slot_timeout():
    ft = FlowTable()
    s = ft.insert(pack_keys(0, [1, 2], 3, 4, 5, 6), ts=0.0)
    timeout = np.full(ft.capacity, 100.0)
    timeout[s[0]] = 5.0
    assert ft.expire(10.0, timeout).tolist() == [s[0]]
    assert ft.lookup(pack_keys(0, [1, 2], 3, 4, 5, 6)).tolist() == [-1, s[1]]


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(flow_keys, max_size=40), st.lists(st.integers(0, 60), max_size=80),
       st.integers(0, 3))
def test_lookup_grouped_is_grouping_then_lookup(stored, picks, removed):
    """Issue 11: one probe per row gives what grouping the rows and looking up each
    group's key gives (groups in order of first appearance, slots of present keys, -1
    for absent ones), with keys present, absent, removed and repeated."""
    ft = FlowTable({}, capacity=16)
    keys = _keys(stored)
    slots = ft.insert(keys, ts=0.0)
    ft.remove(slots[:removed])
    pool = np.concatenate([keys, _keys([(1, 9, 9, 9, 9, 6), (1, 8, 8, 8, 8, 17)])])
    rows = pool[[p % len(pool) for p in picks]] if len(pool) else pool
    k0, k1 = np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1])
    first, group, found = ft.lookup_grouped(k0, k1)
    # the definition, by hand: a dict of first rows in order, then a lookup each
    seen: dict[tuple[int, int], int] = {}
    want_group = [seen.setdefault((int(a), int(b)), len(seen)) for a, b in zip(k0, k1, strict=True)]
    want_first = [want_group.index(g) for g in range(len(seen))]
    assert first.tolist() == want_first
    assert group.tolist() == want_group
    np.testing.assert_array_equal(found, ft.lookup(rows[first]))
    live = set(ft.alive().tolist())
    assert all(s in live for s in found[found >= 0].tolist())
