"""Issue 8, mutation survivors of classify/flowtable.py: the dict-oracle comparison of
test_classify_flowtable draws keys from the whole key space, so a touch or an expiry
seldom meets a stored key and the mutants of `touch`, `expire`, `remove` and of the
oracle itself lived. Here every operation draws from a small pool of keys, so inserts
repeat, touches move stored timestamps, expiries remove (at exactly the timeout, too:
`now - last > timeout`, the idle rule of S5 and G4) and freed slots are used again."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, flow_keys

from netemu.dataplane.classify.flowtable import FlowTable, NaiveFlowTable
from netemu.dataplane.flowkey import pack_keys


def _keys(rows):
    if not rows:
        return np.zeros((0, 2), np.uint64)
    c = np.array(rows, dtype=np.int64).T
    return pack_keys(c[0], c[1], c[2], c[3], c[4], c[5])


def _same(ft: FlowTable, naive: NaiveFlowTable, pool) -> None:
    """Every key of the pool: present in both or neither, with equal values and times."""
    keys = _keys(pool)
    a, b = ft.lookup(keys), naive.lookup(keys)
    assert (a >= 0).tolist() == (b >= 0).tolist()
    for s, r in zip(a[a >= 0], b[b >= 0], strict=True):
        assert (int(ft.values["v"][s]), float(ft.last[s])) == (
            int(naive.entries[r]["v"]), float(naive.entries[r]["last"]))
    assert len(ft) == len(naive.entries)


@settings(max_examples=examples(80), deadline=None)
@given(st.data())
def test_mutants_flowtable_matches_the_oracle_on_a_small_key_pool(data):
    pool = data.draw(st.lists(flow_keys, min_size=1, max_size=6, unique=True))
    ops = data.draw(st.lists(st.tuples(
        st.sampled_from(["insert", "touch", "expire", "remove"]),
        st.lists(st.sampled_from(pool), max_size=6), st.integers(0, 6)),
        min_size=1, max_size=30))
    ft, naive = FlowTable({"v": np.int32}, capacity=4), NaiveFlowTable({"v": np.int32})
    now = 0.0
    for op, rows, dt in ops:
        now += dt
        keys = _keys(rows)
        if op == "insert":
            v = np.arange(len(keys), dtype=np.int32) + int(now)
            ft.insert(keys, ts=now, v=v)
            naive.insert(keys, ts=now, v=v)
        elif op == "touch":
            a, b = ft.lookup(keys), naive.lookup(keys)
            ft.touch(a[a >= 0], now)
            naive.touch(b[b >= 0], now)
        elif op == "expire":
            gone = ft.expire(now, 6.0)
            assert len(gone) == len(naive.expire(now, 6.0))
        else:
            a, b = ft.lookup(keys), naive.lookup(keys)
            ft.remove(a[a >= 0])
            for s in set(b[b >= 0].tolist()):
                del naive.entries[s]
            naive.slot_of = {k: s for k, s in naive.slot_of.items() if s in naive.entries}
        _same(ft, naive, pool)


def test_mutants_flowtable_expiry_is_strictly_after_the_timeout():
    """Idle exactly the timeout is not expired; a tick more is (both tables)."""
    for table in (FlowTable({"v": np.int32}), NaiveFlowTable({"v": np.int32})):
        k = _keys([(0, 1, 2, 3, 4, 6)])
        table.insert(k, ts=10.0, v=np.array([1], np.int32))
        table.touch(table.lookup(k), 20.0)
        assert len(table.expire(26.0, 6.0)) == 0          # idle exactly 6 s
        assert len(table.expire(26.5, 6.0)) == 1
        assert table.lookup(k).tolist() == [-1]
        again = table.insert(k, ts=30.0, v=np.array([2], np.int32))
        assert table.lookup(k).tolist() == again.tolist()


def test_mutants_flowtable_slots_freed_are_used_again():
    """Removing and inserting as many keys again keeps the table at its size."""
    ft = FlowTable({"v": np.int32}, capacity=8)
    first = ft.insert(_keys([(0, i, 1, 2, 3, 6) for i in range(8)]), ts=0.0)
    cap = ft.capacity
    ft.remove(first[:5])
    second = ft.insert(_keys([(0, 100 + i, 1, 2, 3, 6) for i in range(5)]), ts=1.0)
    assert sorted(second.tolist()) == sorted(first[:5].tolist())
    assert ft.capacity == cap and len(ft) == 8
