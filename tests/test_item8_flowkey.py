"""Issue 8: one flow-key module (one encoder, one index hash) and FlowTable's public bulk
insert, checked against the dict oracle (NaiveFlowTable) and a key layout worked by hand."""

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from netemu.dataplane import flowkey
from netemu.dataplane.classify.flowtable import FlowTable, NaiveFlowTable
from netemu.dataplane.grouping import group_keys
from netemu.packet import ICMP, TCP

NETEMU = Path(__file__).resolve().parent.parent / "netemu"

five = st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                 st.integers(0, 65535), st.integers(0, 65535), st.sampled_from([1, 6, 17]))


def _keys(rows) -> np.ndarray:
    if not rows:
        return np.zeros((0, 2), np.uint64)
    c = np.array(rows, dtype=np.uint64).T
    return flowkey.pack_keys(0, *c)


def test_item8_key_layout_worked_by_hand():
    # 10.0.0.1:1234 -> 10.0.0.2:80 TCP in context 5
    k = flowkey.pack_keys(5, 0x0A000001, 0x0A000002, 1234, 80, TCP)
    assert k.tolist() == [[(5 << 40) | (6 << 32) | 0x0A000001,
                           (0x0A000002 << 32) | (1234 << 16) | 80]]
    assert flowkey.proto_of(k).tolist() == [6]


def test_item8_icmp_echo_and_reply_are_one_flow_for_conntrack():
    # echo request (type 8, code 0) and echo reply (type 0): keyed by addresses only
    k0, k1 = flowkey.words(np.array([1, 1], np.uint64), np.array([2, 2], np.uint64),
                           np.array([8, 0]), np.array([0, 0]), np.array([ICMP, ICMP]),
                           icmp_by_address=True)
    assert k0[0] == k0[1] == (1 << 32) | 1
    assert k1[0] == k1[1] == 2 << 32
    # a TCP key keeps its ports
    _, t1 = flowkey.words(np.array([1], np.uint64), np.array([2], np.uint64), np.array([8]),
                          np.array([9]), np.array([TCP]), icmp_by_address=True)
    assert t1[0] == (2 << 32) | (8 << 16) | 9


def test_item8_hash_constants_live_in_flowkey_only():
    """The three copies of the multipliers (state, flowtable, grouping) are one."""
    holders = sorted(p.relative_to(NETEMU).as_posix() for p in NETEMU.rglob("*.py")
                     if "0x9E3779B97F4A7C15" in p.read_text().upper().replace("0X", "0x"))
    assert holders == ["dataplane/flowkey.py"]


def test_item8_nothing_reaches_into_flowtable_internals():
    users = [p.relative_to(NETEMU).as_posix() for p in NETEMU.rglob("*.py")
             if p.name != "flowtable.py"
             and any(f"{x}(" in p.read_text() for x in ("._allocate", "._place", "._rebuild"))]
    assert users == []


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.lists(five, max_size=10), max_size=12), st.integers(0, 3))
def test_item8_insert_new_matches_dict_oracle(batches, expire_every):
    """insert_new on the keys a batch lacks (grouped and looked up first, as state.py
    does) leaves the table as the oracle's insert does: same keys, values and times."""
    ft, naive = FlowTable({"v": np.int32}, capacity=16), NaiveFlowTable({"v": np.int32})
    for t, rows in enumerate(batches):
        keys = _keys(rows)
        slots = ft.lookup(keys)
        absent = np.flatnonzero(slots < 0)
        first, _ = group_keys(keys[absent, 0], keys[absent, 1])
        new_rows = absent[first]
        vals = np.arange(len(keys), dtype=np.int32) + 100 * t
        made = ft.insert_new(keys[new_rows], float(t), v=vals[new_rows])
        assert len(set(made.tolist())) == len(new_rows)
        naive.insert(keys, ts=float(t), v=vals)
        assert (ft.lookup(keys) >= 0).all()
        if expire_every and t % expire_every == 0:
            ft.expire(float(t), 1.5)
            naive.expire(float(t), 1.5)
        live = {tuple(map(int, k)): (float(ft.last[s]), int(ft.values["v"][s]))
                for s in ft.alive() for k in [ft.keys_of([s])[0]]}
        want = {k: (e["last"], int(e["v"])) for k, s in naive.slot_of.items()
                for e in [naive.entries[s]]}
        assert live == want


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=60))
def test_item8_grouping_with_the_shared_hash_matches_first_appearance(pairs):
    k0 = np.array([a for a, _ in pairs], np.uint64)
    k1 = np.array([b for _, b in pairs], np.uint64)
    first, group = group_keys(k0, k1)
    seen: dict = {}
    for p in pairs:
        seen.setdefault(p, len(seen))
    assert group.tolist() == [seen[p] for p in pairs]
    assert first.tolist() == [pairs.index(p) for p in seen]


def test_item8_index_hash_stays_in_the_table():
    rng = np.random.default_rng(7)
    k0 = rng.integers(0, 2**63, 10_000, dtype=np.uint64)
    k1 = rng.integers(0, 2**63, 10_000, dtype=np.uint64)
    for bits in (4, 10, 20):
        h = flowkey.index_hash(k0, k1, bits)
        assert h.min() >= 0 and h.max() < 1 << bits
        # spread: a 2**bits table is hit all over, not in a few cells
        assert len(np.unique(h)) > min(1 << bits, 10_000) // 2
